"""Case versions -> an E2B(R3) ICSR batch (MCCI_IN200100UV01), the inverse of icsr.py (pure).

Element order follows the ICH schema (and FDA's instances). Profiles set the receivers:
`ich` names none of a region's (the caller gives one), `fda` writes N.1.4 ZZFDA and N.2.r.3
CBER (cell and gene therapies are CBER's) with the FDA.C.1.7.1 and FDA.C.1.12 elements its
rules require; `nmpa` writes NMPA as receiver (its C.1.CN regional elements are not written:
see README).
"""
from __future__ import annotations

import datetime as dt

from lxml import etree

from pv_service.cases.schemas import VersionPublic
from pv_service.e2b.icsr import (
    CHARACTERISTIC,
    DRUG_ROLES,
    ID_SAFETY_REPORT,
    ID_WORLDWIDE,
    MEDDRA,
    OBS,
    ORGANIZER,
    OUTCOMES,
    QUALIFICATIONS,
    REPORT_TYPES,
    SERIOUSNESS_CODES,
)
from pv_service.e2b.reader import BATCH_ROOT, HL7, MESSAGE

XSI = "http://www.w3.org/2001/XMLSchema-instance"
PROFILES = {"ich": ("ICH", "ICH"), "fda": ("ZZFDA", "CBER"), "nmpa": ("NMPA", "NMPA")}
_REV = {name: {v: k for k, v in table.items()} for name, table in
        {"role": DRUG_ROLES, "outcome": OUTCOMES, "qual": QUALIFICATIONS, "type": REPORT_TYPES}.items()}
_SERIOUS = {v: k for k, v in SERIOUSNESS_CODES.items()}
_SEX = {"male": "1", "female": "2"}
COUNTRY = "1.0.3166.1.2.2"


def _e(parent, tag: str, text: str | None = None, xsi_type: str | None = None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, f"{{{HL7}}}{tag}")
    for k, v in attrs.items():
        if v is not None:
            el.set(k.rstrip("_"), str(v))
    if xsi_type:
        el.set(f"{{{XSI}}}type", xsi_type)
    if text is not None:
        el.text = text
    return el


def _ts(d: dt.datetime) -> str:
    return d.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")


def _day(d: dt.date | None) -> str | None:
    return d.strftime("%Y%m%d") if d else None


def _device(parent, kind: str, ident: str, root: str) -> None:
    d = _e(_e(parent, kind, typeCode="RCV" if kind == "receiver" else "SND"), "device", classCode="DEV",
           determinerCode="INSTANCE")
    _e(d, "id", extension=ident, root=root)


def _bl(parent, code: str, value: bool | None, system: str = OBS) -> None:
    obs = _e(parent, "observation", classCode="OBS", moodCode="EVN")
    _e(obs, "code", code=code, codeSystem=system)
    if value is None:
        _e(obs, "value", xsi_type="BL", nullFlavor="NI")
    else:
        _e(obs, "value", xsi_type="BL", value="true" if value else "false")


def _patient(role, v: VersionPublic, registered: dict | None) -> None:
    p = v.patient
    person = _e(role, "player1", classCode="PSN", determinerCode="INSTANCE")
    # The service holds no name or initials: masked where the sender identified the patient.
    _e(person, "name", nullFlavor="MSK" if registered is not None or (p and p.pseudonym) else "UNK")
    sex = (p.sex if p else None) or (registered or {}).get("sex")
    if sex in _SEX:
        _e(person, "administrativeGenderCode", code=_SEX[sex], codeSystem="1.0.5218")
    year = (p.birth_year if p else None) or (registered or {}).get("birth_year")
    if year:
        _e(person, "birthTime", value=str(year))
    if p and p.death_date:
        _e(person, "deceasedTime", value=_day(p.death_date))
    for code, value, unit in (("3", p.age if p else None, p.age_unit if p else None),
                              ("7", p.weight_kg if p else None, "kg"), ("17", p.height_cm if p else None, "cm")):
        if value is not None:
            obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
            _e(obs, "code", code=code, codeSystem=OBS)
            _e(obs, "value", xsi_type="PQ", value=f"{value:g}", unit=unit or "a")
    if p and p.age_group:
        obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="4", codeSystem=OBS)
        _e(obs, "value", xsi_type="CE", code=p.age_group, codeSystem="2.16.840.1.113883.3.989.2.1.1.9")


def _reaction(role, i: int, r) -> None:
    obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
    _e(obs, "id", root=f"reaction-{i}")
    _e(obs, "code", code="29", codeSystem=OBS)
    if r.onset_date:
        _e(_e(obs, "effectiveTime", xsi_type="IVL_TS"), "low", value=_day(r.onset_date))
    value = _e(obs, "value", xsi_type="CE", code=r.llt_code or r.pt_code, codeSystem=MEDDRA,
               codeSystemVersion=r.meddra_version)
    if r.pt_name:
        _e(value, "originalText", r.pt_name)
    flags = r.seriousness.model_dump()
    for name, code in _SERIOUS.items():
        _bl(_e(obs, "outboundRelationship2", typeCode="PERT"), code, True if flags[name] else None)
    out = _e(_e(obs, "outboundRelationship2", typeCode="PERT"), "observation", classCode="OBS", moodCode="EVN")
    _e(out, "code", code="27", codeSystem=OBS)
    _e(out, "value", xsi_type="CE", code=_REV["outcome"].get(r.outcome.value if hasattr(r.outcome, "value") else r.outcome, "0"),
       codeSystem="2.16.840.1.113883.3.989.2.1.1.11")


def _drug(organizer, i: int, d) -> None:
    sa_ = _e(_e(organizer, "component", typeCode="COMP"), "substanceAdministration", classCode="SBADM", moodCode="EVN")
    _e(sa_, "id", root=f"drug-{i}")
    kind = _e(_e(_e(sa_, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST"), "kindOfProduct",
              classCode="MMAT", determinerCode="KIND")
    if d.reported_product_code:
        _e(kind, "code", code=d.reported_product_code,
           codeSystem=(d.detail or {}).get("code_system") or "2.16.840.1.113883.6.69")
    _e(kind, "name", d.name_as_reported or "UNKNOWN")
    if d.authorisation_number or d.holder:
        approval = _e(_e(_e(kind, "asManufacturedProduct", classCode="MANU"), "subjectOf", typeCode="SBJ"),
                      "approval", classCode="CNTRCT", moodCode="EVN")
        if d.authorisation_number:
            _e(approval, "id", extension=d.authorisation_number, root="2.16.840.1.113883.3.989.2.1.3.4")
        if d.holder:
            _e(_e(_e(approval, "holder", typeCode="HLD"), "role", classCode="HLD"), "playingOrganization",
               classCode="ORG", determinerCode="INSTANCE").append(etree.Element(f"{{{HL7}}}name"))
            approval.find(f".//{{{HL7}}}playingOrganization/{{{HL7}}}name").text = d.holder
    for s in (d.detail or {}).get("substances", []):
        _e(_e(_e(kind, "ingredient", classCode="ACTI"), "ingredientSubstance", classCode="MMAT",
              determinerCode="KIND"), "name", s)
    dosages = (d.detail or {}).get("dosages") or ([{"lot": d.batch_lot}] if d.batch_lot else [])
    for dose in dosages:
        sub = _e(_e(sa_, "outboundRelationship2", typeCode="COMP"), "substanceAdministration", classCode="SBADM",
                 moodCode="EVN")
        if dose.get("route"):
            route = _e(sub, "routeCode")
            _e(route, "originalText", dose["route"])
        if dose.get("lot"):
            inst = _e(_e(_e(sub, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST"),
                      "productInstanceInstance", classCode="MMAT", determinerCode="INSTANCE")
            _e(inst, "lotNumberText", dose["lot"])
            _e(_e(inst.getparent(), "kindOfProduct", classCode="MMAT", determinerCode="KIND"), "code",
               nullFlavor="NI")
    for ind in (d.detail or {}).get("indications", []):
        obs = _e(_e(sa_, "inboundRelationship", typeCode="RSON"), "observation", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="19", codeSystem=OBS)
        value = _e(obs, "value", xsi_type="CE", code=ind.get("code"), codeSystem=MEDDRA,
                   codeSystemVersion=ind.get("version"))
        if ind.get("text"):
            _e(value, "originalText", ind["text"])
    if d.action_taken:
        _e(_e(_e(sa_, "inboundRelationship", typeCode="CAUS"), "act", classCode="ACT", moodCode="EVN"), "code",
           code=d.action_taken, codeSystem="2.16.840.1.113883.3.989.2.1.1.15")


def _comment(assessment, text: str, author: str) -> None:
    ev = _e(_e(assessment, "component1", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
    _e(ev, "code", code="10", codeSystem=OBS)
    _e(ev, "value", text, xsi_type="ED")
    _e(_e(_e(ev, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED"), "code", code=author,
       codeSystem="2.16.840.1.113883.3.989.2.1.1.21")


def _message(root, v: VersionPublic, profile: str, sender: str, receiver: str, now: dt.datetime,
             registered: dict | None) -> None:
    m = _e(root, MESSAGE)
    _e(m, "id", extension=v.message_id or f"{v.sender_case_id}-v{v.version}", root="2.16.840.1.113883.3.989.2.1.3.1")
    _e(m, "creationTime", value=_ts(now))
    _e(m, "interactionId", extension=MESSAGE, root="2.16.840.1.113883.1.6")
    _e(m, "processingCode", code="P")
    _e(m, "processingModeCode", code="T")
    _e(m, "acceptAckCode", code="AL")
    _device(m, "receiver", receiver, "2.16.840.1.113883.3.989.2.1.3.12")
    _device(m, "sender", sender, "2.16.840.1.113883.3.989.2.1.3.11")
    cap = _e(m, "controlActProcess", classCode="CACT", moodCode="EVN")
    _e(cap, "code", code="PORR_TE049016UV", codeSystem="2.16.840.1.113883.1.18")
    _e(cap, "effectiveTime", value=_ts(v.created_at))  # C.1.2: when this version was stored
    ev = _e(_e(cap, "subject", typeCode="SUBJ"), "investigationEvent", classCode="INVSTG", moodCode="EVN")
    _e(ev, "id", extension=v.safety_report_id or v.sender_case_id, root=ID_SAFETY_REPORT)
    _e(ev, "id", extension=v.worldwide_id or v.safety_report_id or v.sender_case_id, root=ID_WORLDWIDE)
    _e(ev, "code", code="PAT_ADV_EVNT", codeSystem="2.16.840.1.113883.5.4")
    _e(ev, "text", v.narrative or "No narrative provided.")
    _e(ev, "statusCode", code="active")
    _e(_e(ev, "effectiveTime"), "low", value=_day(v.received_date))
    _e(ev, "availabilityTime", value=_day(v.latest_info_date))
    detail = v.detail or {}
    for ref in detail.get("literature", []):
        doc = _e(_e(ev, "reference", typeCode="REFR"), "document", classCode="DOC", moodCode="EVN")
        _e(doc, "code", code="2", codeSystem="2.16.840.1.113883.3.989.2.1.1.27")
        _e(doc, "bibliographicDesignationText", ref)
    assessment = _e(_e(ev, "component", typeCode="COMP"), "adverseEventAssessment", classCode="INVSTG", moodCode="EVN")
    role = _e(_e(assessment, "subject1", typeCode="SBJ"), "primaryRole", classCode="INVSBJ")
    _patient(role, v, registered)
    for i, r in enumerate(v.reactions):
        _reaction(role, i, r)
    organizer = _e(_e(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    _e(organizer, "code", code="4", codeSystem=ORGANIZER)
    for i, d in enumerate(v.drugs):
        _drug(organizer, i, d)
    for i, d in enumerate(v.drugs):
        ca = _e(_e(assessment, "component", typeCode="COMP"), "causalityAssessment", classCode="OBS", moodCode="EVN")
        _e(ca, "code", code="20", codeSystem=OBS)
        _e(ca, "value", xsi_type="CE", code=_REV["role"][d.role.value if hasattr(d.role, "value") else d.role],
           codeSystem="2.16.840.1.113883.3.989.2.1.1.13")
        _e(_e(_e(ca, "subject2", typeCode="SUBJ"), "productUseReference", classCode="SBADM", moodCode="EVN"), "id",
           root=f"drug-{i}")
    if v.reporter_comments:
        _comment(assessment, v.reporter_comments, "3")
    if v.sender_comments:
        _comment(assessment, v.sender_comments, "1")
    for code, value in (("1", False), ("23", v.serious)):
        obs = _e(_e(ev, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code=code, codeSystem=OBS)
        _e(obs, "value", xsi_type="BL", value="true" if value else "false")
    if profile == "fda":
        for code, system, value in (("C54588", "2.16.840.1.113883.3.26.1.1", "1" if v.serious else "3"),):
            obs = _e(_e(ev, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
            _e(obs, "code", code=code, codeSystem=system)
            _e(obs, "value", xsi_type="CE", code=value, codeSystem="2.16.840.1.113883.3.989.5.1.2.2.1.1.1")
        obs = _e(_e(ev, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="C156384", codeSystem="2.16.840.1.113883.3.26.1.1")
        _e(obs, "value", xsi_type="BL", value="false")
    sources = detail.get("sources") or [{"qualification": v.reporter_qualification.value
                                         if hasattr(v.reporter_qualification, "value") else v.reporter_qualification,
                                         "country": v.reporter_country, "primary_for_regulatory": True}]
    for s in sources:
        rel = _e(ev, "outboundRelationship", typeCode="SPRT")
        if s.get("primary_for_regulatory"):
            _e(rel, "priorityNumber", value="1")
        inv = _e(rel, "relatedInvestigation", classCode="INVSTG", moodCode="EVN")
        _e(inv, "code", code="2", codeSystem="2.16.840.1.113883.3.989.2.1.1.22")
        entity = _e(_e(_e(_e(inv, "subjectOf2", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN"),
                       "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED")
        person = _e(entity, "assignedPerson", classCode="PSN", determinerCode="INSTANCE")
        q = _REV["qual"].get(s.get("qualification") or "")
        if q:
            _e(_e(person, "asQualifiedEntity", classCode="QUAL"), "code", code=q,
               codeSystem="2.16.840.1.113883.3.989.2.1.1.6")
        if s.get("country"):
            _e(_e(_e(person, "asLocatedEntity", classCode="LOCE"), "location", classCode="COUNTRY",
                  determinerCode="INSTANCE"), "code", code=s["country"], codeSystem=COUNTRY)
    sender_detail = detail.get("sender") or {}
    entity = _e(_e(_e(_e(ev, "subjectOf1", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN"),
                   "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED")
    _e(entity, "code", code=sender_detail.get("type") or "1", codeSystem="2.16.840.1.113883.3.989.2.1.1.7")
    char = _e(_e(ev, "subjectOf2", typeCode="SUBJ"), "investigationCharacteristic", classCode="OBS", moodCode="EVN")
    _e(char, "code", code="1", codeSystem=CHARACTERISTIC)
    rt = v.report_type.value if hasattr(v.report_type, "value") else v.report_type
    _e(char, "value", xsi_type="CE", code=_REV["type"].get(rt, "4"), codeSystem="2.16.840.1.113883.3.989.2.1.1.2")
    if v.nullification:
        char = _e(_e(ev, "subjectOf2", typeCode="SUBJ"), "investigationCharacteristic", classCode="OBS", moodCode="EVN")
        _e(char, "code", code="3", codeSystem=CHARACTERISTIC)
        _e(char, "value", xsi_type="CE", code="1" if v.nullification == "nullification" else "2",
           codeSystem="2.16.840.1.113883.3.989.2.1.1.5")
        if v.nullification_reason:
            char = _e(_e(ev, "subjectOf2", typeCode="SUBJ"), "investigationCharacteristic", classCode="OBS",
                      moodCode="EVN")
            _e(char, "code", code="4", codeSystem=CHARACTERISTIC)
            _e(_e(char, "value", xsi_type="CE"), "originalText", v.nullification_reason)


def build_batch(versions: list[tuple[VersionPublic, dict | None]], profile: str, sender: str, batch_id: str,
                now: dt.datetime, receiver: str | None = None) -> bytes:
    """`versions`: each case version with its registered patient's sex and birth year (or None)."""
    batch_receiver, message_receiver = PROFILES[profile]
    if receiver:
        batch_receiver = message_receiver = receiver
    root = etree.Element(f"{{{HL7}}}{BATCH_ROOT}", nsmap={None: HL7, "xsi": XSI})
    root.set("ITSVersion", "XML_1.0")
    _e(root, "id", extension=batch_id, root="2.16.840.1.113883.3.989.2.1.3.22")
    _e(root, "creationTime", value=_ts(now))
    _e(root, "responseModeCode", code="D")
    _e(root, "interactionId", extension=BATCH_ROOT, root="2.16.840.1.113883.1.6")
    _e(root, "name", code="1", codeSystem="2.16.840.1.113883.3.989.2.1.1.1")
    for v, registered in versions:
        _message(root, v, profile, sender, message_receiver, now, registered)
    _device(root, "receiver", batch_receiver, "2.16.840.1.113883.3.989.2.1.3.14")
    _device(root, "sender", sender, "2.16.840.1.113883.3.989.2.1.3.13")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

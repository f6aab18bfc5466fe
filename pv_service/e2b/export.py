"""Case versions -> an E2B(R3) ICSR batch (MCCI_IN200100UV01), the inverse of icsr.py (pure).

Everything the importer keeps is written back where ICH puts it (element order follows the ICH
schema and FDA's instances), so export then import gives back the same case.

Profiles set the receivers and the regional elements:
- `ich`: receiver ICH (or the caller's), no regional element.
- `fda`: N.1.4 ZZFDA and N.2.r.3 CBER (cell and gene therapies are CBER's); a study report with
  an IND number goes to the premarket gateway (ZZFDA_PREMKT, CBER_IND) as in FDA's instances.
  FDA.C.1.7.1, FDA.C.1.12, FDA.C.5.5a/b, FDA.C.5.6.r, FDA.D.11.r, FDA.D.12 and FDA.E.i.3.2h as
  stored (source: FDA's E2B(R3) regional implementation specifications and its FAERS 2022 instances).
- `nmpa`: receiver NMPA; the C.1.CN regional elements are not written: docs/e2b_regional.md
  says which they are and why.
"""
from __future__ import annotations

import datetime as dt

from lxml import etree

from pv_service.cases.schemas import VersionPublic
from pv_service.e2b.icsr import (
    CHARACTERISTIC,
    DRUG_ROLES,
    FDA_CROSS_IND,
    FDA_ELEMENTS,
    FDA_IND,
    FDA_PRE_ANDA,
    ID_OTHER_CASE,
    ID_SAFETY_REPORT,
    ID_SPONSOR_STUDY,
    ID_STUDY_REG,
    ID_WORLDWIDE,
    MEDDRA,
    NCI,
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
FDA_PREMARKET = ("ZZFDA_PREMKT", "CBER_IND")
_REV = {name: {v: k for k, v in table.items()} for name, table in
        {"role": DRUG_ROLES, "outcome": OUTCOMES, "qual": QUALIFICATIONS, "type": REPORT_TYPES}.items()}
_SERIOUS = {v: k for k, v in SERIOUSNESS_CODES.items()}
_SEX = {"male": "1", "female": "2"}
COUNTRY = "1.0.3166.1.2.2"
_XSI_TYPE = f"{{{XSI}}}type"
_TAGS: dict[str, str] = {}
CS = {  # ICH code systems written below
    "route": "0.4.0.127.0.16.1.1.2.6", "action": "2.16.840.1.113883.3.989.2.1.1.15",
    "recurrence": "2.16.840.1.113883.3.989.2.1.1.16", "test_result": "2.16.840.1.113883.3.989.2.1.1.12",
    "range": "2.16.840.1.113883.5.83", "author": "2.16.840.1.113883.3.989.2.1.1.21",
    "relation": "2.16.840.1.113883.3.989.2.1.1.22", "first_sender": "2.16.840.1.113883.3.989.2.1.1.3",
    "document": "2.16.840.1.113883.3.989.2.1.1.27", "study_type": "2.16.840.1.113883.3.989.2.1.1.8",
    "highlighted": "2.16.840.1.113883.3.989.2.1.1.10", "age_group": "2.16.840.1.113883.3.989.2.1.1.9",
    "role": "2.16.840.1.113883.3.989.2.1.1.13", "qualification": "2.16.840.1.113883.3.989.2.1.1.6",
    "sender_type": "2.16.840.1.113883.3.989.2.1.1.7", "report_type": "2.16.840.1.113883.3.989.2.1.1.2",
    "nullification": "2.16.840.1.113883.3.989.2.1.1.5", "outcome": "2.16.840.1.113883.3.989.2.1.1.11",
    "fda_report_type": "2.16.840.1.113883.3.989.5.1.2.2.1.1.1", "product": "2.16.840.1.113883.6.69",
}


def _e(parent, tag: str, text: str | None = None, xsi_type: str | None = None, **attrs) -> etree._Element:
    qname = _TAGS.get(tag) or _TAGS.setdefault(tag, f"{{{HL7}}}{tag}")
    el = etree.SubElement(parent, qname, {k.rstrip("_"): str(v) for k, v in attrs.items() if v is not None})
    if xsi_type:
        el.set(_XSI_TYPE, xsi_type)
    if text is not None:
        el.text = text
    return el


def _ts(d: dt.datetime) -> str:
    return d.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")


def _day(d: dt.date | None) -> str | None:
    return d.strftime("%Y%m%d") if d else None


def _value(v) -> str:
    return v.value if hasattr(v, "value") else v


def _device(parent, kind: str, ident: str, root: str) -> None:
    d = _e(_e(parent, kind, typeCode="RCV" if kind == "receiver" else "SND"), "device", classCode="DEV",
           determinerCode="INSTANCE")
    _e(d, "id", extension=ident, root=root)


def _observation(parent, rel: str, type_code: str, code: str, system: str = OBS) -> etree._Element:
    obs = _e(_e(parent, rel, typeCode=type_code), "observation", classCode="OBS", moodCode="EVN")
    _e(obs, "code", code=code, codeSystem=system)
    return obs


def _bl(obs, value: bool | None) -> None:
    if value is None:
        _e(obs, "value", xsi_type="BL", nullFlavor="NI")
    else:
        _e(obs, "value", xsi_type="BL", value="true" if value else "false")


def _meddra(obs, c: dict | None, tag: str = "value") -> None:
    c = c or {}
    value = _e(obs, tag, xsi_type="CE" if tag == "value" else None, code=c.get("code"), codeSystem=MEDDRA,
               codeSystemVersion=c.get("version"), nullFlavor=c.get("null_flavor"))
    if c.get("text"):
        _e(value, "originalText", c["text"])


def _interval(parent, start: str | None, end: str | None) -> None:
    if start or end:
        t = _e(parent, "effectiveTime", xsi_type="IVL_TS")
        if start:
            _e(t, "low", value=start)
        if end:
            _e(t, "high", value=end)


def _patient(role, v: VersionPublic, registered: dict | None, profile: str) -> None:
    p = v.patient
    detail = v.detail or {}
    pd = detail.get("patient") or {}
    person = _e(role, "player1", classCode="PSN", determinerCode="INSTANCE")
    # The service holds no name or initials: masked where the sender identified the patient.
    flavor = pd.get("name_null_flavor") or ("MSK" if registered is not None or (p and p.pseudonym) else "UNK")
    _e(person, "name", nullFlavor="MSK" if p and p.pseudonym else flavor)
    sex = (p.sex if p else None) or (registered or {}).get("sex")
    if sex in _SEX:
        _e(person, "administrativeGenderCode", code=_SEX[sex], codeSystem="1.0.5218")
    year = (p.birth_year if p else None) or (registered or {}).get("birth_year")
    if year:
        _e(person, "birthTime", value=str(year))
    if p and p.death_date:
        _e(person, "deceasedTime", value=_day(p.death_date))
    study = detail.get("study") or {}
    fda = (detail.get("fda") or {}) if profile == "fda" else {}
    if any(study.get(k) for k in ("name", "number", "type", "registrations")) or \
            any(fda.get(k) for k in ("ind", "pre_anda", "cross_reported_inds")):
        _study(role, study, fda)
    for code, value, unit in (("3", p.age if p else None, p.age_unit if p else None),
                              ("7", p.weight_kg if p else None, "kg"), ("17", p.height_cm if p else None, "cm")):
        if value is not None:
            obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
            _e(obs, "code", code=code, codeSystem=OBS)
            _e(obs, "value", xsi_type="PQ", value=f"{value:g}", unit=unit or "a")
    if p and p.age_group:
        obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="4", codeSystem=OBS)
        _e(obs, "value", xsi_type="CE", code=p.age_group, codeSystem=CS["age_group"])
    for code, values in (("C17049", fda.get("race") or []), ("C16564", [fda["ethnicity"]] if fda.get("ethnicity") else [])):
        for value in values:  # FDA.D.11.r race, FDA.D.12 ethnicity
            obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
            _e(obs, "code", code=code, codeSystem=NCI)
            _e(obs, "value", xsi_type="CE", code=value, codeSystem=NCI)
    _history(role, pd)
    _past_drugs(role, pd.get("past_drugs") or [])
    for cause in pd.get("death_causes") or []:  # D.9.2.r
        obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="32", codeSystem=OBS)
        _meddra(obs, cause)
    if pd.get("autopsy") is not None or pd.get("autopsy_causes"):  # D.9.3, D.9.4.r
        obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="5", codeSystem=OBS)
        _bl(obs, pd.get("autopsy"))
        for cause in pd.get("autopsy_causes") or []:
            _meddra(_observation(obs, "outboundRelationship2", "DRIV", "8"), cause)


def _study(role, study: dict, fda: dict) -> None:
    """C.5 (and FDA.C.5.5a/b, FDA.C.5.6.r in the fda profile)."""
    rs = _e(_e(role, "subjectOf1", typeCode="SBJ"), "researchStudy", classCode="CLNTRL", moodCode="EVN")
    if study.get("number"):
        _e(rs, "id", extension=study["number"], root=ID_SPONSOR_STUDY)
    if study.get("type"):
        _e(rs, "code", code=study["type"], codeSystem=CS["study_type"])
    if study.get("name"):
        _e(rs, "title", study["name"])
    for number, country in study.get("registrations") or []:
        reg = _e(_e(rs, "authorization", typeCode="AUTH"), "studyRegistration", classCode="ACT", moodCode="EVN")
        _e(reg, "id", extension=number, root=ID_STUDY_REG)
        if country:
            _e(_e(_e(_e(reg, "author", typeCode="AUT"), "territorialAuthority", classCode="TERR"), "governingPlace",
                  classCode="COUNTRY", determinerCode="INSTANCE"), "code", code=country, codeSystem=COUNTRY)
    regional = [(fda.get("ind"), FDA_IND), (fda.get("pre_anda"), FDA_PRE_ANDA)]
    regional += [(x, FDA_CROSS_IND) for x in fda.get("cross_reported_inds") or []]
    for number, root in regional:
        if number:
            reg = _e(_e(rs, "authorization", typeCode="AUTH"), "studyRegistration", classCode="ACT", moodCode="EVN")
            _e(reg, "id", extension=number, root=root)


def _history(role, pd: dict) -> None:
    """D.7.1.r conditions, D.7.2 text, D.7.3 concomitant therapies."""
    items = pd.get("medical_history") or []
    if not (items or pd.get("medical_history_text") or pd.get("concomitant_therapies") is not None):
        return
    org = _e(_e(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    _e(org, "code", code="1", codeSystem=ORGANIZER)
    for h in items:
        obs = _e(_e(org, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code=h.get("code"), codeSystem=MEDDRA, codeSystemVersion=h.get("version"))
        _interval(obs, h.get("start"), h.get("end"))
        if h.get("comments"):
            _e(_observation(obs, "outboundRelationship2", "COMP", "10"), "value", h["comments"], xsi_type="ED")
        if h.get("family_history") is not None:
            _bl(_observation(obs, "outboundRelationship2", "EXPL", "38"), h["family_history"])
        if h.get("continuing") is not None:
            _bl(_observation(obs, "inboundRelationship", "REFR", "13"), h["continuing"])
    if pd.get("medical_history_text"):
        obs = _e(_e(org, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="18", codeSystem=OBS)
        _e(obs, "value", pd["medical_history_text"], xsi_type="ED")
    if pd.get("concomitant_therapies") is not None:
        obs = _e(_e(org, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="11", codeSystem=OBS)
        _bl(obs, pd["concomitant_therapies"])


def _past_drugs(role, drugs: list) -> None:
    """D.8.r (entries stored before D.8 was kept in full are names only)."""
    if not drugs:
        return
    org = _e(_e(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    _e(org, "code", code="2", codeSystem=ORGANIZER)
    for d in drugs:
        d = d if isinstance(d, dict) else {"name": d}
        sa = _e(_e(org, "component", typeCode="COMP"), "substanceAdministration", classCode="SBADM", moodCode="EVN")
        _interval(sa, d.get("start"), d.get("end"))
        kind = _e(_e(_e(sa, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST"), "kindOfProduct",
                  classCode="MMAT", determinerCode="KIND")
        if d.get("product_code"):
            _e(kind, "code", code=d["product_code"], codeSystem=d.get("code_system") or CS["product"])
        _e(kind, "name", d.get("name") or "UNKNOWN")
        for type_code, code, key in (("RSON", "19", "indication"), ("CAUS", "29", "reaction")):
            if (d.get(key) or {}).get("code") or (d.get(key) or {}).get("text"):
                _meddra(_observation(sa, "outboundRelationship2", type_code, code), d[key])


def _reaction(role, i: int, r, extra: dict, fda: dict, profile: str) -> None:
    obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
    _e(obs, "id", root=extra.get("ref") or f"reaction-{i}")
    _e(obs, "code", code="29", codeSystem=OBS)
    _interval(obs, _day(r.onset_date), extra.get("end"))
    value = _e(obs, "value", xsi_type="CE", code=r.llt_code or r.pt_code, codeSystem=MEDDRA,
               codeSystemVersion=r.meddra_version)
    if r.pt_name:
        _e(value, "originalText", r.pt_name)
    if extra.get("country"):
        _e(_e(_e(_e(obs, "location", typeCode="LOC"), "locatedEntity", classCode="LOCE"), "locatedPlace",
              classCode="COUNTRY", determinerCode="INSTANCE"), "code", code=extra["country"], codeSystem=COUNTRY)
    if extra.get("translation"):
        _e(_observation(obs, "outboundRelationship2", "PERT", "30"), "value", extra["translation"], xsi_type="ED")
    if extra.get("highlighted"):
        _e(_observation(obs, "outboundRelationship2", "PERT", "37"), "value", xsi_type="CE", code=extra["highlighted"],
           codeSystem=CS["highlighted"])
    flags = r.seriousness
    for name, code in _SERIOUS.items():
        _bl(_observation(obs, "outboundRelationship2", "PERT", code), True if getattr(flags, name) else None)
    intervention = (fda.get("required_intervention") or [])[i:i + 1] if profile == "fda" else []
    if intervention and intervention[0] is not None:  # FDA.E.i.3.2h
        _bl(_observation(obs, "outboundRelationship2", "PERT", "7", FDA_ELEMENTS), intervention[0])
    out = _observation(obs, "outboundRelationship2", "PERT", "27")
    _e(out, "value", xsi_type="CE", code=_REV["outcome"].get(_value(r.outcome), "0"), codeSystem=CS["outcome"])
    if extra.get("medically_confirmed") is not None:
        _bl(_observation(obs, "outboundRelationship2", "PERT", "24"), extra["medically_confirmed"])


def _dosage(sa_, dose: dict) -> None:
    sub = _e(_e(sa_, "outboundRelationship2", typeCode="COMP"), "substanceAdministration", classCode="SBADM",
             moodCode="EVN")
    if dose.get("text"):
        _e(sub, "text", dose["text"])
    if dose.get("frequency"):
        t = _e(sub, "effectiveTime", xsi_type="SXPR_TS")
        _e(_e(t, "comp", xsi_type="PIVL_TS"), "period", value=dose["frequency"], unit=dose.get("frequency_unit") or "d")
        if dose.get("start") or dose.get("end"):
            span = _e(t, "comp", xsi_type="IVL_TS", operator="A")
            if dose.get("start"):
                _e(span, "low", value=dose["start"])
            if dose.get("end"):
                _e(span, "high", value=dose["end"])
    else:
        _interval(sub, dose.get("start"), dose.get("end"))
    if dose.get("route") or dose.get("route_code"):
        route = _e(sub, "routeCode", code=dose.get("route_code"), codeSystem=CS["route"] if dose.get("route_code") else None)
        if dose.get("route") and dose.get("route") != dose.get("route_code"):
            _e(route, "originalText", dose["route"])
    if dose.get("dose"):
        _e(sub, "doseQuantity", value=dose["dose"], unit=dose.get("dose_unit") or "1")
    if dose.get("lot") or dose.get("lot_null_flavor") or dose.get("form"):
        kind_of = _e(_e(sub, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST")
        if dose.get("lot") or dose.get("lot_null_flavor"):
            inst = _e(kind_of, "productInstanceInstance", classCode="MMAT", determinerCode="INSTANCE")
            _e(inst, "lotNumberText", dose.get("lot"), nullFlavor=None if dose.get("lot") else dose["lot_null_flavor"])
        kind = _e(kind_of, "kindOfProduct", classCode="MMAT", determinerCode="KIND")
        if dose.get("form"):
            _e(_e(kind, "formCode"), "originalText", dose["form"])
        else:
            _e(kind, "code", nullFlavor="NI")


def _drug(organizer, i: int, d) -> str:
    detail = d.detail or {}
    ref = detail.get("ref") or f"drug-{i}"
    sa_ = _e(_e(organizer, "component", typeCode="COMP"), "substanceAdministration", classCode="SBADM", moodCode="EVN")
    _e(sa_, "id", root=ref)
    kind = _e(_e(_e(sa_, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST"), "kindOfProduct",
              classCode="MMAT", determinerCode="KIND")
    if d.reported_product_code:
        _e(kind, "code", code=d.reported_product_code, codeSystem=detail.get("code_system") or CS["product"])
    _e(kind, "name", d.name_as_reported or "UNKNOWN")
    country = detail.get("authorisation_country")
    if d.authorisation_number or d.holder or country:
        approval = _e(_e(_e(kind, "asManufacturedProduct", classCode="MANU"), "subjectOf", typeCode="SBJ"),
                      "approval", classCode="CNTRCT", moodCode="EVN")
        if d.authorisation_number:
            _e(approval, "id", extension=d.authorisation_number, root="2.16.840.1.113883.3.989.2.1.3.4")
        if d.holder:
            _e(_e(_e(_e(approval, "holder", typeCode="HLD"), "role", classCode="HLD"), "playingOrganization",
                  classCode="ORG", determinerCode="INSTANCE"), "name", d.holder)
        if country:
            _e(_e(_e(_e(approval, "author", typeCode="AUT"), "territorialAuthority", classCode="TERR"), "territory",
                  classCode="NAT", determinerCode="INSTANCE"), "code", code=country, codeSystem=COUNTRY)
    for s in detail.get("substances", []):
        _e(_e(_e(kind, "ingredient", classCode="ACTI"), "ingredientSubstance", classCode="MMAT",
              determinerCode="KIND"), "name", s)
    matrix = detail.get("matrix") or []
    for m in matrix:  # G.k.9.i.3.1 / G.k.9.i.3.2
        for type_code, key in (("SAS", "start_interval"), ("SAE", "last_dose_interval")):
            if m.get(key):
                rel = _e(sa_, "outboundRelationship1", typeCode=type_code)
                _e(rel, "pauseQuantity", value=m[key], unit=m.get(f"{key}_unit") or "d")
                _e(_e(rel, "actReference", classCode="OBS", moodCode="EVN"), "id", root=m.get("reaction_ref"))
    dosages = detail.get("dosages") or ([{"lot": d.batch_lot}] if d.batch_lot else [])
    for dose in dosages:
        _dosage(sa_, dose)
    for m in matrix:  # G.k.9.i.4
        if m.get("recurrence"):
            obs = _observation(sa_, "outboundRelationship2", "PERT", "31")
            _e(obs, "value", xsi_type="CE", code=m["recurrence"], codeSystem=CS["recurrence"])
            _e(_e(_e(obs, "outboundRelationship1", typeCode="REFR"), "actReference", classCode="OBS", moodCode="EVN"),
               "id", root=m.get("reaction_ref"))
    for ind in detail.get("indications", []):
        obs = _observation(sa_, "inboundRelationship", "RSON", "19")
        _meddra(obs, ind)
    if d.action_taken:
        _e(_e(_e(sa_, "inboundRelationship", typeCode="CAUS"), "act", classCode="ACT", moodCode="EVN"), "code",
           code=d.action_taken, codeSystem=CS["action"])
    return ref


def _comment(assessment, text: str, author: str) -> None:
    ev = _e(_e(assessment, "component1", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
    _e(ev, "code", code="10", codeSystem=OBS)
    _e(ev, "value", text, xsi_type="ED")
    _e(_e(_e(ev, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED"), "code", code=author,
       codeSystem=CS["author"])


def _tests(role, tests: list) -> None:
    """F.r: name (MedDRA), date, result (value and unit, code, or text), normal range, comments."""
    if not tests:
        return
    org = _e(_e(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    _e(org, "code", code="3", codeSystem=ORGANIZER)
    for t in tests:
        obs = _e(_e(org, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        _meddra(obs, t.get("name"), tag="code")
        if t.get("date"):
            _e(obs, "effectiveTime", value=t["date"])
        if t.get("result"):
            _e(_e(obs, "value", xsi_type="IVL_PQ"), "center", value=t["result"], unit=t.get("unit") or "1")
        elif t.get("result_text"):
            _e(obs, "value", t["result_text"], xsi_type="ED")
        if t.get("result_code"):
            _e(obs, "interpretationCode", code=t["result_code"], codeSystem=CS["test_result"])
        for key, code in (("low", "L"), ("high", "H")):
            if t.get(key):
                rng = _e(_e(obs, "referenceRange", typeCode="REFV"), "observationRange", classCode="OBS",
                         moodCode="EVN.CRT")
                _e(rng, "value", xsi_type="PQ", value=t[key], unit=t.get("unit") or "1")
                _e(rng, "interpretationCode", code=code, codeSystem=CS["range"])
        if t.get("comments"):
            _e(_observation(obs, "outboundRelationship2", "REFR", "10"), "value", t["comments"], xsi_type="ED")
        if t.get("more_info") is not None:
            _bl(_observation(obs, "outboundRelationship2", "PERT", "25"), t["more_info"])


def _event_flag(ev, code: str, value: bool | None, system: str = OBS) -> None:
    obs = _e(_e(ev, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
    _e(obs, "code", code=code, codeSystem=system)
    _bl(obs, value)


def _characteristic(ev, code: str) -> etree._Element:
    char = _e(_e(ev, "subjectOf2", typeCode="SUBJ"), "investigationCharacteristic", classCode="OBS", moodCode="EVN")
    _e(char, "code", code=code, codeSystem=CHARACTERISTIC)
    return char


def _related(ev, code: str) -> etree._Element:
    """An outboundRelationship/relatedInvestigation (C.1.8.2 first sender, C.2.r source, C.1.10.r link)."""
    rel = _e(ev, "outboundRelationship", typeCode="SPRT")
    inv = _e(rel, "relatedInvestigation", classCode="INVSTG", moodCode="EVN")
    _e(inv, "code", code=code, codeSystem=CS["relation"])
    return _e(_e(inv, "subjectOf2", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN")


def receivers(profile: str, v: VersionPublic) -> tuple[str, str]:
    if profile == "fda" and _value(v.report_type) == "study" and ((v.detail or {}).get("fda") or {}).get("ind"):
        return FDA_PREMARKET
    return PROFILES[profile]


def _message(root, v: VersionPublic, profile: str, sender: str, receiver: str, now: dt.datetime,
             registered: dict | None) -> None:
    detail = v.detail or {}
    fda = (detail.get("fda") or {}) if profile == "fda" else {}
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
    for title in detail.get("documents") or []:  # C.1.6.1.r.1
        doc = _e(_e(ev, "reference", typeCode="REFR"), "document", classCode="DOC", moodCode="EVN")
        _e(doc, "code", code="1", codeSystem=CS["document"])
        _e(doc, "title", title)
    for ref in detail.get("literature", []):  # C.4.r.1
        doc = _e(_e(ev, "reference", typeCode="REFR"), "document", classCode="DOC", moodCode="EVN")
        _e(doc, "code", code="2", codeSystem=CS["document"])
        _e(doc, "bibliographicDesignationText", ref)
    assessment = _e(_e(ev, "component", typeCode="COMP"), "adverseEventAssessment", classCode="INVSTG", moodCode="EVN")
    role = _e(_e(assessment, "subject1", typeCode="SBJ"), "primaryRole", classCode="INVSBJ")
    _patient(role, v, registered, profile)
    extras = detail.get("reactions") or []
    for i, r in enumerate(v.reactions):
        _reaction(role, i, r, extras[i] if i < len(extras) else {}, fda, profile)
    _tests(role, detail.get("tests") or [])
    organizer = _e(_e(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    _e(organizer, "code", code="4", codeSystem=ORGANIZER)
    refs = [_drug(organizer, i, d) for i, d in enumerate(v.drugs)]
    for ref, d in zip(refs, v.drugs):  # G.k.1
        ca = _e(_e(assessment, "component", typeCode="COMP"), "causalityAssessment", classCode="OBS", moodCode="EVN")
        _e(ca, "code", code="20", codeSystem=OBS)
        _e(ca, "value", xsi_type="CE", code=_REV["role"][_value(d.role)], codeSystem=CS["role"])
        _e(_e(_e(ca, "subject2", typeCode="SUBJ"), "productUseReference", classCode="SBADM", moodCode="EVN"), "id",
           root=ref)
    for ref, d in zip(refs, v.drugs):  # G.k.9.i.2.r: source, method, result of each assessment
        for a in (d.detail or {}).get("relatedness") or []:
            ca = _e(_e(assessment, "component", typeCode="COMP"), "causalityAssessment", classCode="OBS",
                    moodCode="EVN")
            _e(ca, "code", code="39", codeSystem=OBS)
            _e(ca, "value", a.get("result"), xsi_type="ST", nullFlavor=None if a.get("result") else "NI")
            if a.get("method"):
                _e(_e(ca, "methodCode"), "originalText", a["method"])
            if a.get("source"):
                _e(_e(_e(_e(ca, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED"), "code"),
                   "originalText", a["source"])
            if a.get("reaction_ref"):
                _e(_e(_e(ca, "subject1", typeCode="SUBJ"), "adverseEffectReference", classCode="OBS", moodCode="EVN"),
                   "id", root=a["reaction_ref"])
            _e(_e(_e(ca, "subject2", typeCode="SUBJ"), "productUseReference", classCode="SBADM", moodCode="EVN"),
               "id", root=ref)
    if v.reporter_comments:
        _comment(assessment, v.reporter_comments, "3")
    for c in detail.get("sender_diagnosis") or []:  # H.3.r
        obs = _e(_e(assessment, "component1", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="15", codeSystem=OBS)
        _meddra(obs, c)
        _e(_e(_e(obs, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED"), "code", code="1",
           codeSystem=CS["author"])
    if v.sender_comments:
        _comment(assessment, v.sender_comments, "1")
    documents = detail.get("additional_documents")
    _event_flag(ev, "1", documents if documents is not None else bool(detail.get("documents")))  # C.1.6.1
    expedited = detail.get("expedited")
    _event_flag(ev, "23", expedited if expedited is not None else v.serious)  # C.1.7
    if profile == "fda":
        obs = _e(_e(ev, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
        _e(obs, "code", code="C54588", codeSystem=NCI)  # FDA.C.1.7.1
        _e(obs, "value", xsi_type="CE", code=fda.get("local_report_type") or ("1" if v.serious else "3"),
           codeSystem=CS["fda_report_type"])
        _event_flag(ev, "C156384", bool(fda.get("combination_product")), NCI)  # FDA.C.1.12
    if detail.get("first_sender"):
        _e(_e(_e(_related(ev, "1"), "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED"), "code",
           code=detail["first_sender"], codeSystem=CS["first_sender"])
    sources = detail.get("sources") or [{"qualification": _value(v.reporter_qualification),
                                         "country": v.reporter_country, "primary_for_regulatory": True}]
    for s in sources:
        rel = _e(ev, "outboundRelationship", typeCode="SPRT")
        if s.get("primary_for_regulatory"):
            _e(rel, "priorityNumber", value="1")
        inv = _e(rel, "relatedInvestigation", classCode="INVSTG", moodCode="EVN")
        _e(inv, "code", code="2", codeSystem=CS["relation"])
        entity = _e(_e(_e(_e(inv, "subjectOf2", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN"),
                       "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED")
        person = _e(entity, "assignedPerson", classCode="PSN", determinerCode="INSTANCE")
        q = _REV["qual"].get(s.get("qualification") or "")
        if q:
            _e(_e(person, "asQualifiedEntity", classCode="QUAL"), "code", code=q, codeSystem=CS["qualification"])
        if s.get("country"):
            _e(_e(_e(person, "asLocatedEntity", classCode="LOCE"), "location", classCode="COUNTRY",
                  determinerCode="INSTANCE"), "code", code=s["country"], codeSystem=COUNTRY)
    for linked in detail.get("linked_reports") or []:  # C.1.10.r
        _e(_related(ev, "3"), "id", extension=linked, root=ID_WORLDWIDE)
    sender_detail = detail.get("sender") or {}
    entity = _e(_e(_e(_e(ev, "subjectOf1", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN"),
                   "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED")
    _e(entity, "code", code=sender_detail.get("type") or "1", codeSystem=CS["sender_type"])
    if sender_detail.get("organisation"):  # C.3.2
        org = _e(entity, "representedOrganization", classCode="ORG", determinerCode="INSTANCE")
        _e(_e(_e(org, "assignedEntity", classCode="ASSIGNED"), "representedOrganization", classCode="ORG",
              determinerCode="INSTANCE"), "name", sender_detail["organisation"])
    others = detail.get("other_case_ids") or []
    for other in others:  # C.1.9.1.r (entries stored before the source was kept are ids only)
        other = other if isinstance(other, dict) else {"id": other}
        _e(_e(_e(ev, "subjectOf1", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN"), "id",
           assigningAuthorityName=other.get("source"), extension=other.get("id"), root=ID_OTHER_CASE)
    char = _characteristic(ev, "1")
    _e(char, "value", xsi_type="CE", code=_REV["type"].get(_value(v.report_type), "4"), codeSystem=CS["report_type"])
    char = _characteristic(ev, "2")  # C.1.9.1
    _e(char, "value", xsi_type="BL", **({"value": "true"} if others else {"nullFlavor": "NI"}))
    if v.nullification:
        char = _characteristic(ev, "3")
        _e(char, "value", xsi_type="CE", code="1" if v.nullification == "nullification" else "2",
           codeSystem=CS["nullification"])
        if v.nullification_reason:
            _e(_e(_characteristic(ev, "4"), "value", xsi_type="CE"), "originalText", v.nullification_reason)


def build_batch(versions: list[tuple[VersionPublic, dict | None]], profile: str, sender: str, batch_id: str,
                now: dt.datetime, receiver: str | None = None) -> bytes:
    """`versions`: each case version with its registered patient's sex and birth year (or None)."""
    batch_receiver = PROFILES[profile][0]
    if versions and not receiver:
        batch_receiver = receivers(profile, versions[0][0])[0]
    if receiver:
        batch_receiver = receiver
    root = etree.Element(f"{{{HL7}}}{BATCH_ROOT}", nsmap={None: HL7, "xsi": XSI})
    root.set("ITSVersion", "XML_1.0")
    _e(root, "id", extension=batch_id, root="2.16.840.1.113883.3.989.2.1.3.22")
    _e(root, "creationTime", value=_ts(now))
    _e(root, "responseModeCode", code="D")
    _e(root, "interactionId", extension=BATCH_ROOT, root="2.16.840.1.113883.1.6")
    _e(root, "name", code="1", codeSystem="2.16.840.1.113883.3.989.2.1.1.1")
    for v, registered in versions:
        _message(root, v, profile, sender, receiver or receivers(profile, v)[1], now, registered)
    _device(root, "receiver", batch_receiver, "2.16.840.1.113883.3.989.2.1.3.14")
    _device(root, "sender", sender, "2.16.840.1.113883.3.989.2.1.3.13")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

"""NMPA's regional E2B(R3) elements (C.1.CN, D.CN, G.k.CN, G.k.4.r.CN, G.k.9.i.CN): definitions as
data, and pure functions that read them out of a message and write them into one.

Placement, codes and value types follow a third-party implementation (a safety system's public
E2B(R2) -> E2B(R3) stylesheet), not NMPA's guide, which is not public: docs/e2b_regional.md
says what rests on it and what is still missing. Every element is an observation coded in the
ICH observation code system (OBS) with code system version 1.1.

Stored form (the case version's detail["nmpa"]): event elements by key, "patient" by key,
"drugs" by the drug's G.k id: its own elements by key, "dosages" (one dict per G.k.4.r, in
order) and "matrix" (by the reaction's E.i id). A value is kept as sent; when the sender used
another xsi:type than the one below, as {"type": ..., "value": ...}, and written back so.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from pv_service.e2b.reader import NS

OBS = "2.16.840.1.113883.3.989.2.1.1.19"
VERSION = "1.1"  # codeSystemVersion of the CN codes in the stylesheet
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
# Where each element sits (E2B's element, under the message's investigationEvent).
PLACES = {
    "event": "investigationEvent/component/observationEvent",
    "patient": "primaryRole/subjectOf2/observation",
    "drug": "G.k substanceAdministration/outboundRelationship2[@typeCode='REFR']/observation",
    "dosage": "G.k.4.r substanceAdministration/inboundRelationship[@typeCode='REFR']/observation",
    "matrix": "G.k substanceAdministration/outboundRelationship2[@typeCode='PERT']/observation, "
              "with outboundRelationship1/actReference to the reaction (as G.k.9.i.4)",
}


@dataclass(frozen=True)
class Element:
    number: str  # the guide's element number
    key: str  # key in the stored dict
    code: str  # observation code (code system OBS)
    value_type: str  # xsi:type of the value
    place: str  # a key of PLACES
    meaning: str
    allowed: tuple[tuple[str, str], ...] = ()  # code list (code, meaning), when the source gives one
    kept: bool = True  # False: personal data of the patient, never stored


ELEMENTS = (
    Element("C.1.CN.1", "report_source", "CN-6", "CE", "event", "source of the report (报告来源)", (
        ("1", "regulatory agency"), ("2", "patient, family or friends"), ("3", "medical institution"),
        ("4", "operating business (distributor, pharmacy)"), ("5", "literature"),
        ("6", "research (post-marketing study)"), ("7", "project (patient- or doctor-oriented market programme)"),
        ("8", "other"))),
    Element("C.1.CN.2", "report_category", "CN-11", "CE", "event", "report category (报告分类)", (
        ("11", "pre-marketing, domestic"), ("12", "post-marketing, domestic"),
        ("21", "pre-marketing, foreign"), ("22", "post-marketing, foreign"))),
    Element("C.1.CN.3", "holder_id", "CN-12", "CE", "event", "holder identifier (持有人标识), as the CE code"),
    Element("D.CN.1", "ethnic_group", "CN-1", "TS", "patient", "ethnic group (民族)"),
    Element("D.CN.2", "race", "CN-2", "TS", "patient", "race"),
    Element("D.CN.3", "institution", "CN-3", "ED", "patient", "name of the medical institution / operating company"),
    Element("D.CN.4", "nationality", "CN-9", "CS", "patient", "nationality (国籍), ISO 3166 alpha-2"),
    Element("D.CN.5", "telephone", "CN-10", "TEL", "patient", "patient's telephone (联系电话)", kept=False),
    Element("D.CN.6", "pregnancy", "CN-13", "ED", "patient", "description of the pregnancy (妊娠相关描述)"),
    Element("G.k.CN.1", "generic_name", "CN-7", "ST", "drug", "generic name of the drug (药品通用名称)"),
    Element("G.k.CN.2", "related_device", "CN-14", "ST", "drug", "related device (相关器械)"),
    Element("G.k.CN.3", "holder_product", "CN-15", "BL", "drug", "the holder's own product (是否为本持有人产品)"),
    Element("G.k.CN.4", "approval_number", "CN-16", "ST", "drug", "approval or acceptance number (批准文号/受理号)"),
    Element("G.k.4.r.CN.1", "expiry_date", "CN-8", "TS", "dosage", "expiry date of the drug (药品失效日期)"),
    Element("G.k.9.i.CN.1", "listedness", "CN-4", "CE", "matrix", "unexpected (against the China label)"),
    Element("G.k.9.i.CN.2", "dechallenge", "CN-5", "CE", "matrix",
            "reaction disappeared or lessened after stopping or reducing the drug"),
)
BY_PLACE = {p: tuple(e for e in ELEMENTS if e.place == p) for p in PLACES}
_BY_CODE = {e.code: e for e in ELEMENTS}
SUSPECT_ROLES = ("suspect", "interacting")


# --- reading -------------------------------------------------------------------------------------

def _code_of(obs) -> str | None:
    code = obs.find(f"{{{NS['h']}}}code")
    if code is None or code.get("codeSystem") != OBS:
        return None
    return code.get("code")


def _value(el: Element, value):
    """The value as sent: its code, value attribute or text; BL as a boolean."""
    if value is None or value.get("nullFlavor"):
        return None
    sent = value.get(XSI_TYPE) or el.value_type
    raw = value.get("code") if sent in ("CE", "CS") else (
        value.get("value") if sent in ("TS", "TEL", "BL", "PQ", "INT") else (value.text or "").strip() or None)
    if raw is None:
        raw = value.get("code") or value.get("value") or (value.text or "").strip() or None
    if raw is not None and sent == "BL":
        raw = raw == "true"
    return raw if sent == el.value_type else {"type": sent, "value": raw}


def _read(nodes, place: str) -> dict:
    out = {}
    for obs in nodes:
        el = _BY_CODE.get(_code_of(obs) or "")
        if el is None or el.place != place or not el.kept:
            continue
        v = _value(el, obs.find(f"{{{NS['h']}}}value"))
        if v is not None:
            out.setdefault(el.key, v)
    return out


# Whether the message has any CN element where they sit: most have none, and import is timed (the
# four paths cost a third of a search of the whole message, some 20 us of a message's 1 ms).
_ROLE = "h:component/h:adverseEventAssessment/h:subject1/h:primaryRole"
_DRUG = f"{_ROLE}/h:subjectOf2/h:organizer/h:component/h:substanceAdministration"
_CN_CODE = "h:code[starts-with(@code, 'CN-')]"
_HAS_CN = etree.XPath("boolean(" + " | ".join((
    f"h:component/h:observationEvent/{_CN_CODE}", f"{_ROLE}/h:subjectOf2/h:observation/{_CN_CODE}",
    f"{_DRUG}/h:outboundRelationship2/h:observation/{_CN_CODE}",
    f"{_DRUG}/h:outboundRelationship2/h:substanceAdministration/h:inboundRelationship/h:observation/{_CN_CODE}")) + ")",
    namespaces=NS, regexp=False)


def read(event) -> dict:
    """The CN elements of one investigationEvent (empty when it has none)."""
    if event is None or not _HAS_CN(event):
        return {}
    out = _read(event.xpath("h:component/h:observationEvent", namespaces=NS), "event")
    role = event.find("h:component/h:adverseEventAssessment/h:subject1/h:primaryRole", NS)
    if role is None:
        return out
    patient = _read(role.xpath("h:subjectOf2/h:observation", namespaces=NS), "patient")
    if patient:
        out["patient"] = patient
    drugs = {}
    for sa in role.xpath("h:subjectOf2/h:organizer[h:code/@code='4']/h:component/h:substanceAdministration",
                         namespaces=NS):
        ref = sa.xpath("string(h:id/@root)", namespaces=NS) or None
        d = _read(sa.xpath("h:outboundRelationship2[@typeCode='REFR']/h:observation", namespaces=NS), "drug")
        dosages = [_read(x.xpath("h:inboundRelationship[@typeCode='REFR']/h:observation", namespaces=NS), "dosage")
                   for x in sa.xpath("h:outboundRelationship2/h:substanceAdministration", namespaces=NS)]
        if any(dosages):
            d["dosages"] = dosages
        matrix: dict[str, dict] = {}
        for obs in sa.xpath("h:outboundRelationship2[@typeCode='PERT']/h:observation", namespaces=NS):
            item = _read([obs], "matrix")
            reaction = obs.xpath("string(h:outboundRelationship1/h:actReference/h:id/@root)", namespaces=NS)
            if item and reaction:
                matrix.setdefault(reaction, {}).update(item)
        if matrix:
            d["matrix"] = matrix
        if d and ref:  # a drug without a G.k id cannot be matched again on export
            drugs[ref] = d
    if drugs:
        out["drugs"] = drugs
    return out


# --- deriving from what the service holds --------------------------------------------------------

def _value_of(v):
    return v.value if hasattr(v, "value") else v


def report_category(v, approved_in_cn: list[bool | None]) -> str | None:
    """C.1.CN.2 from where the reaction occurred (E.i.9, else the primary source's country C.2.r.3)
    and whether a suspect product is marketed in China (an NMPA approval in the registry, or G.k.3.2
    CN): None when either is unknown."""
    detail = v.detail or {}
    countries = {r.get("country") for r in detail.get("reactions") or [] if r.get("country")}
    countries = countries or ({v.reporter_country} if v.reporter_country else set())
    if not countries:
        return None
    domestic = "CN" in countries
    marketed = []
    for i, d in enumerate(v.drugs):
        if _value_of(d.role) not in SUSPECT_ROLES:
            continue
        approved = approved_in_cn[i] if i < len(approved_in_cn) else None
        if (d.detail or {}).get("authorisation_country") == "CN" and d.authorisation_number:
            approved = True
        marketed.append(approved)
    if any(m is True for m in marketed):
        post = True
    elif marketed and all(m is False for m in marketed):
        post = False
    else:
        return None
    return ("1" if domestic else "2") + ("2" if post else "1")


def report_source(v, category: str | None) -> str | None:
    """C.1.CN.1 where the case says it: first sent by a regulator (C.1.8.2), literature (C.4.r),
    a post-marketing study (C.1.3 study with category x2), or a spontaneous report from a physician
    or other health professional (medical institution) or a consumer (patient or family).
    A pharmacist may be a hospital's or a shop's: not derived."""
    detail = v.detail or {}
    kind = _value_of(v.report_type)
    if detail.get("first_sender") == "1":
        return "1"
    if detail.get("literature"):
        return "5"
    if kind == "study":
        return "6" if category and category.endswith("2") else None
    if kind != "spontaneous":
        return None
    sources = detail.get("sources") or []
    primary = next((s for s in sources if s.get("primary_for_regulatory")), sources[0] if sources else None)
    qualification = primary.get("qualification") if primary else _value_of(v.reporter_qualification)
    return {"physician": "3", "other_health_professional": "3", "consumer": "2"}.get(qualification or "")


def holder_id(v, holder_ids: list[str | None]) -> str | None:
    """C.1.CN.3: the NMPA identifier of the holder of the suspect products in the registry, when they have
    one holder with one (products of several holders: which one reports is not known)."""
    ids = {holder_ids[i] if i < len(holder_ids) else None for i, d in enumerate(v.drugs)
           if _value_of(d.role) in SUSPECT_ROLES and d.product_id is not None}
    return ids.pop() if len(ids) == 1 else None


def derived(v, approved_in_cn: list[bool | None], holder_ids: list[str | None] = ()) -> dict:
    """The stored CN elements with what the service can say for those not received (received wins)."""
    out = dict((v.detail or {}).get("nmpa") or {})
    category = out.get("report_category") or report_category(v, approved_in_cn)
    source = out.get("report_source") or report_source(v, category)
    holder = out.get("holder_id") or holder_id(v, list(holder_ids))
    out.update({k: x for k, x in (("report_category", category), ("report_source", source), ("holder_id", holder))
                if x})
    drugs = {ref: dict(d) for ref, d in (out.get("drugs") or {}).items()}
    for i, d in enumerate(v.drugs):
        detail = d.detail or {}
        ref = detail.get("ref") or f"drug-{i}"
        # G.k.3.1 of an authorisation in China (G.k.3.2 CN) is its NMPA approval number.
        if detail.get("authorisation_country") == "CN" and d.authorisation_number:
            drugs.setdefault(ref, {}).setdefault("approval_number", d.authorisation_number)
    if drugs:
        out["drugs"] = drugs
    return out


# --- writing -------------------------------------------------------------------------------------

def _x(value) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _value_xml(el: Element, stored) -> str:
    kind, value = (stored["type"], stored["value"]) if isinstance(stored, dict) else (el.value_type, stored)
    if kind == "BL":
        value = "true" if value is True or value == "true" else "false"
    if kind in ("CE", "CS"):
        return f'<value xsi:type="{kind}" code="{_x(value)}"/>'
    if kind in ("ED", "ST"):
        return f'<value xsi:type="{kind}">{_x(value)}</value>'
    return f'<value xsi:type="{_x(kind)}" value="{_x(value)}"/>'


def _code(el: Element) -> str:
    return f'<code code="{el.code}" codeSystem="{OBS}" codeSystemVersion="{VERSION}"/>'


def event_xml(nmpa: dict) -> str:
    """investigationEvent components (after C.1.7, as in the stylesheet)."""
    return "".join(f'<component typeCode="COMP"><observationEvent classCode="OBS" moodCode="EVN">{_code(el)}'
                   f'{_value_xml(el, nmpa[el.key])}</observationEvent></component>'
                   for el in BY_PLACE["event"] if nmpa.get(el.key) is not None)


def patient_xml(nmpa: dict) -> str:
    patient = nmpa.get("patient") or {}
    return "".join(f'<subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN">{_code(el)}'
                   f'{_value_xml(el, patient[el.key])}</observation></subjectOf2>'
                   for el in BY_PLACE["patient"] if el.kept and patient.get(el.key) is not None)


def drug_xml(drug: dict) -> str:
    """A drug's G.k.CN and G.k.9.i.CN observations (outboundRelationship2, before G.k.7 and G.k.8)."""
    out = [f'<outboundRelationship2 typeCode="REFR"><observation classCode="OBS" moodCode="EVN">{_code(el)}'
           f'{_value_xml(el, drug[el.key])}</observation></outboundRelationship2>'
           for el in BY_PLACE["drug"] if drug.get(el.key) is not None]
    for reaction, item in (drug.get("matrix") or {}).items():
        for el in BY_PLACE["matrix"]:
            if item.get(el.key) is not None:
                out.append(f'<outboundRelationship2 typeCode="PERT"><observation classCode="OBS" moodCode="EVN">'
                           f'{_code(el)}{_value_xml(el, item[el.key])}<outboundRelationship1 typeCode="REFR">'
                           f'<actReference classCode="OBS" moodCode="EVN"><id root="{_x(reaction)}"/></actReference>'
                           '</outboundRelationship1></observation></outboundRelationship2>')
    return "".join(out)


def dosage_xml(dosage: dict) -> str:
    """A dosage's G.k.4.r.CN observations (inboundRelationship, last in the G.k.4.r substanceAdministration)."""
    return "".join(f'<inboundRelationship typeCode="REFR"><observation classCode="OBS" moodCode="EVN">{_code(el)}'
                   f'{_value_xml(el, dosage[el.key])}</observation></inboundRelationship>'
                   for el in BY_PLACE["dosage"] if dosage.get(el.key) is not None)

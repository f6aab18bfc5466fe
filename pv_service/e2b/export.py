"""Case versions -> an E2B(R3) ICSR batch (MCCI_IN200100UV01), the inverse of icsr.py (pure).

Everything the importer keeps is written back where ICH puts it (element order follows the ICH
schema and FDA's instances), so export then import gives back the same case.

Profiles set the receivers and the regional elements:
- `ich`: receiver ICH (or the caller's), no regional element.
- `fda`: N.1.4 ZZFDA and N.2.r.3 CBER (cell and gene therapies are CBER's); a study report with
  an IND number goes to the premarket gateway (ZZFDA_PREMKT, CBER_IND) as in FDA's instances.
  FDA.C.1.7.1, FDA.C.1.12, FDA.C.5.5a/b, FDA.C.5.6.r, FDA.D.11.r, FDA.D.12 and FDA.E.i.3.2h as
  stored (source: FDA's E2B(R3) regional implementation specifications and its FAERS 2022 instances).
- `nmpa`: receiver NMPA; the CN regional elements as stored, C.1.CN.1/2/3 and G.k.CN.4 derived where
  the case says them (regional_cn.py; docs/e2b_regional.md says on what source and what is missing).

The XML is written as text (an element costs about 2 us in lxml, 0.2 us as a string, and a
message has some 350): static markup as constants, every value escaped on the way in. The tests
validate the output against the ICH schema and read it back with lxml.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from pv_service.cases.schemas import VersionPublic
from pv_service.e2b.icsr import (
    CHARACTERISTIC,
    DRUG_ROLES,
    FDA_CROSS_IND,
    FDA_ELEMENTS,
    FDA_IND,
    FDA_PRE_ANDA,
    FDA_OTHER_ROLES,
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
    hl7_date,
)
from pv_service.e2b import regional_cn
from pv_service.e2b.reader import BATCH_ROOT, HL7, MESSAGE

XSI = "http://www.w3.org/2001/XMLSchema-instance"
PROFILES = {"ich": ("ICH", "ICH"), "fda": ("ZZFDA", "CBER"), "nmpa": ("NMPA", "NMPA")}
FDA_PREMARKET = ("ZZFDA_PREMKT", "CBER_IND")
_REV = {name: {v: k for k, v in table.items()} for name, table in
        {"role": DRUG_ROLES, "outcome": OUTCOMES, "qual": QUALIFICATIONS, "type": REPORT_TYPES}.items()}
_SERIOUS = {v: k for k, v in SERIOUSNESS_CODES.items()}
_SEX = {"male": "1", "female": "2"}
COUNTRY = "1.0.3166.1.2.2"
CS = {  # ICH code systems written below
    "route": "0.4.0.127.0.16.1.1.2.6", "action": "2.16.840.1.113883.3.989.2.1.1.15",
    "recurrence": "2.16.840.1.113883.3.989.2.1.1.16", "test_result": "2.16.840.1.113883.3.989.2.1.1.12",
    "range": "2.16.840.1.113883.5.83", "author": "2.16.840.1.113883.3.989.2.1.1.21",
    "relation": "2.16.840.1.113883.3.989.2.1.1.22", "first_sender": "2.16.840.1.113883.3.989.2.1.1.3",
    "document": "2.16.840.1.113883.3.989.2.1.1.27", "study_type": "2.16.840.1.113883.3.989.2.1.1.8",
    "highlighted": "2.16.840.1.113883.3.989.2.1.1.10", "age_group": "2.16.840.1.113883.3.989.2.1.1.9",
    "role": "2.16.840.1.113883.3.989.2.1.1.13", "obtained": "2.16.840.1.113883.3.989.2.1.1.18", "qualification": "2.16.840.1.113883.3.989.2.1.1.6",
    "sender_type": "2.16.840.1.113883.3.989.2.1.1.7", "report_type": "2.16.840.1.113883.3.989.2.1.1.2",
    "nullification": "2.16.840.1.113883.3.989.2.1.1.5", "outcome": "2.16.840.1.113883.3.989.2.1.1.11",
    "fda_report_type": "2.16.840.1.113883.3.989.5.1.2.2.1.1.1", "product": "2.16.840.1.113883.6.69",
}
# Characters XML 1.0 cannot carry (a JSON narrative may hold them): dropped, as lxml would refuse them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_OBS = 'classCode="OBS" moodCode="EVN"'
_NI = '<value xsi:type="BL" nullFlavor="NI"/>'
_TRUE = '<value xsi:type="BL" value="true"/>'
_FALSE = '<value xsi:type="BL" value="false"/>'
_PRIORITY = '<priorityNumber value="1"/>'  # C.2.r.5
_SOURCE_REPORTER = ('<performer typeCode="PRF"><assignedEntity classCode="ASSIGNED">'
                    '<code code="3" codeSystem="2.16.840.1.113883.3.989.2.1.1.21"/></assignedEntity></performer>')


def _x(value) -> str:
    """A value escaped for text or a double-quoted attribute."""
    s = str(value)
    if _NOT_XML.search(s):
        s = _NOT_XML.sub("", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _a(**attrs) -> str:
    """Attributes, those that are None left out (`xsi_type` is xsi:type)."""
    return "".join(f' {"xsi:type" if k == "xsi_type" else k.rstrip("_")}="{_x(v)}"'
                   for k, v in attrs.items() if v is not None)


def _el(tag: str, text=None, **attrs) -> str:
    if text is None:
        return f"<{tag}{_a(**attrs)}/>"
    return f"<{tag}{_a(**attrs)}>{_x(text)}</{tag}>"


def _ts(d: dt.datetime) -> str:
    return d.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")


def _day(d: dt.date | None) -> str | None:
    return d.strftime("%Y%m%d") if d else None


def _as_sent(ts: str | None, day: dt.date | None) -> str | None:
    """A date as an imported case sent it (2014, 201410: shorter than a day, no day is stored) when
    it is the stored day's; else the stored day."""
    if ts and hl7_date(ts) == day:
        return ts
    return _day(day)


def _value(v) -> str:
    return v.value if hasattr(v, "value") else v


def _bl(value: bool | None) -> str:
    return _NI if value is None else (_TRUE if value else _FALSE)


def _rel(o: list, rel: str, type_code: str, code: str, body: str, system: str = OBS) -> None:
    """<rel><observation><code/>body</observation></rel>."""
    o.append(f'<{rel} typeCode="{type_code}"><observation {_OBS}><code code="{code}" codeSystem="{system}"/>'
             f'{body}</observation></{rel}>')


def _meddra(c: dict | None, tag: str = "value") -> str:
    c = c or {}
    attrs = _a(xsi_type="CE" if tag == "value" else None, code=c.get("code"), codeSystem=MEDDRA,
               codeSystemVersion=c.get("version"), nullFlavor=c.get("null_flavor"))
    if c.get("text"):
        return f"<{tag}{attrs}><originalText>{_x(c['text'])}</originalText></{tag}>"
    return f"<{tag}{attrs}/>"


def _nth(values: list | None, i: int):
    """values[i], or None past its end (a list stored per reaction)."""
    return values[i] if values and i < len(values) else None


def _interval(start: str | None, end: str | None) -> str:
    if not (start or end):
        return ""
    return (f'<effectiveTime xsi:type="IVL_TS">{_el("low", value=start) if start else ""}'
            f'{_el("high", value=end) if end else ""}</effectiveTime>')


def _subject_obs(o: list, code: str, body: str, system: str = OBS) -> None:
    o.append(f'<subjectOf2 typeCode="SBJ"><observation {_OBS}><code code="{code}" codeSystem="{system}"/>{body}'
             '</observation></subjectOf2>')


def _country(tag: str, country: str, class_code: str = "COUNTRY") -> str:
    return (f'<{tag} classCode="{class_code}" determinerCode="INSTANCE"><code code="{_x(country)}" '
            f'codeSystem="{COUNTRY}"/></{tag}>')


def _patient(o: list, v: VersionPublic, registered: dict | None, profile: str, nmpa: dict) -> None:
    p = v.patient
    detail = v.detail or {}
    pd = detail.get("patient") or {}
    # The service holds no name or initials: masked where the sender identified the patient.
    flavor = pd.get("name_null_flavor") or ("MSK" if registered is not None or (p and p.pseudonym) else "UNK")
    o.append(f'<player1 classCode="PSN" determinerCode="INSTANCE"><name nullFlavor="{"MSK" if p and p.pseudonym else _x(flavor)}"/>')
    sex = (p.sex if p else None) or (registered or {}).get("sex")
    if sex in _SEX:
        o.append(f'<administrativeGenderCode code="{_SEX[sex]}" codeSystem="1.0.5218"/>')
    elif pd.get("sex_null_flavor"):
        o.append(f'<administrativeGenderCode nullFlavor="{_x(pd["sex_null_flavor"])}"/>')
    year = (p.birth_year if p else None) or (registered or {}).get("birth_year")
    if year:
        o.append(f'<birthTime value="{int(year)}"/>')
    elif pd.get("birth_null_flavor"):
        o.append(f'<birthTime nullFlavor="{_x(pd["birth_null_flavor"])}"/>')
    if p and p.death_date:
        o.append(f'<deceasedTime value="{_day(p.death_date)}"/>')
    if pd.get("parent"):
        _parent(o, pd["parent"])
    o.append("</player1>")
    study = detail.get("study") or {}
    fda = (detail.get("fda") or {}) if profile == "fda" else {}
    if any(study.get(k) for k in ("name", "number", "type", "registrations")) or \
            any(fda.get(k) for k in ("ind", "pre_anda", "cross_reported_inds")):
        _study(o, study, fda)
    if p:
        for code, value, unit in (("3", p.age, p.age_unit), ("7", p.weight_kg, "kg"), ("17", p.height_cm, "cm")):
            if value is not None:
                _subject_obs(o, code, f'<value xsi:type="PQ" value="{value:g}" unit="{_x(unit or "a")}"/>')
        if p.age_group:
            _subject_obs(o, "4", f'<value xsi:type="CE" code="{_x(p.age_group)}" codeSystem="{CS["age_group"]}"/>')
    if pd.get("gestation_period"):  # D.2.2.1
        _subject_obs(o, "16", _el("value", xsi_type="PQ", value=pd["gestation_period"],
                                  unit=pd.get("gestation_period_unit") or "wk"))
    if pd.get("last_menstrual_period"):  # D.6
        _subject_obs(o, "22", _el("value", xsi_type="TS", value=pd["last_menstrual_period"]))
    for code, values, flavor in (("C17049", fda.get("race") or [], fda.get("race_null_flavor")),
                                 ("C16564", [fda["ethnicity"]] if fda.get("ethnicity") else [],
                                  fda.get("ethnicity_null_flavor"))):
        for value in values:  # FDA.D.11.r race, FDA.D.12 ethnicity
            _subject_obs(o, code, f'<value xsi:type="CE" code="{_x(value)}" codeSystem="{NCI}"/>', NCI)
        if flavor and not values:  # sent as a nullFlavor
            _subject_obs(o, code, _el("value", xsi_type="CE", nullFlavor=flavor), NCI)
    if nmpa:
        o.append(regional_cn.patient_xml(nmpa))  # D.CN
    _history(o, pd)
    _past_drugs(o, pd.get("past_drugs") or [])
    for cause in pd.get("death_causes") or []:  # D.9.2.r
        _subject_obs(o, "32", _meddra(cause))
    if pd.get("autopsy") is not None or pd.get("autopsy_causes"):  # D.9.3, D.9.4.r
        body = [_bl(pd.get("autopsy"))]
        for cause in pd.get("autopsy_causes") or []:
            _rel(body, "outboundRelationship2", "DRIV", "8", _meddra(cause))
        _subject_obs(o, "5", "".join(body))


def _parent(o: list, parent: dict) -> None:
    """D.10 (the parent's initials are not kept: a name is sent masked)."""
    who = []
    if parent.get("name_null_flavor"):
        who.append(_el("name", nullFlavor=parent["name_null_flavor"]))
    if parent.get("sex_code"):
        who.append(_el("administrativeGenderCode", code=parent["sex_code"], codeSystem="1.0.5218"))
    if parent.get("birth_year"):
        who.append(f'<birthTime value="{int(parent["birth_year"])}"/>')
    o.append(f'<role classCode="PRS"><code code="PRN" codeSystem="2.16.840.1.113883.5.111"/>'
             f'<associatedPerson classCode="PSN" determinerCode="INSTANCE">{"".join(who)}</associatedPerson>')
    for code, value, unit in (("3", parent.get("age"), parent.get("age_unit") or "a"),
                              ("7", parent.get("weight_kg"), "kg"), ("17", parent.get("height_cm"), "cm")):
        if value is not None:
            _subject_obs(o, code, _el("value", xsi_type="PQ", value=value, unit=unit))
    if parent.get("last_menstrual_period"):
        _subject_obs(o, "22", _el("value", xsi_type="TS", value=parent["last_menstrual_period"]))
    _history(o, parent)
    _past_drugs(o, parent.get("past_drugs") or [])
    o.append("</role>")


def _study(o: list, study: dict, fda: dict) -> None:
    """C.5 (and FDA.C.5.5a/b, FDA.C.5.6.r in the fda profile)."""
    o.append('<subjectOf1 typeCode="SBJ"><researchStudy classCode="CLNTRL" moodCode="EVN">')
    if study.get("number"):
        o.append(_el("id", extension=study["number"], root=ID_SPONSOR_STUDY))
    if study.get("type"):
        o.append(_el("code", code=study["type"], codeSystem=CS["study_type"]))
    if study.get("name"):
        o.append(_el("title", study["name"]))
    registrations = [(number, country, ID_STUDY_REG) for number, country in study.get("registrations") or []]
    registrations += [(fda.get("ind"), None, FDA_IND), (fda.get("pre_anda"), None, FDA_PRE_ANDA)]
    registrations += [(x, None, FDA_CROSS_IND) for x in fda.get("cross_reported_inds") or []]
    for number, country, root in registrations:
        if number or root == ID_STUDY_REG:
            o.append(f'<authorization typeCode="AUTH"><studyRegistration classCode="ACT" moodCode="EVN">'
                     f'{_el("id", extension=number, root=root)}')
            if country:
                o.append(f'<author typeCode="AUT"><territorialAuthority classCode="TERR">'
                         f'{_country("governingPlace", country)}</territorialAuthority></author>')
            o.append("</studyRegistration></authorization>")
    o.append("</researchStudy></subjectOf1>")


def _history(o: list, pd: dict) -> None:
    """D.7.1.r conditions, D.7.2 text, D.7.3 concomitant therapies."""
    items = pd.get("medical_history") or []
    if not (items or pd.get("medical_history_text") or pd.get("concomitant_therapies") is not None):
        return
    o.append(f'<subjectOf2 typeCode="SBJ"><organizer classCode="CATEGORY" moodCode="EVN">'
             f'<code code="1" codeSystem="{ORGANIZER}"/>')
    for h in items:
        o.append(f'<component typeCode="COMP"><observation {_OBS}>'
                 f'{_el("code", code=h.get("code"), codeSystem=MEDDRA, codeSystemVersion=h.get("version"))}'
                 f'{_interval(h.get("start"), h.get("end"))}')
        if h.get("comments"):
            _rel(o, "outboundRelationship2", "COMP", "10", _el("value", h["comments"], xsi_type="ED"))
        if h.get("family_history") is not None:
            _rel(o, "outboundRelationship2", "EXPL", "38", _bl(h["family_history"]))
        if h.get("continuing") is not None:
            _rel(o, "inboundRelationship", "REFR", "13", _bl(h["continuing"]))
        o.append("</observation></component>")
    if pd.get("medical_history_text"):
        o.append(f'<component typeCode="COMP"><observation {_OBS}><code code="18" codeSystem="{OBS}"/>'
                 f'{_el("value", pd["medical_history_text"], xsi_type="ED")}</observation></component>')
    if pd.get("concomitant_therapies") is not None:
        o.append(f'<component typeCode="COMP"><observation {_OBS}><code code="11" codeSystem="{OBS}"/>'
                 f'{_bl(pd["concomitant_therapies"])}</observation></component>')
    o.append("</organizer></subjectOf2>")


def _past_drugs(o: list, drugs: list) -> None:
    """D.8.r (entries stored before D.8 was kept in full are names only)."""
    if not drugs:
        return
    o.append(f'<subjectOf2 typeCode="SBJ"><organizer classCode="CATEGORY" moodCode="EVN">'
             f'<code code="2" codeSystem="{ORGANIZER}"/>')
    for d in drugs:
        d = d if isinstance(d, dict) else {"name": d}
        code = _el("code", code=d["product_code"], codeSystem=d.get("code_system") or CS["product"]) \
            if d.get("product_code") else ""
        o.append(f'<component typeCode="COMP"><substanceAdministration classCode="SBADM" moodCode="EVN">'
                 f'{_interval(d.get("start"), d.get("end"))}<consumable typeCode="CSM"><instanceOfKind classCode="INST">'
                 f'<kindOfProduct classCode="MMAT" determinerCode="KIND">{code}{_el("name", d.get("name") or "UNKNOWN")}'
                 '</kindOfProduct></instanceOfKind></consumable>')
        for type_code, obs_code, key in (("RSON", "19", "indication"), ("CAUS", "29", "reaction")):
            if (d.get(key) or {}).get("code") or (d.get(key) or {}).get("text"):
                _rel(o, "outboundRelationship2", type_code, obs_code, _meddra(d[key]))
        o.append("</substanceAdministration></component>")
    o.append("</organizer></subjectOf2>")


_SERIOUS_ITEMS = tuple(_SERIOUS.items())


def _reaction(o: list, i: int, r, extra: dict, fda: dict, profile: str, imported: bool) -> None:
    a = o.append
    a(f'<subjectOf2 typeCode="SBJ"><observation {_OBS}><id root="{_x(extra.get("ref") or f"reaction-{i}")}"/>'
      f'<code code="29" codeSystem="{OBS}"/>{_interval(_as_sent(extra.get("start"), r.onset_date), extra.get("end"))}')
    attrs = _a(code=r.llt_code or r.pt_code, codeSystem=MEDDRA, codeSystemVersion=r.meddra_version)
    # E.i.1.1a is the primary source's own words: of an imported case only what it sent (the
    # dictionary's term is no reporter's); of a JSON report the term it was reported under
    verbatim = extra.get("verbatim") if imported else r.pt_name
    a(f'<value xsi:type="CE"{attrs}><originalText>{_x(verbatim)}</originalText></value>' if verbatim
      else f'<value xsi:type="CE"{attrs}/>')
    if extra.get("country"):
        a(f'<location typeCode="LOC"><locatedEntity classCode="LOCE">{_country("locatedPlace", extra["country"])}'
          '</locatedEntity></location>')
    if extra.get("translation"):
        _rel(o, "outboundRelationship2", "PERT", "30", _el("value", extra["translation"], xsi_type="ED"))
    if extra.get("highlighted"):
        _rel(o, "outboundRelationship2", "PERT", "37",
             _el("value", xsi_type="CE", code=extra["highlighted"], codeSystem=CS["highlighted"]))
    flags = r.seriousness
    for name, code in _SERIOUS_ITEMS:
        a(f'<outboundRelationship2 typeCode="PERT"><observation {_OBS}><code code="{code}" codeSystem="{OBS}"/>'
          f'{_TRUE if getattr(flags, name) else _NI}</observation></outboundRelationship2>')
    if profile == "fda":  # FDA.E.i.3.2h: true/false, or the nullFlavor it came with
        value = _nth(fda.get("required_intervention"), i)
        flavor = _nth(fda.get("required_intervention_null_flavor"), i)
        if value is not None or flavor:
            body = _bl(value) if value is not None else _el("value", xsi_type="BL", nullFlavor=flavor)
            _rel(o, "outboundRelationship2", "PERT", "7", body, FDA_ELEMENTS)
    _rel(o, "outboundRelationship2", "PERT", "27", f'<value xsi:type="CE" code="'
         f'{_REV["outcome"].get(_value(r.outcome), "0")}" codeSystem="{CS["outcome"]}"/>')
    if extra.get("medically_confirmed") is not None:
        _rel(o, "outboundRelationship2", "PERT", "24", _bl(extra["medically_confirmed"]))
    a("</observation></subjectOf2>")


def _dosage(o: list, dose: dict, cn: dict) -> None:
    a = o.append
    a('<outboundRelationship2 typeCode="COMP"><substanceAdministration classCode="SBADM" moodCode="EVN">')
    if dose.get("text"):
        a(_el("text", dose["text"]))
    if dose.get("frequency"):
        a(f'<effectiveTime xsi:type="SXPR_TS"><comp xsi:type="PIVL_TS">'
          f'{_el("period", value=dose["frequency"], unit=dose.get("frequency_unit") or "d")}</comp>')
        if dose.get("start") or dose.get("end"):
            a(f'<comp xsi:type="IVL_TS" operator="A">{_el("low", value=dose["start"]) if dose.get("start") else ""}'
              f'{_el("high", value=dose["end"]) if dose.get("end") else ""}</comp>')
        a("</effectiveTime>")
    elif dose.get("start") or dose.get("end") or not dose.get("period_null_flavor"):
        a(_interval(dose.get("start"), dose.get("end")))
    else:
        a(_el("effectiveTime", nullFlavor=dose["period_null_flavor"]))
    if dose.get("route") or dose.get("route_code"):
        text = dose.get("route") if dose.get("route") and dose.get("route") != dose.get("route_code") else None
        code = dose.get("route_code")
        attrs = _a(code=code, codeSystem=CS["route"] if code else None,
                   codeSystemVersion=dose.get("route_version") if code else None)
        a(f"<routeCode{attrs}><originalText>{_x(text)}</originalText></routeCode>" if text else f"<routeCode{attrs}/>")
    if dose.get("dose"):
        a(_el("doseQuantity", value=dose["dose"], unit=dose.get("dose_unit") or "1"))
    if dose.get("lot") or dose.get("lot_null_flavor") or dose.get("form"):
        a('<consumable typeCode="CSM"><instanceOfKind classCode="INST">')
        if dose.get("lot") or dose.get("lot_null_flavor"):
            lot = _el("lotNumberText", dose["lot"]) if dose.get("lot") else \
                _el("lotNumberText", nullFlavor=dose["lot_null_flavor"])
            a(f'<productInstanceInstance classCode="MMAT" determinerCode="INSTANCE">{lot}</productInstanceInstance>')
        form = f'<formCode><originalText>{_x(dose["form"])}</originalText></formCode>' if dose.get("form") \
            else '<code nullFlavor="NI"/>'
        a(f'<kindOfProduct classCode="MMAT" determinerCode="KIND">{form}</kindOfProduct></instanceOfKind></consumable>')
    if cn:
        a(regional_cn.dosage_xml(cn))  # G.k.4.r.CN
    a("</substanceAdministration></outboundRelationship2>")


def _act_reference(ref) -> str:
    return f'<actReference classCode="OBS" moodCode="EVN">{_el("id", root=ref)}</actReference>'


# The reporter's causality of a JSON report (one per reaction, about its suspect products), as the
# G.k.9.i.2.r assessments E2B carries it in: source the primary source, method global introspection.
_CAUSALITY_TEXT = {"related": "related", "probably_related": "probably related", "possibly_related": "possibly related",
                   "unlikely_related": "unlikely related", "not_related": "not related", "unassessable": "unassessable"}


def _reported_causality(d, reactions, extras: list) -> list[dict]:
    if _value(d.role) not in ("suspect", "interacting"):
        return []
    return [{"reaction_ref": (extras[i] if i < len(extras) else {}).get("ref") or f"reaction-{i}",
             "source": "Primary source (reporter)", "method": "Global introspection",
             "result": _CAUSALITY_TEXT[_value(r.causality)]}
            for i, r in enumerate(reactions) if getattr(r, "causality", None)]


def _drug(o: list, i: int, d, nmpa_drugs: dict) -> str:
    a = o.append
    detail = d.detail or {}
    ref = detail.get("ref") or f"drug-{i}"
    a(f'<component typeCode="COMP"><substanceAdministration classCode="SBADM" moodCode="EVN"><id root="{_x(ref)}"/>'
      '<consumable typeCode="CSM"><instanceOfKind classCode="INST"><kindOfProduct classCode="MMAT" determinerCode="KIND">')
    if d.reported_product_code:
        a(_el("code", code=d.reported_product_code, codeSystem=detail.get("code_system") or CS["product"]))
    a(_el("name", d.name_as_reported or "UNKNOWN"))
    country = detail.get("authorisation_country")
    if d.authorisation_number or d.holder or country:
        a('<asManufacturedProduct classCode="MANU"><subjectOf typeCode="SBJ"><approval classCode="CNTRCT" moodCode="EVN">')
        if d.authorisation_number:
            a(_el("id", extension=d.authorisation_number, root="2.16.840.1.113883.3.989.2.1.3.4"))
        if d.holder:
            a(f'<holder typeCode="HLD"><role classCode="HLD"><playingOrganization classCode="ORG" determinerCode="INSTANCE">'
              f'{_el("name", d.holder)}</playingOrganization></role></holder>')
        if country:
            a(f'<author typeCode="AUT"><territorialAuthority classCode="TERR">{_country("territory", country, "NAT")}'
              '</territorialAuthority></author>')
        a("</approval></subjectOf></asManufacturedProduct>")
    ingredients = detail.get("ingredients") or []
    for k, s in enumerate(detail.get("substances", [])):
        extra = ingredients[k] if k < len(ingredients) else {}
        a('<ingredient classCode="ACTI">')
        if extra.get("strength"):  # G.k.2.3.r.3a/b
            a(f'<quantity>{_el("numerator", value=extra["strength"], unit=extra.get("strength_unit") or "1")}'
              '<denominator value="1" unit="1"/></quantity>')
        a('<ingredientSubstance classCode="MMAT" determinerCode="KIND">')
        if extra.get("code"):  # G.k.2.3.r.2a/b
            a(_el("code", code=extra["code"], codeSystem=extra.get("code_system"),
                  codeSystemVersion=extra.get("code_version")))
        a(f'{_el("name", s)}</ingredientSubstance></ingredient>')
    a("</kindOfProduct>")
    if detail.get("obtained_country"):  # G.k.2.4
        a(f'<subjectOf typeCode="SBJ"><productEvent classCode="ACT" moodCode="EVN">'
          f'<code code="1" codeSystem="{CS["obtained"]}"/><performer typeCode="PRF"><assignedEntity classCode="ASSIGNED">'
          f'<representedOrganization classCode="ORG" determinerCode="INSTANCE"><addr>'
          f'{_el("country", detail["obtained_country"])}</addr></representedOrganization></assignedEntity></performer>'
          '</productEvent></subjectOf>')
    a("</instanceOfKind></consumable>")
    matrix = detail.get("matrix") or []
    for m in matrix:  # G.k.9.i.3.1 / G.k.9.i.3.2
        for type_code, key in (("SAS", "start_interval"), ("SAE", "last_dose_interval")):
            if m.get(key):
                a(f'<outboundRelationship1 typeCode="{type_code}">'
                  f'{_el("pauseQuantity", value=m[key], unit=m.get(f"{key}_unit") or "d")}'
                  f'{_act_reference(m.get("reaction_ref"))}</outboundRelationship1>')
    cn = nmpa_drugs.get(ref) or {}
    cn_dosages = cn.get("dosages") or []
    for j, dose in enumerate(detail.get("dosages") or ([{"lot": d.batch_lot}] if d.batch_lot else [])):
        _dosage(o, dose, cn_dosages[j] if j < len(cn_dosages) else {})
    if detail.get("cumulative_dose"):  # G.k.5
        _rel(o, "outboundRelationship2", "SUMM", "14",
             _el("value", xsi_type="PQ", value=detail["cumulative_dose"], unit=detail.get("cumulative_dose_unit") or "1"))
    for info in detail.get("additional_info") or []:  # G.k.10.r
        _rel(o, "outboundRelationship2", "REFR", "9",
             _el("value", xsi_type="CE", code=info.get("code"), codeSystem=info.get("code_system")))
    for m in matrix:  # G.k.9.i.4
        if m.get("recurrence"):
            _rel(o, "outboundRelationship2", "PERT", "31",
                 f'{_el("value", xsi_type="CE", code=m["recurrence"], codeSystem=CS["recurrence"])}'
                 f'<outboundRelationship1 typeCode="REFR">{_act_reference(m.get("reaction_ref"))}</outboundRelationship1>')
    if cn:
        a(regional_cn.drug_xml(cn))  # G.k.CN, G.k.9.i.CN
    for ind in detail.get("indications", []):
        # G.k.7.r: as reported by the primary source (the performer ICH's instance names: source reporter)
        _rel(o, "inboundRelationship", "RSON", "19", _meddra(ind) + _SOURCE_REPORTER)
    if d.action_taken:
        a(f'<inboundRelationship typeCode="CAUS"><act classCode="ACT" moodCode="EVN">'
          f'{_el("code", code=d.action_taken, codeSystem=CS["action"])}</act></inboundRelationship>')
    a("</substanceAdministration></component>")
    return ref


def _comment(o: list, text: str, author: str) -> None:
    o.append(f'<component1 typeCode="COMP"><observationEvent {_OBS}><code code="10" codeSystem="{OBS}"/>'
             f'{_el("value", text, xsi_type="ED")}<author typeCode="AUT"><assignedEntity classCode="ASSIGNED">'
             f'<code code="{author}" codeSystem="{CS["author"]}"/></assignedEntity></author></observationEvent></component1>')


def _tests(o: list, tests: list) -> None:
    """F.r: name (MedDRA), date, result (value and unit, code, or text), normal range, comments."""
    if not tests:
        return
    a = o.append
    a(f'<subjectOf2 typeCode="SBJ"><organizer classCode="CATEGORY" moodCode="EVN"><code code="3" codeSystem="{ORGANIZER}"/>')
    for t in tests:
        a(f'<component typeCode="COMP"><observation {_OBS}>{_meddra(t.get("name"), tag="code")}')
        if t.get("date"):
            a(_el("effectiveTime", value=t["date"]))
        if t.get("result"):
            a(f'<value xsi:type="IVL_PQ">{_el("center", value=t["result"], unit=t.get("unit") or "1")}</value>')
        elif t.get("result_text"):
            a(_el("value", t["result_text"], xsi_type="ED"))
        if t.get("result_code"):
            a(_el("interpretationCode", code=t["result_code"], codeSystem=CS["test_result"]))
        for key, code in (("low", "L"), ("high", "H")):
            if t.get(key):
                a(f'<referenceRange typeCode="REFV"><observationRange classCode="OBS" moodCode="EVN.CRT">'
                  f'{_el("value", xsi_type="PQ", value=t[key], unit=t.get("unit") or "1")}'
                  f'<interpretationCode code="{code}" codeSystem="{CS["range"]}"/></observationRange></referenceRange>')
        if t.get("comments"):
            _rel(o, "outboundRelationship2", "REFR", "10", _el("value", t["comments"], xsi_type="ED"))
        if t.get("more_info") is not None:
            _rel(o, "outboundRelationship2", "PERT", "25", _bl(t["more_info"]))
        a("</observation></component>")
    a("</organizer></subjectOf2>")


def _event_flag(o: list, code: str, value: bool | None, system: str = OBS) -> None:
    o.append(f'<component typeCode="COMP"><observationEvent {_OBS}><code code="{code}" codeSystem="{system}"/>'
             f'{_bl(value)}</observationEvent></component>')


def _characteristic(o: list, code: str, value: str) -> None:
    o.append(f'<subjectOf2 typeCode="SUBJ"><investigationCharacteristic {_OBS}><code code="{code}" '
             f'codeSystem="{CHARACTERISTIC}"/>{value}</investigationCharacteristic></subjectOf2>')


def _related(o: list, code: str | None, body: str, priority: bool = False) -> None:
    """An outboundRelationship/relatedInvestigation (C.1.8.2 first sender, C.2.r source; C.1.10.r link,
    whose code is nullFlavor NA: the relation list has no code for it)."""
    code_el = f'<code code="{code}" codeSystem="{CS["relation"]}"/>' if code else '<code nullFlavor="NA"/>'
    o.append(f'<outboundRelationship typeCode="SPRT">{_PRIORITY if priority else ""}'
             f'<relatedInvestigation classCode="INVSTG" moodCode="EVN">{code_el}'
             f'<subjectOf2 typeCode="SUBJ"><controlActEvent classCode="CACT" moodCode="EVN">{body}</controlActEvent>'
             '</subjectOf2></relatedInvestigation></outboundRelationship>')


def _source(s: dict) -> str:
    q = _REV["qual"].get(s.get("qualification") or "")
    if q:
        person = f'<asQualifiedEntity classCode="QUAL"><code code="{q}" codeSystem="{CS["qualification"]}"/></asQualifiedEntity>'
    elif s.get("qualification_null_flavor") or s.get("qualification") == "unknown":
        flavor = s.get("qualification_null_flavor") or "UNK"
        person = f'<asQualifiedEntity classCode="QUAL"><code nullFlavor="{_x(flavor)}"/></asQualifiedEntity>'
    else:
        person = ""
    if s.get("country"):
        person += f'<asLocatedEntity classCode="LOCE">{_country("location", s["country"])}</asLocatedEntity>'
    return (f'<author typeCode="AUT"><assignedEntity classCode="ASSIGNED"><assignedPerson classCode="PSN" '
            f'determinerCode="INSTANCE">{person}</assignedPerson></assignedEntity></author>')


def receivers(profile: str, v: VersionPublic) -> tuple[str, str]:
    if profile == "fda" and _value(v.report_type) == "study" and ((v.detail or {}).get("fda") or {}).get("ind"):
        return FDA_PREMARKET
    return PROFILES[profile]


def _device(kind: str, ident: str, root: str) -> str:
    return (f'<{kind} typeCode="{"RCV" if kind == "receiver" else "SND"}"><device classCode="DEV" '
            f'determinerCode="INSTANCE">{_el("id", extension=ident, root=root)}</device></{kind}>')


def _message(o: list, v: VersionPublic, profile: str, sender: str, receiver: str, created: str,
             registered: dict | None, china: dict) -> None:
    a = o.append
    detail = v.detail or {}
    fda = (detail.get("fda") or {}) if profile == "fda" else {}
    nmpa = regional_cn.derived(v, china.get("approved_in_cn") or [], china.get("holder_ids") or []) \
        if profile == "nmpa" else {}
    message_id = v.message_id or f"{v.sender_case_id}-v{v.version}"
    report_id = v.safety_report_id or v.sender_case_id
    a(f'<{MESSAGE}>{_el("id", extension=message_id, root="2.16.840.1.113883.3.989.2.1.3.1")}'
      f'<creationTime value="{created}"/><interactionId extension="{MESSAGE}" root="2.16.840.1.113883.1.6"/>'
      '<processingCode code="P"/><processingModeCode code="T"/><acceptAckCode code="AL"/>'
      f'{_device("receiver", receiver, "2.16.840.1.113883.3.989.2.1.3.12")}'
      f'{_device("sender", sender, "2.16.840.1.113883.3.989.2.1.3.11")}'
      '<controlActProcess classCode="CACT" moodCode="EVN"><code code="PORR_TE049016UV" codeSystem="2.16.840.1.113883.1.18"/>'
      f'<effectiveTime value="{_ts(v.created_at)}"/>'  # C.1.2: when this version was stored
      '<subject typeCode="SUBJ"><investigationEvent classCode="INVSTG" moodCode="EVN">'
      f'{_el("id", extension=report_id, root=ID_SAFETY_REPORT)}'
      f'{_el("id", extension=v.worldwide_id or report_id, root=ID_WORLDWIDE)}'
      f'<code code="PAT_ADV_EVNT" codeSystem="2.16.840.1.113883.5.4"/>{_el("text", v.narrative or "No narrative provided.")}'
      f'<statusCode code="active"/><effectiveTime>'
      f'<low value="{_as_sent(detail.get("received_as_sent"), v.received_date)}"/></effectiveTime>'
      f'<availabilityTime value="{_as_sent(detail.get("latest_info_as_sent"), v.latest_info_date)}"/>')
    for title in detail.get("documents") or []:  # C.1.6.1.r.1
        a(f'<reference typeCode="REFR"><document classCode="DOC" moodCode="EVN"><code code="1" codeSystem="{CS["document"]}"/>'
          f'{_el("title", title)}</document></reference>')
    for ref in detail.get("literature", []):  # C.4.r.1
        a(f'<reference typeCode="REFR"><document classCode="DOC" moodCode="EVN"><code code="2" codeSystem="{CS["document"]}"/>'
          f'{_el("bibliographicDesignationText", ref)}</document></reference>')
    a('<component typeCode="COMP"><adverseEventAssessment classCode="INVSTG" moodCode="EVN"><subject1 typeCode="SBJ">'
      '<primaryRole classCode="INVSBJ">')
    _patient(o, v, registered, profile, nmpa)
    extras = detail.get("reactions") or []
    for i, r in enumerate(v.reactions):
        _reaction(o, i, r, extras[i] if i < len(extras) else {}, fda, profile, _value(v.source_format) == "e2b")
    _tests(o, detail.get("tests") or [])
    a(f'<subjectOf2 typeCode="SBJ"><organizer classCode="CATEGORY" moodCode="EVN"><code code="4" codeSystem="{ORGANIZER}"/>')
    refs = [_drug(o, i, d, nmpa.get("drugs") or {}) for i, d in enumerate(v.drugs)]
    a("</organizer></subjectOf2></primaryRole></subject1>")
    for ref, d in zip(refs, v.drugs):  # G.k.1
        a(f'<component typeCode="COMP"><causalityAssessment {_OBS}><code code="20" codeSystem="{OBS}"/>'
          f'<value xsi:type="CE" code="{_REV["role"][_value(d.role)]}" codeSystem="{CS["role"]}"/>'
          f'<subject2 typeCode="SUBJ"><productUseReference classCode="SBADM" moodCode="EVN"><id root="{_x(ref)}"/>'
          '</productUseReference></subject2></causalityAssessment></component>')
        other = (d.detail or {}).get("fda_other_role") if profile == "fda" else None
        if other:  # FDA.G.k.1.a beside G.k.1
            a(f'<component typeCode="COMP"><causalityAssessment {_OBS}><code code="20" codeSystem="{OBS}"/>'
              f'{_el("value", xsi_type="CE", code=other, codeSystem=FDA_OTHER_ROLES)}'
              f'<subject2 typeCode="SUBJ"><productUseReference classCode="SBADM" moodCode="EVN"><id root="{_x(ref)}"/>'
              '</productUseReference></subject2></causalityAssessment></component>')
    for ref, d in zip(refs, v.drugs):  # G.k.9.i.2.r: source, method, result of each assessment
        for x in (d.detail or {}).get("relatedness") or _reported_causality(d, v.reactions, extras):
            a(f'<component typeCode="COMP"><causalityAssessment {_OBS}><code code="39" codeSystem="{OBS}"/>'
              f'{_el("value", x.get("result"), xsi_type="ST") if x.get("result") else _el("value", xsi_type="ST", nullFlavor="NI")}')
            if x.get("method"):
                a(f'<methodCode><originalText>{_x(x["method"])}</originalText></methodCode>')
            if x.get("source"):
                a(f'<author typeCode="AUT"><assignedEntity classCode="ASSIGNED"><code><originalText>{_x(x["source"])}'
                  '</originalText></code></assignedEntity></author>')
            if x.get("reaction_ref"):
                a(f'<subject1 typeCode="SUBJ"><adverseEffectReference classCode="OBS" moodCode="EVN">'
                  f'{_el("id", root=x["reaction_ref"])}</adverseEffectReference></subject1>')
            a(f'<subject2 typeCode="SUBJ"><productUseReference classCode="SBADM" moodCode="EVN"><id root="{_x(ref)}"/>'
              '</productUseReference></subject2></causalityAssessment></component>')
    if v.reporter_comments:
        _comment(o, v.reporter_comments, "3")
    for c in detail.get("sender_diagnosis") or []:  # H.3.r
        a(f'<component1 typeCode="COMP"><observationEvent {_OBS}><code code="15" codeSystem="{OBS}"/>{_meddra(c)}'
          f'<author typeCode="AUT"><assignedEntity classCode="ASSIGNED"><code code="1" codeSystem="{CS["author"]}"/>'
          '</assignedEntity></author></observationEvent></component1>')
    if v.sender_comments:
        _comment(o, v.sender_comments, "1")
    a("</adverseEventAssessment></component>")
    documents = detail.get("additional_documents")
    _event_flag(o, "1", documents if documents is not None else bool(detail.get("documents")))  # C.1.6.1
    expedited = detail.get("expedited")
    _event_flag(o, "23", expedited if expedited is not None else v.serious)  # C.1.7
    if profile == "fda":
        code = fda.get("local_report_type") or ("1" if v.serious else "3")
        a(f'<component typeCode="COMP"><observationEvent {_OBS}><code code="C54588" codeSystem="{NCI}"/>'  # FDA.C.1.7.1
          f'{_el("value", xsi_type="CE", code=code, codeSystem=CS["fda_report_type"])}</observationEvent></component>')
        _event_flag(o, "C156384", bool(fda.get("combination_product")), NCI)  # FDA.C.1.12
    if nmpa:
        a(regional_cn.event_xml(nmpa))  # C.1.CN
    if detail.get("first_sender"):
        _related(o, "1", f'<author typeCode="AUT"><assignedEntity classCode="ASSIGNED">'
                         f'{_el("code", code=detail["first_sender"], codeSystem=CS["first_sender"])}</assignedEntity></author>')
    sources = detail.get("sources") or [{"qualification": _value(v.reporter_qualification),
                                         "country": v.reporter_country, "primary_for_regulatory": True}]
    for s in sources:
        _related(o, "2", _source(s), bool(s.get("primary_for_regulatory")))
    for linked in detail.get("linked_reports") or []:  # C.1.10.r
        _related(o, None, _el("id", extension=linked, root=ID_WORLDWIDE))
    sender_detail = detail.get("sender") or {}
    a(f'<subjectOf1 typeCode="SUBJ"><controlActEvent classCode="CACT" moodCode="EVN"><author typeCode="AUT">'
      f'<assignedEntity classCode="ASSIGNED">{_el("code", code=sender_detail.get("type") or "1", codeSystem=CS["sender_type"])}')
    if sender_detail.get("organisation"):  # C.3.2
        a(f'<representedOrganization classCode="ORG" determinerCode="INSTANCE"><assignedEntity classCode="ASSIGNED">'
          f'<representedOrganization classCode="ORG" determinerCode="INSTANCE">{_el("name", sender_detail["organisation"])}'
          '</representedOrganization></assignedEntity></representedOrganization>')
    a("</assignedEntity></author></controlActEvent></subjectOf1>")
    others = detail.get("other_case_ids") or []
    for other in others:  # C.1.9.1.r (entries stored before the source was kept are ids only)
        other = other if isinstance(other, dict) else {"id": other}
        a(f'<subjectOf1 typeCode="SUBJ"><controlActEvent classCode="CACT" moodCode="EVN">'
          f'{_el("id", assigningAuthorityName=other.get("source"), extension=other.get("id"), root=ID_OTHER_CASE)}'
          '</controlActEvent></subjectOf1>')
    _characteristic(o, "1", f'<value xsi:type="CE" code="{_REV["type"].get(_value(v.report_type), "4")}" '
                            f'codeSystem="{CS["report_type"]}"/>')
    _characteristic(o, "2", _TRUE if others else _NI)  # C.1.9.1
    if v.nullification:
        _characteristic(o, "3", f'<value xsi:type="CE" code="{"1" if v.nullification == "nullification" else "2"}" '
                                f'codeSystem="{CS["nullification"]}"/>')
        if v.nullification_reason:
            _characteristic(o, "4", f'<value xsi:type="CE"><originalText>{_x(v.nullification_reason)}</originalText></value>')
    a(f"</investigationEvent></subject></controlActProcess></{MESSAGE}>")


def build_batch(versions: Iterable[tuple], profile: str, sender: str, batch_id: str,
                now: dt.datetime, receiver: str | None = None) -> bytes:
    """`versions`: each case version with its registered patient's sex and birth year (or None), read once,
    and optionally {"approved_in_cn": [...], "holder_ids": [...]}: per drug, whether its registry product is
    approved in China and its holder's NMPA identifier (None: not registered).
    The batch is addressed (N.1.4) as its first message."""
    created = _ts(now)
    parts = [(f"<?xml version='1.0' encoding='UTF-8'?>\n<{BATCH_ROOT} xmlns=\"{HL7}\" xmlns:xsi=\"{XSI}\" "
              f'ITSVersion="XML_1.0">{_el("id", extension=batch_id, root="2.16.840.1.113883.3.989.2.1.3.22")}'
              f'<creationTime value="{created}"/><responseModeCode code="D"/>'
              f'<interactionId extension="{BATCH_ROOT}" root="2.16.840.1.113883.1.6"/>'
              '<name code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.1"/>').encode()]
    batch_receiver = receiver
    o: list[str] = []
    for v, registered, *rest in versions:
        batch_receiver = batch_receiver or receivers(profile, v)[0]
        _message(o, v, profile, sender, receiver or receivers(profile, v)[1], created, registered, rest[0] if rest else {})
        parts.append("".join(o).encode())  # one message at a time: the pieces never pile up
        o.clear()
    parts.append((f'{_device("receiver", batch_receiver or PROFILES[profile][0], "2.16.840.1.113883.3.989.2.1.3.14")}'
                  f'{_device("sender", sender, "2.16.840.1.113883.3.989.2.1.3.13")}</{BATCH_ROOT}>').encode())
    return b"".join(parts)

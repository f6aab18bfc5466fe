"""E2B(R3) ICSR message -> one plain description of the case (pure: no database, no web).

XPaths follow the ICH E2B(R3) implementation guide (HL7 v3 PORR_IN049016UV). Values are
kept as sent (codes and free text); a nullFlavor is kept beside the element it stands for, so
"asked but unknown" (ASKU) stays distinct from "not sent". Personal data of the patient
(name or initials, identifiers) is never kept: the caller turns it into a pseudonym.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from functools import lru_cache

from lxml import etree

from pv_service.e2b import regional_cn
from pv_service.e2b.reader import HL7, MESSAGE, NS

XSI = "http://www.w3.org/2001/XMLSchema-instance"

# ICH code systems (OIDs) that tell repeated templates apart.
OBS = "2.16.840.1.113883.3.989.2.1.1.19"  # observation codes
ORGANIZER = "2.16.840.1.113883.3.989.2.1.1.20"
CHARACTERISTIC = "2.16.840.1.113883.3.989.2.1.1.23"
ID_SAFETY_REPORT = "2.16.840.1.113883.3.989.2.1.3.1"
ID_WORLDWIDE = "2.16.840.1.113883.3.989.2.1.3.2"
ID_STUDY_REG = "2.16.840.1.113883.3.989.2.1.3.6"
ID_SPONSOR_STUDY = "2.16.840.1.113883.3.989.2.1.3.5"
ID_OTHER_CASE = "2.16.840.1.113883.3.989.2.1.3.3"
MEDDRA = "2.16.840.1.113883.6.163"
NCI = "2.16.840.1.113883.3.26.1.1"  # NCI thesaurus: FDA's regional codes (FDA.C.1.7.1, FDA.C.1.12, FDA.D.11/12)
FDA_ELEMENTS = "2.16.840.1.113883.3.989.5.1.2.2.1.3"  # FDA.E.i.3.2h required intervention
FDA_IND = "2.16.840.1.113883.3.989.5.1.2.2.1.2.1"  # FDA.C.5.5a IND number where the AE occurred
FDA_PRE_ANDA = "2.16.840.1.113883.3.989.5.1.2.2.1.2.2"  # FDA.C.5.5b pre-ANDA number
FDA_CROSS_IND = "2.16.840.1.113883.3.989.5.1.2.2.1.2.3"  # FDA.C.5.6.r IND of a cross-reported IND
ROLES = "2.16.840.1.113883.3.989.2.1.1.13"  # G.k.1 characterisation of drug role
FDA_OTHER_ROLES = "2.16.840.1.113883.3.989.5.1.2.1.1.8"  # FDA.G.k.1.a other characterisation (similar device)

# E.i.3.2a-f observation codes -> the service's seriousness flags.
SERIOUSNESS_CODES = {"34": "death", "21": "life_threatening", "33": "hospitalisation", "35": "disability",
                     "12": "congenital_anomaly", "26": "other_medically_important"}
DRUG_ROLES = {"1": "suspect", "2": "concomitant", "3": "interacting", "4": "not_administered"}
OUTCOMES = {"1": "recovered", "2": "recovering", "3": "not_recovered", "4": "recovered_with_sequelae",
            "5": "fatal", "0": "unknown"}
REPORT_TYPES = {"1": "spontaneous", "2": "study", "3": "other", "4": "not_available"}
QUALIFICATIONS = {"1": "physician", "2": "pharmacist", "3": "other_health_professional", "4": "lawyer",
                  "5": "consumer"}


@dataclass
class Coded:
    """A value as sent: a code with its system version, free text, or a nullFlavor."""
    code: str | None = None
    version: str | None = None
    text: str | None = None
    null_flavor: str | None = None


@dataclass
class Reaction:
    ref: str | None  # the reaction's id, which G.k.9.i assessments point at
    meddra_version: str | None
    llt_code: str | None
    reported_term: str | None
    start: str | None
    end: str | None
    country: str | None
    seriousness: dict[str, bool | None]  # None: nullFlavor (not known)
    outcome: str | None
    outcome_code: str | None
    translation: str | None = None  # E.i.1.2
    highlighted: str | None = None  # E.i.3.1 code
    medically_confirmed: bool | None = None  # E.i.8
    required_intervention: bool | None = None  # FDA.E.i.3.2h
    required_intervention_null_flavor: str | None = None  # FDA.E.i.3.2h sent as NI (none, or not known)
    verbatim: str | None = None  # E.i.1.1a as the primary source reported it (not the translation)
    line: int | None = None  # the line of its E.i.2.1 code (None where lines are not exact): the ACK names it


@dataclass
class Dosage:
    lot: str | None = None
    lot_null_flavor: str | None = None
    route: str | None = None
    dose: str | None = None
    dose_unit: str | None = None
    start: str | None = None
    end: str | None = None
    route_code: str | None = None  # G.k.4.r.10.2b
    frequency: str | None = None  # G.k.4.r.2 number of units in the interval
    frequency_unit: str | None = None  # G.k.4.r.3 (UCUM)
    text: str | None = None  # G.k.4.r.8 dosage text
    form: str | None = None  # G.k.4.r.9.1 pharmaceutical dose form (free text)
    period_null_flavor: str | None = None  # G.k.4.r.4-6 as one nullFlavor (FDA's ASKU: asked, not known)
    route_version: str | None = None  # G.k.4.r.10.2a route TermID version date / number


@dataclass
class MatrixItem:
    """G.k.9.i: one reaction assessed for this drug: time from the start of the drug (G.k.9.i.3.1) and from
    its last dose (G.k.9.i.3.2) to the reaction, and whether it recurred on readministration (G.k.9.i.4)."""
    reaction_ref: str | None
    start_interval: str | None = None
    start_interval_unit: str | None = None
    last_dose_interval: str | None = None
    last_dose_interval_unit: str | None = None
    recurrence: str | None = None


@dataclass
class Relatedness:
    reaction_ref: str | None
    source: str | None
    method: str | None
    result: str | None


@dataclass
class Ingredient:
    """G.k.2.3.r beyond its name: the substance's TermID (r.2a/b) and strength (r.3a/b)."""
    name: str | None
    code: str | None = None
    code_system: str | None = None
    code_version: str | None = None
    strength: str | None = None
    strength_unit: str | None = None


@dataclass
class Drug:
    ref: str | None
    role: str | None
    role_code: str | None
    name: str | None
    product_code: str | None
    product_code_system: str | None
    authorisation_number: str | None
    holder: str | None
    substances: list[str]
    dosages: list[Dosage]
    indications: list[Coded]
    action_taken: str | None
    relatedness: list[Relatedness] = field(default_factory=list)
    matrix: list[MatrixItem] = field(default_factory=list)
    authorisation_country: str | None = None  # G.k.3.2
    obtained_country: str | None = None  # G.k.2.4 country where the drug was obtained
    cumulative_dose: str | None = None  # G.k.5a
    cumulative_dose_unit: str | None = None  # G.k.5b
    additional_info: list[dict] = field(default_factory=list)  # G.k.10.r (code, code system as sent)
    fda_other_role: str | None = None  # FDA.G.k.1.a, beside G.k.1 (1: similar device)
    ingredients: list[Ingredient] = field(default_factory=list)  # G.k.2.3.r, in the order of `substances`


@dataclass
class Source:
    qualification: str | None
    qualification_code: str | None
    country: str | None
    primary_for_regulatory: bool
    qualification_null_flavor: str | None = None  # C.2.r.4 UNK: asked, not known


@dataclass
class Patient:
    # D.1 initials or name and D.1.1.x record numbers: in memory only, to make the pseudonym; never stored.
    identifiers: list[str]
    has_name: bool
    name_null_flavor: str | None
    sex_code: str | None
    birth_year: int | None
    age: str | None
    age_unit: str | None
    age_group: str | None
    weight_kg: str | None
    height_cm: str | None
    medical_history: list[History]
    medical_history_text: str | None
    past_drugs: list[PastDrug]
    death_date: str | None
    death_causes: list[Coded]
    autopsy: bool | None
    autopsy_causes: list[Coded]
    concomitant_therapies: bool | None = None  # D.7.3
    race: list[str] = field(default_factory=list)  # FDA.D.11.r (NCI codes)
    ethnicity: str | None = None  # FDA.D.12
    race_null_flavor: str | None = None  # FDA.D.11.r sent as a nullFlavor
    ethnicity_null_flavor: str | None = None  # FDA.D.12 sent as a nullFlavor
    parent: dict | None = None  # D.10 (a parent-child / foetus report)
    last_menstrual_period: str | None = None  # D.6
    gestation_period: str | None = None  # D.2.2.1a
    gestation_period_unit: str | None = None  # D.2.2.1b
    sex_null_flavor: str | None = None  # D.5 nullFlavor (UNK, MSK, ASKU, NASK)
    birth_null_flavor: str | None = None  # D.2.1 nullFlavor (MSK: known, withheld)


@dataclass
class History:
    """D.7.1.r: a condition (MedDRA), its dates, whether it continues, comments, family history."""
    code: str | None
    version: str | None
    start: str | None = None
    end: str | None = None
    continuing: bool | None = None
    comments: str | None = None
    family_history: bool | None = None


@dataclass
class PastDrug:
    """D.8.r: name, product code (MPID/PhPID), dates, indication and reaction (MedDRA)."""
    name: str | None
    product_code: str | None = None
    code_system: str | None = None
    start: str | None = None
    end: str | None = None
    indication: Coded = field(default_factory=Coded)
    reaction: Coded = field(default_factory=Coded)


@dataclass
class Test:
    name: Coded
    date: str | None
    result: str | None
    unit: str | None
    result_code: str | None = None  # F.r.3.1
    result_text: str | None = None  # F.r.3.4 unstructured
    low: str | None = None  # F.r.4
    high: str | None = None  # F.r.5
    comments: str | None = None  # F.r.6
    more_info: bool | None = None  # F.r.7


@dataclass
class Icsr:
    message_id: str | None
    message_sender: str | None
    message_receiver: str | None
    message_created: str | None
    line: int | None
    safety_report_id: str | None  # C.1.1
    worldwide_id: str | None  # C.1.8.1
    created: str | None  # C.1.2
    report_type: str | None
    report_type_code: str | None
    received: str | None  # C.1.4
    latest_info: str | None  # C.1.5
    other_case_ids: list[dict]  # C.1.9.1.r: {"source", "id"}
    nullification: str | None  # C.1.11.1: "nullification" or "amendment"
    nullification_reason: str | None
    sources: list[Source]
    literature: list[str]
    study_name: str | None
    study_number: str | None  # C.5.3
    study_type: str | None  # C.5.4
    study_registrations: list[tuple[str | None, str | None]]  # C.5.1.r: (number, country)
    sender_type: str | None
    sender_organisation: str | None
    patient: Patient
    reactions: list[Reaction]
    drugs: list[Drug]
    tests: list[Test]
    narrative: str | None
    reporter_comments: str | None
    sender_diagnosis: list[Coded]
    sender_comments: str | None
    linked_reports: list[str] = field(default_factory=list)  # C.1.10.r
    documents: list[str] = field(default_factory=list)  # C.1.6.1.r.1
    additional_documents: bool | None = None  # C.1.6.1
    expedited: bool | None = None  # C.1.7
    first_sender: str | None = None  # C.1.8.2
    fda: dict = field(default_factory=dict)  # FDA.C.1.7.1, FDA.C.1.12, FDA.C.5.5a/b, FDA.C.5.6.r
    nmpa: dict = field(default_factory=dict)  # NMPA's CN elements (regional_cn.py)


@lru_cache(maxsize=1024)
def _xpath(path: str) -> etree.XPath:
    # Compiled once: node.xpath(str) compiles on every call, five times the cost of evaluating. Without
    # EXSLT regular expressions (none used), which lxml otherwise registers on every call: a third less.
    return etree.XPath(path, namespaces=NS, regexp=False)


def _all(node, path: str) -> list:
    return _xpath(path)(node)


def _one(node, path: str):
    found = _xpath(path)(node)
    return found[0] if found else None


def _attr(node, path: str, name: str) -> str | None:
    el = _one(node, path) if node is not None else None
    return el.get(name) if el is not None else None


def _text(node, path: str) -> str | None:
    el = _one(node, path) if node is not None else None
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _obs(code: str) -> str:
    return f"h:code[@code='{code}' and @codeSystem='{OBS}']"


def _coded(value) -> Coded:
    if value is None:
        return Coded()
    return Coded(value.get("code"), value.get("codeSystemVersion"),
                 (_text(value, "h:originalText") or (value.text or "").strip() or None), value.get("nullFlavor"))


def _bool(value) -> bool | None:
    if value is None or value.get("nullFlavor"):
        return None
    return value.get("value") == "true"


def _year(ts: str | None) -> int | None:
    return int(ts[:4]) if ts and len(ts) >= 4 and ts[:4].isdigit() else None


_H = f"{{{HL7}}}"


def _observations(found: list[tuple]) -> dict[tuple, list]:
    """(code, codeSystem) of each h:code of the _coded_items `found` -> those elements, in document
    order: what items[h:code[@code=.. and @codeSystem=..]] selects, for every code."""
    out: dict[tuple, list] = {}
    for o, codes in found:
        for key in codes:
            same = out.setdefault(key, [])
            if not same or same[-1] is not o:
                same.append(o)
    return out


def _values(node, items: str = "h:outboundRelationship2/h:observation") -> dict:
    """Each element `items` selects -> its first h:value (lxml hands back the same live proxy for an
    element, so they are the keys that _observations' lists hold)."""
    out: dict = {}
    for v in _xpath(items + "/h:value")(node):
        out.setdefault(v.getparent(), v)
    return out


def _all_values(node, items: str) -> dict:
    """Each element `items` selects -> all its h:value, in document order."""
    out: dict = {}
    for v in _xpath(items + "/h:value")(node):
        out.setdefault(v.getparent(), []).append(v)
    return out


def _value(found: dict[tuple, list], values: dict, code: str, system: str = OBS):
    """The first h:value of the observations of `code` (as _one(node, ".../h:observation[...]/h:value"))."""
    return next((values[o] for o in found.get((code, system), ()) if o in values), None)


def _coded_items(node, items: str) -> list[tuple]:
    """(element, [(code, codeSystem) of each of its h:code]) for each element `items` selects that has
    an h:code, in document order: one XPath for what several items[h:code...] predicates select."""
    found: list[tuple] = []
    for c in _xpath(items + "/h:code")(node):
        o = c.getparent()
        if not found or found[-1][0] is not o:
            found.append((o, []))
        found[-1][1].append((c.get("code"), c.get("codeSystem")))
    return found


def _pick(found: list[tuple], code: str, system: str | None = None) -> list:
    """The elements of _coded_items with [h:code/@code=code and h:code/@codeSystem=system] (either h:code:
    XPath's existential comparisons), or [h:code/@code=code] without a system."""
    return [o for o, codes in found if any(c == code for c, _ in codes)
            and (system is None or any(s == system for _, s in codes))]


def _reaction(obs) -> Reaction:
    value = _one(obs, "h:value")
    items, values = _coded_items(obs, "h:outboundRelationship2/h:observation"), _values(obs)
    related = _observations(items)
    flags = {}
    for code, name in SERIOUSNESS_CODES.items():
        flags[name] = _bool(_value(related, values, code))
    outcome_code = _get(_value(related, values, "27"), "code")
    intervention = _first(_pick(items, "7", FDA_ELEMENTS), values)
    translation = _value(related, values, "30")
    translation = (translation.text.strip() or None) if translation is not None and translation.text is not None else None
    return Reaction(
        ref=_attr(obs, "h:id", "root"),
        meddra_version=value.get("codeSystemVersion") if value is not None else None,
        llt_code=value.get("code") if value is not None else None,
        reported_term=_text(obs, "h:value/h:originalText") or translation,
        start=_attr(obs, "h:effectiveTime/h:low", "value") or _attr(obs, "h:effectiveTime", "value"),
        end=_attr(obs, "h:effectiveTime/h:high", "value"),
        country=_attr(obs, "h:location/h:locatedEntity/h:locatedPlace/h:code", "code"),
        seriousness=flags, outcome=OUTCOMES.get(outcome_code or ""), outcome_code=outcome_code,
        translation=translation,
        highlighted=_get(_value(related, values, "37"), "code"),
        medically_confirmed=_bool(_value(related, values, "24")),
        required_intervention=_bool(intervention),
        required_intervention_null_flavor=_get(intervention, "nullFlavor"),
        verbatim=_text(obs, "h:value/h:originalText"),
        line=(value if value is not None else obs).sourceline,
    )


def _get(el, name: str) -> str | None:
    return el.get(name) if el is not None else None


_LOW, _HIGH, _TIME, _COMP = f"{_H}low", f"{_H}high", f"{_H}effectiveTime", f"{_H}comp"
_DOSAGE_DESCENDANTS = " | ".join((".//h:productInstanceInstance/h:lotNumberText", "h:effectiveTime//h:period",
                                  ".//h:effectiveTime/h:low", ".//h:comp/h:low", ".//h:effectiveTime/h:high",
                                  ".//h:comp/h:high"))


def _dosage_descendants(sa) -> dict:
    """The first element of each path of _DOSAGE_DESCENDANTS, in one search: keyed by its tag, and
    low/high by (parent's tag, tag) (each path ends in a pair of its own)."""
    first: dict = {}
    for el in _xpath(_DOSAGE_DESCENDANTS)(sa):
        first.setdefault((el.getparent().tag, el.tag) if el.tag in (_LOW, _HIGH) else el.tag, el)
    return first


def _dosage(sa) -> Dosage:
    # Each element selected once and read for all its attributes (this runs for every dosage of a batch).
    route, dose, time = _one(sa, "h:routeCode"), _one(sa, "h:doseQuantity"), _one(sa, "h:effectiveTime")
    first = _dosage_descendants(sa)
    lot, period = first.get(f"{_H}lotNumberText"), first.get(f"{_H}period")
    return Dosage(
        lot=(lot.text.strip() or None) if lot is not None and lot.text is not None else None,
        lot_null_flavor=_get(lot, "nullFlavor"),
        route=_text(sa, "h:routeCode/h:originalText") or _get(route, "code"),
        dose=_get(dose, "value"), dose_unit=_get(dose, "unit"),
        start=_get(first.get((_TIME, _LOW)), "value") or _get(first.get((_COMP, _LOW)), "value"),
        end=_get(first.get((_TIME, _HIGH)), "value") or _get(first.get((_COMP, _HIGH)), "value"),
        route_code=_get(route, "code"),
        frequency=_get(period, "value"), frequency_unit=_get(period, "unit"),
        text=_text(sa, "h:text"), form=_text(sa, "h:consumable/h:instanceOfKind/h:kindOfProduct/h:formCode/h:originalText"),
        period_null_flavor=_get(time, "nullFlavor"), route_version=_get(route, "codeSystemVersion"),
    )


def _matrix(sa, recurrences: list) -> list[MatrixItem]:
    """G.k.9.i.1, .3 and .4 of one drug, keyed by the reaction they point at (E.i id); `recurrences`:
    its h:outboundRelationship2/h:observation of code 31."""
    items: dict[str | None, MatrixItem] = {}

    def item(ref):
        return items.setdefault(ref, MatrixItem(ref))

    for rel in _all(sa, "h:outboundRelationship1[h:actReference]"):
        it = item(_attr(rel, "h:actReference/h:id", "root"))
        pause = _one(rel, "h:pauseQuantity")
        value, unit = _get(pause, "value"), _get(pause, "unit")
        if rel.get("typeCode") == "SAS":
            it.start_interval, it.start_interval_unit = value, unit
        elif rel.get("typeCode") == "SAE":
            it.last_dose_interval, it.last_dose_interval_unit = value, unit
    for obs in recurrences:
        item(_attr(obs, "h:outboundRelationship1/h:actReference/h:id", "root")).recurrence = _attr(obs, "h:value", "code")
    return list(items.values())


def _drug(sa, roles: dict[str, str]) -> Drug:
    product = _one(sa, "h:consumable/h:instanceOfKind/h:kindOfProduct")
    code = _one(product, "h:code") if product is not None else None
    related, values = _coded_items(sa, "h:outboundRelationship2/h:observation"), _all_values(sa, "h:outboundRelationship2/h:observation")
    cumulative = next((v for o in _strict(related, "14") if o.getparent().get("typeCode") == "SUMM"
                       for v in values.get(o, ())), None)
    ref = _attr(sa, "h:id", "root")
    role_code = roles.get(ref or "")
    return Drug(
        ref=ref, role=DRUG_ROLES.get(role_code or ""), role_code=role_code,
        name=_text(product, "h:name"),
        product_code=_get(code, "code"), product_code_system=_get(code, "codeSystem"),
        authorisation_number=_attr(product, "h:asManufacturedProduct/h:subjectOf/h:approval/h:id", "extension"),
        holder=_text(product, "h:asManufacturedProduct/h:subjectOf/h:approval/h:holder/h:role/h:playingOrganization/h:name"),
        substances=[t.strip() for t in _all(product, "h:ingredient/h:ingredientSubstance/h:name/text()")]
        if product is not None else [],
        dosages=[_dosage(d) for d in _all(sa, "h:outboundRelationship2/h:substanceAdministration")],
        indications=[_coded(v) for v in _all(sa, f"h:inboundRelationship/h:observation[{_obs('19')}]/h:value")],
        action_taken=_attr(sa, "h:inboundRelationship[@typeCode='CAUS']/h:act/h:code", "code"),
        matrix=_matrix(sa, _strict(related, "31")),
        cumulative_dose=_get(cumulative, "value"), cumulative_dose_unit=_get(cumulative, "unit"),
        additional_info=[{"code": v.get("code"), "code_system": v.get("codeSystem")} for o in _strict(related, "9")
                         if o.getparent().get("typeCode") == "REFR" for v in values.get(o, ())],
        authorisation_country=_attr(product, "h:asManufacturedProduct/h:subjectOf/h:approval/h:author"
                                             "/h:territorialAuthority/h:territory/h:code", "code"),
        obtained_country=_text(sa, "h:consumable/h:instanceOfKind/h:subjectOf/h:productEvent[h:code/@code='1']"
                                   "/h:performer/h:assignedEntity/h:representedOrganization/h:addr/h:country"),
        ingredients=[_ingredient(i) for i in _all(product, "h:ingredient")] if product is not None else [],
    )


def _ingredient(el) -> Ingredient:
    code, strength = _one(el, "h:ingredientSubstance/h:code"), _one(el, "h:quantity/h:numerator")
    return Ingredient(_text(el, "h:ingredientSubstance/h:name"), _get(code, "code"), _get(code, "codeSystem"),
                      _get(code, "codeSystemVersion"), _get(strength, "value"), _get(strength, "unit"))


def _source(rel) -> Source:
    entity = _one(rel, "h:relatedInvestigation/h:subjectOf2/h:controlActEvent/h:author/h:assignedEntity")
    q = _attr(entity, "h:assignedPerson/h:asQualifiedEntity/h:code", "code")
    return Source(QUALIFICATIONS.get(q or ""), q,
                  _attr(entity, "h:assignedPerson/h:asLocatedEntity/h:location/h:code", "code"),
                  _attr(rel, "h:priorityNumber", "value") == "1",
                  _attr(entity, "h:assignedPerson/h:asQualifiedEntity/h:code", "nullFlavor"))


def _patient(role) -> Patient:
    return _patient_of(role, _coded_items(role, "h:subjectOf2/h:observation"),
                       _coded_items(role, "h:subjectOf2/h:organizer"))


def _patient_of(role, observations: list[tuple], organizers: list[tuple]) -> Patient:
    person = _one(role, "h:player1")
    values = _values(role, "h:subjectOf2/h:observation")
    obs: dict[str, list] = {}  # code of the first h:code -> the observations with an h:code in `system`
    fda: dict[str, list] = {}
    fda_null: dict[str, str] = {}  # FDA.D.11.r / D.12 sent as a nullFlavor (NA: not applicable, ...)
    for o, codes in observations:
        if any(s == OBS for _, s in codes):
            obs.setdefault(codes[0][0], []).append(o)
        if any(s == NCI for _, s in codes):
            fda.setdefault(codes[0][0], []).append(_get(values.get(o), "code"))
            if _get(values.get(o), "nullFlavor"):
                fda_null.setdefault(codes[0][0], _get(values.get(o), "nullFlavor"))

    def first_value(code: str):
        found = obs.get(code)
        return values.get(found[0]) if found else None

    history = next(iter(_pick(organizers, "1", ORGANIZER)), None)
    drugs = next(iter(_pick(organizers, "2", ORGANIZER)), None)
    age, weight, height = first_value("3"), first_value("7"), first_value("17")
    menstrual, gestation = first_value("22"), first_value("16")
    autopsy_obs = obs.get("5", [None])[0]
    name = _one(person, "h:name")
    ids = [(name.text or "").strip()] if name is not None and (name.text or "").strip() else []
    ids += [i.get("extension") for i in _all(person, "h:asIdentifiedEntity/h:id[@extension]")]
    return Patient(
        identifiers=ids,
        has_name=name is not None and bool((name.text or "").strip()),
        name_null_flavor=name.get("nullFlavor") if name is not None else None,
        sex_code=_attr(person, "h:administrativeGenderCode", "code"),
        birth_year=_year(_attr(person, "h:birthTime", "value")),
        sex_null_flavor=_attr(person, "h:administrativeGenderCode", "nullFlavor"),
        birth_null_flavor=_attr(person, "h:birthTime", "nullFlavor"),
        age=age.get("value") if age is not None else None, age_unit=age.get("unit") if age is not None else None,
        age_group=_get(first_value("4"), "code"),
        weight_kg=weight.get("value") if weight is not None else None,
        height_cm=height.get("value") if height is not None else None,
        medical_history=[_history(o) for o in _all(history, f"h:component/h:observation[not(h:code/@codeSystem='{OBS}')]")] if history is not None else [],
        medical_history_text=_text(history, f"h:component/h:observation[{_obs('18')}]/h:value")
        if history is not None else None,
        concomitant_therapies=_bool(_one(history, f"h:component/h:observation[{_obs('11')}]/h:value"))
        if history is not None else None,
        past_drugs=[_past_drug(sa) for sa in _all(drugs, "h:component/h:substanceAdministration")]
        if drugs is not None else [],
        race=[c for c in fda.get("C17049", []) if c], ethnicity=(fda.get("C16564") or [None])[0],
        race_null_flavor=fda_null.get("C17049"), ethnicity_null_flavor=fda_null.get("C16564"),
        parent=_parent(person),
        last_menstrual_period=_get(menstrual, "value"),
        gestation_period=_get(gestation, "value"), gestation_period_unit=_get(gestation, "unit"),
        death_date=_attr(person, "h:deceasedTime", "value"),
        death_causes=[_coded(values.get(o)) for o in obs.get("32", [])],
        autopsy=_bool(values.get(autopsy_obs)) if autopsy_obs is not None else None,
        autopsy_causes=[_coded(v) for v in _all(autopsy_obs,
            f"h:outboundRelationship2/h:observation[{_obs('8')}]/h:value")]
        if autopsy_obs is not None else [],
    )


def _organizer(role, code: str):
    return _one(role, f"h:subjectOf2/h:organizer[h:code/@code='{code}' and h:code/@codeSystem='{ORGANIZER}']")


def _parent(person) -> dict | None:
    """D.10: the parent; initials are never kept (name_null_flavor MSK says there were some)."""
    role = _one(person, "h:role[h:code/@code='PRN']") if person is not None else None
    if role is None:
        return None
    who = _one(role, "h:associatedPerson")
    name = _one(who, "h:name") if who is not None else None
    values = {}
    for o in _all(role, f"h:subjectOf2/h:observation[h:code/@codeSystem='{OBS}']"):
        values.setdefault(_attr(o, "h:code", "code"), _one(o, "h:value"))

    def value(code: str, attr: str = "value"):
        v = values.get(code)
        return v.get(attr) if v is not None else None

    history, drugs = _organizer(role, "1"), _organizer(role, "2")
    return {
        "name_null_flavor": None if name is None else ("MSK" if (name.text or "").strip() else name.get("nullFlavor")),
        "sex_code": _attr(who, "h:administrativeGenderCode", "code"),
        "birth_year": _year(_attr(who, "h:birthTime", "value")),
        "age": value("3"), "age_unit": value("3", "unit"), "last_menstrual_period": value("22"),  # D.10.2.2, D.10.3
        "weight_kg": value("7"), "height_cm": value("17"),  # D.10.4, D.10.5
        "medical_history": [asdict(_history(o)) for o in _all(history, f"h:component/h:observation[not(h:code/@codeSystem='{OBS}')]")] if history is not None else [],
        "medical_history_text": _text(history, f"h:component/h:observation[{_obs('18')}]/h:value")
        if history is not None else None,
        "past_drugs": [asdict(_past_drug(sa)) for sa in _all(drugs, "h:component/h:substanceAdministration")] if drugs is not None else [],
    }


def _history(obs) -> History:
    code = _one(obs, "h:code")
    return History(
        code.get("code"), code.get("codeSystemVersion"),
        start=_attr(obs, "h:effectiveTime/h:low", "value"), end=_attr(obs, "h:effectiveTime/h:high", "value"),
        continuing=_bool(_one(obs, f"h:inboundRelationship/h:observation[{_obs('13')}]/h:value")),
        comments=_text(obs, f"h:outboundRelationship2/h:observation[{_obs('10')}]/h:value"),
        family_history=_bool(_one(obs, f"h:outboundRelationship2/h:observation[{_obs('38')}]/h:value")))


def _past_drug(sa) -> PastDrug:
    kind = _one(sa, "h:consumable/h:instanceOfKind/h:kindOfProduct")
    return PastDrug(
        _text(kind, "h:name"), _attr(kind, "h:code", "code"), _attr(kind, "h:code", "codeSystem"),
        start=_attr(sa, "h:effectiveTime/h:low", "value"), end=_attr(sa, "h:effectiveTime/h:high", "value"),
        indication=_coded(_one(sa, f"h:outboundRelationship2[@typeCode='RSON']/h:observation[{_obs('19')}]/h:value")),
        reaction=_coded(_one(sa, f"h:outboundRelationship2[@typeCode='CAUS']/h:observation[{_obs('29')}]/h:value")))


def _test(obs) -> Test:
    value = _one(obs, "h:value")
    kind = value.get(f"{{{XSI}}}type", "") if value is not None else ""
    result = unit = text = None
    if kind == "ED" or kind == "ST":
        text = (value.text or "").strip() or None
    elif value is not None:
        center = _one(value, "h:center")
        quantity = center if center is not None else value
        result, unit = quantity.get("value"), quantity.get("unit")
    return Test(_coded(_one(obs, "h:code")), _attr(obs, "h:effectiveTime", "value"), result, unit,
                result_code=_attr(obs, "h:interpretationCode", "code"), result_text=text,
                low=_attr(obs, "h:referenceRange/h:observationRange[h:interpretationCode/@code='L']/h:value", "value"),
                high=_attr(obs, "h:referenceRange/h:observationRange[h:interpretationCode/@code='H']/h:value", "value"),
                comments=_text(obs, f"h:outboundRelationship2/h:observation[{_obs('10')}]/h:value"),
                more_info=_bool(_one(obs, f"h:outboundRelationship2/h:observation[{_obs('25')}]/h:value")))


def _comment(comments: list, author_code: str) -> str | None:
    for c in comments:
        if _attr(c, "h:author/h:assignedEntity/h:code", "code") == author_code:
            return _text(c, "h:value")
    return None


def _first(found: list, values: dict):
    """The first h:value of the elements `found` (as _one(node, "items[...]/h:value"))."""
    return next((values[o] for o in found if o in values), None)


def _strict(found: list[tuple], code: str, system: str = OBS) -> list:
    """The elements of _coded_items with [h:code[@code=code and @codeSystem=system]] (one h:code both)."""
    return [o for o, codes in found if (code, system) in codes]


def parse_message(message: etree._Element) -> Icsr:
    """One PORR_IN049016UV element (already schema-valid) -> Icsr."""
    event = _one(message, "h:controlActProcess/h:subject/h:investigationEvent")
    assessment = _one(event, "h:component/h:adverseEventAssessment")
    role = _one(assessment, "h:subject1/h:primaryRole")
    # Each list of coded siblings selected once, then picked from by code (the predicates of the guide).
    causality = _coded_items(assessment, "h:component/h:causalityAssessment")
    observations, organizers = _coded_items(role, "h:subjectOf2/h:observation"), _coded_items(role, "h:subjectOf2/h:organizer")
    events, event_values = _coded_items(event, "h:component/h:observationEvent"), _values(event, "h:component/h:observationEvent")
    characteristics = _coded_items(event, "h:subjectOf2/h:investigationCharacteristic")
    characteristic_values = _values(event, "h:subjectOf2/h:investigationCharacteristic")
    assessment_events = _coded_items(assessment, "h:component1/h:observationEvent")
    comments = _strict(assessment_events, "10")

    def characteristic(code: str):
        return _first(_pick(characteristics, code, CHARACTERISTIC), characteristic_values)

    # G.k.1 by its own code system: FDA's other characterisation (FDA.G.k.1.a) is an observation of the
    # same code whose code 1 (similar device) was read as the role 1 (suspect) over a drug not administered
    roles, other_roles = {}, {}
    for ca in _strict(causality, "20"):
        ref, value = _attr(ca, "h:subject2/h:productUseReference/h:id", "root"), _one(ca, "h:value")
        system = _get(value, "codeSystem")
        if system == FDA_OTHER_ROLES:
            other_roles.setdefault(ref, _get(value, "code"))
        elif system in (ROLES, None):
            roles.setdefault(ref, _get(value, "code"))
    drugs = [_drug(sa, roles) for org in _pick(organizers, "4", ORGANIZER)
             for sa in _all(org, "h:component/h:substanceAdministration")]
    by_ref = {d.ref: d for d in drugs}
    for ref, code in other_roles.items():
        if ref in by_ref:
            by_ref[ref].fda_other_role = code
    for ca in _strict(causality, "39"):
        drug = by_ref.get(_attr(ca, "h:subject2/h:productUseReference/h:id", "root"))
        if drug is not None:
            drug.relatedness.append(Relatedness(
                _attr(ca, "h:subject1/h:adverseEffectReference/h:id", "root"),
                _text(ca, "h:author/h:assignedEntity/h:code/h:originalText"),
                _text(ca, "h:methodCode/h:originalText"), _text(ca, "h:value")))
    report_type = characteristic("1")
    nullification = characteristic("3")
    null_reason = characteristic("4")
    null_code = nullification.get("code") if nullification is not None else None
    sender = _one(event, "h:subjectOf1/h:controlActEvent/h:author/h:assignedEntity")
    study = _one(role, "h:subjectOf1/h:researchStudy")
    return Icsr(
        message_id=_attr(message, "h:id", "extension"),
        message_sender=_attr(message, "h:sender/h:device/h:id", "extension"),
        message_receiver=_attr(message, "h:receiver/h:device/h:id", "extension"),
        message_created=_attr(message, "h:creationTime", "value"),
        line=message.sourceline,
        safety_report_id=_attr(event, f"h:id[@root='{ID_SAFETY_REPORT}']", "extension"),
        worldwide_id=_attr(event, f"h:id[@root='{ID_WORLDWIDE}']", "extension"),
        created=_attr(message, "h:controlActProcess/h:effectiveTime", "value"),
        report_type=REPORT_TYPES.get(report_type.get("code") or "") if report_type is not None else None,
        report_type_code=report_type.get("code") if report_type is not None else None,
        received=_attr(event, "h:effectiveTime/h:low", "value"),
        latest_info=_attr(event, "h:availabilityTime", "value"),
        other_case_ids=[{"source": i.get("assigningAuthorityName"), "id": i.get("extension")} for i in _all(event, "h:subjectOf1/h:controlActEvent/h:id[@extension]")],
        nullification={"1": "nullification", "2": "amendment"}.get(null_code or ""),
        nullification_reason=_text(null_reason, "h:originalText") if null_reason is not None else None,
        sources=[_source(r) for r in _all(event,
            "h:outboundRelationship[h:relatedInvestigation/h:code/@code='2']")],
        literature=[t.strip() for t in _all(event,
            "h:reference/h:document/h:bibliographicDesignationText/text()")],
        study_name=_text(study, "h:title") if study is not None else None,
        study_number=_attr(study, f"h:id[@root='{ID_SPONSOR_STUDY}']", "extension"),
        study_type=_attr(study, "h:code", "code"),
        study_registrations=[(i.get("extension"), _attr(i.getparent(), ".//h:governingPlace/h:code", "code"))
                             for i in _all(study, f"h:authorization/h:studyRegistration/h:id[@root='{ID_STUDY_REG}']")]
        if study is not None else [],
        sender_type=_attr(sender, "h:code", "code"),
        sender_organisation=_text(sender, "h:representedOrganization/h:assignedEntity/h:representedOrganization/h:name"),
        patient=_patient_of(role, observations, organizers),
        reactions=[_reaction(o) for o in _strict(observations, "29")],
        drugs=drugs,
        tests=[_test(o) for org in _pick(organizers, "3", ORGANIZER) for o in _all(org, "h:component/h:observation")],
        narrative=_text(event, "h:text"),
        reporter_comments=_comment(comments, "3"),
        sender_diagnosis=[_coded(_one(o, "h:value")) for o in _strict(assessment_events, "15")],
        sender_comments=_comment(comments, "1"),
        # C.1.10.r: relatedInvestigation with code nullFlavor NA (ICH's and FDA's instances); code 3 is
        # what this service wrote until 3 Dec 2026, read still
        linked_reports=[x.strip() for x in _all(event, "h:outboundRelationship/h:relatedInvestigation[h:code/@nullFlavor='NA' or h:code/@code='3']/h:subjectOf2/h:controlActEvent/h:id/@extension")],
        documents=[t.strip() for t in _all(event, "h:reference/h:document[h:code/@code='1']/h:title/text()")],
        additional_documents=_bool(_first(_strict(events, "1"), event_values)),
        expedited=_bool(_first(_strict(events, "23"), event_values)),
        first_sender=_attr(event, "h:outboundRelationship/h:relatedInvestigation[h:code/@code='1']"
                                  "/h:subjectOf2/h:controlActEvent/h:author/h:assignedEntity/h:code", "code"),
        fda=_fda(study, events, event_values),
        nmpa=regional_cn.read(event),
    )


def _fda(study, events: list[tuple], values: dict) -> dict:
    """FDA's regional elements of the message (FDA's E2B(R3) regional implementation specifications);
    `events`: the _coded_items of the investigationEvent's h:component/h:observationEvent."""
    out = {}
    report_type = _get(_first(_pick(events, "C54588"), values), "code")
    combination = _first(_pick(events, "C156384"), values)
    if report_type:
        out["local_report_type"] = report_type
    if combination is not None:
        out["combination_product"] = _bool(combination)
    if study is not None:
        reg = "h:authorization/h:studyRegistration/h:id[@root='{}']/@extension"
        for key, root in (("ind", FDA_IND), ("pre_anda", FDA_PRE_ANDA)):
            found = _all(study, reg.format(root))
            if found:
                out[key] = found[0]
        cross = _all(study, reg.format(FDA_CROSS_IND))
        if cross:
            out["cross_reported_inds"] = list(cross)
    return out


def messages(tree: etree._ElementTree) -> list[etree._Element]:
    return tree.getroot().xpath(f"h:{MESSAGE}", namespaces=NS)


def hl7_date(ts: str | None) -> dt.date | None:
    """The calendar date of an HL7 TS (YYYYMMDD[HHMMSS][+-ZZZZ]); None when shorter than a day."""
    if not ts or len(ts) < 8 or not ts[:8].isdigit():
        return None
    try:
        return dt.date(int(ts[:4]), int(ts[4:6]), int(ts[6:8]))
    except ValueError:
        return None


def plain(record):
    """dataclasses.asdict for these records without its deep copies (their values are strings,
    numbers, booleans and None, in lists, tuples and records): the same dicts at a fifth of the cost."""
    if is_dataclass(record):
        return {f.name: plain(getattr(record, f.name)) for f in fields(record)}
    if isinstance(record, (list, tuple)):
        return type(record)(plain(v) for v in record)
    if isinstance(record, dict):
        return {k: plain(v) for k, v in record.items()}
    return record

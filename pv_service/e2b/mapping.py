"""An ICSR as read from E2B(R3) -> the rows of one case version (pure: no database, no web).

The rows are those JSON intake stores (cases/intake.py builds the same dictionaries), grown by
the E2B fields; the problems are the ICH business rules a message must pass to be stored
(the minimum criteria, the mandatory dates and codes), each naming its E2B element.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from operator import attrgetter
from typing import Any

from pv_service.e2b.ack import Problem
from pv_service.e2b.icsr import Icsr, hl7_date, plain

_SCALARS = frozenset((str, int, float, bool, type(None)))
_FIELDS: dict[type, tuple[tuple[str, ...], Callable]] = {}


def asdict(record) -> dict[str, Any]:
    """icsr.plain of one record (dataclasses.asdict without its deep copies), the same dict: its
    fields read in one call, and only values that are not plain scalars converted (most records hold
    only strings, numbers, booleans and None). This runs for every record of every message."""
    kind = type(record)
    known = _FIELDS.get(kind)
    if known is None:
        names = tuple(f.name for f in fields(record))
        known = _FIELDS[kind] = (names, attrgetter(*names) if len(names) > 1 else lambda r: (getattr(r, names[0]),))
    names, get = known
    values = get(record)
    if set(map(type, values)) <= _SCALARS:
        return dict(zip(names, values))
    return {n: v if type(v) in _SCALARS else _value(v) for n, v in zip(names, values)}


def _value(value):
    """icsr.plain of a value inside a record."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind in _FIELDS or is_dataclass(value):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return kind(_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    return plain(value)

SEX = {"1": "male", "2": "female"}
ROLE_ORDER = ("suspect", "interacting", "concomitant", "not_administered")


@dataclass
class Mapped:
    version_fields: dict[str, Any]
    drugs: list[dict[str, Any]]
    reactions: list[dict[str, Any]]
    problems: list[Problem] = field(default_factory=list)


def hl7_datetime(ts: str | None) -> dt.datetime | None:
    """An HL7 TS with its UTC offset (YYYYMMDDHHMMSS[.f][+-ZZZZ]) as UTC; a bare date is midnight UTC."""
    if not ts:
        return None
    digits, offset = ts, "+0000"
    for sign in ("+", "-"):
        if sign in ts[8:]:
            i = ts.rindex(sign)
            digits, offset = ts[:i], ts[i:]
    digits = digits.split(".")[0].ljust(14, "0")
    try:
        if not (digits[:14].isascii() and digits[:14].isdigit()):
            return None
        # Sliced: strptime costs ten times as much, and this runs for every message of a batch.
        local = dt.datetime(int(digits[:4]), int(digits[4:6]), int(digits[6:8]), int(digits[8:10]),
                            int(digits[10:12]), int(digits[12:14]))
        tz = dt.timezone(dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])) * (1 if offset[0] == "+" else -1))
    except ValueError:
        return None
    return local.replace(tzinfo=tz).astimezone(dt.UTC)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _primary_source(icsr: Icsr):
    return next((s for s in icsr.sources if s.primary_for_regulatory), icsr.sources[0] if icsr.sources else None)


def _sent(values: dict, *keys: str) -> dict:
    """`values` without those of `keys` (all, if none named) that were not sent: what JSON intake
    has no field for is stored only when an E2B message carried it, so the same case stores alike."""
    drop = keys or tuple(values)
    return {k: v for k, v in values.items() if v is not None or k not in drop}


def _timed(ts: str | None) -> str | None:
    """A TS longer than its day (a time, an offset), else None: the day alone is in its column."""
    return ts if ts and len(ts) > 8 and hl7_date(ts) is not None else None


def _qualification(source) -> str:
    """C.2.r.4 of the primary source; "unknown" for its nullFlavor UNK (asked, not known), not a
    qualification it did not state."""
    if source is not None and source.qualification:
        return source.qualification
    return "unknown" if source is not None and source.qualification_null_flavor else "consumer"


def minimum_criteria(icsr: Icsr) -> list[Problem]:
    """ICH E2D's four minimum criteria, named by E2B element."""
    line = icsr.line
    out = []
    if not any(s.qualification or s.country for s in icsr.sources):
        out.append(Problem("an identifiable reporter is required (qualification or country)", "C.2.r", line))
    p = icsr.patient
    # A name masked for privacy (nullFlavor MSK) is a patient the sender can identify.
    if not (p.identifiers or p.name_null_flavor == "MSK" or p.sex_code or p.age or p.age_group or p.birth_year):
        out.append(Problem("an identifiable patient is required (initials, identifier, age, age group or sex)",
                           "D.1", line))
    if not any(d.role in ("suspect", "interacting") for d in icsr.drugs):
        out.append(Problem("at least one suspect or interacting drug is required", "G.k.1", line))
    if not icsr.reactions:
        out.append(Problem("at least one reaction is required", "E.i", line))
    return out


def map_icsr(icsr: Icsr, sender_country: str | None, pseudonym: Callable[[str], str]) -> Mapped:
    """`pseudonym` turns the patient's identifying text into the sender-keyed pseudonym."""
    line = icsr.line
    problems = minimum_criteria(icsr)
    received, latest_info = hl7_date(icsr.received), hl7_date(icsr.latest_info)
    if received is None:
        problems.append(Problem("the date first received (day 0) is required as a full date", "C.1.4", line))
    if latest_info is None:
        problems.append(Problem("the date of most recent information is required as a full date", "C.1.5", line))
    if not icsr.safety_report_id:
        problems.append(Problem("the sender's safety report unique identifier is required", "C.1.1", line))
    created = hl7_datetime(icsr.created)
    if created is None:
        problems.append(Problem("the date of creation is required with its time", "C.1.2", line))
    source = _primary_source(icsr)
    country = (source.country if source else None) or sender_country
    if country is None:
        problems.append(Problem("no reporter country and the sender organization has no country", "C.2.r.3", line))
    p = icsr.patient
    detail = {
        "sources": [_sent(asdict(s), "qualification_null_flavor") for s in icsr.sources],
        "other_case_ids": icsr.other_case_ids,
        "linked_reports": icsr.linked_reports, "documents": icsr.documents,
        "additional_documents": icsr.additional_documents, "expedited": icsr.expedited,
        "first_sender": icsr.first_sender,
        "literature": icsr.literature, "study": {"name": icsr.study_name, "number": icsr.study_number,
                                                 "type": icsr.study_type,
                                                 "registrations": [list(r) for r in icsr.study_registrations]},
        "sender": {"type": icsr.sender_type, "organisation": icsr.sender_organisation},
        # C.1.4 and C.1.5 with the time and offset they came with (the columns hold the day)
        **_sent({"received_as_sent": _timed(icsr.received), "latest_info_as_sent": _timed(icsr.latest_info)}),
        "patient": {"name_null_flavor": p.name_null_flavor, "medical_history": [asdict(c) for c in p.medical_history],
                    "medical_history_text": p.medical_history_text, "concomitant_therapies": p.concomitant_therapies,
                    "past_drugs": [asdict(d) for d in p.past_drugs],
                    "death_causes": [asdict(c) for c in p.death_causes], "autopsy": p.autopsy,
                    "autopsy_causes": [asdict(c) for c in p.autopsy_causes], "parent": p.parent,
                    "last_menstrual_period": p.last_menstrual_period, "gestation_period": p.gestation_period,
                    "gestation_period_unit": p.gestation_period_unit,
                    **_sent({"sex_null_flavor": p.sex_null_flavor, "birth_null_flavor": p.birth_null_flavor})},
        # E.i beyond the reaction rows, in their order: the id G.k.9.i points at, end, country, ...
        "reactions": [{"ref": r.ref, "end": r.end, "country": r.country, "translation": r.translation,
                       "highlighted": r.highlighted, "medically_confirmed": r.medically_confirmed,
                       # E.i.1.1a (a dictionary's coding replaces pt_name), and E.i.4 when the onset
                       # column cannot hold it (2014, 201410: no day)
                       **_sent({"verbatim": r.verbatim, "start": r.start if hl7_date(r.start) is None else None})}
                      for r in icsr.reactions],
        "tests": [asdict(t) for t in icsr.tests], "sender_diagnosis": [asdict(c) for c in icsr.sender_diagnosis],
        "receiver": icsr.message_receiver,
        "fda": {**icsr.fda, **({"race": p.race} if p.race else {}),
                **({"ethnicity": p.ethnicity} if p.ethnicity else {}),
                **_sent({"race_null_flavor": p.race_null_flavor, "ethnicity_null_flavor": p.ethnicity_null_flavor}),
                **({"required_intervention": [r.required_intervention for r in icsr.reactions]}
                   if any(r.required_intervention is not None for r in icsr.reactions) else {}),
                **({"required_intervention_null_flavor": [r.required_intervention_null_flavor for r in icsr.reactions]}
                   if any(r.required_intervention_null_flavor for r in icsr.reactions) else {})},
        **({"nmpa": icsr.nmpa} if icsr.nmpa else {}),  # only when sent: JSON intake has no CN elements
    }
    version_fields = {
        "patient_id": None,
        "report_type": icsr.report_type or "not_available",
        "received_date": received, "latest_info_date": latest_info,
        "reporter_qualification": _qualification(source),
        "reporter_country": country,
        "narrative": icsr.narrative, "transgene_in_tumour": None,
        "source_format": "e2b", "safety_report_id": icsr.safety_report_id, "worldwide_id": icsr.worldwide_id,
        "message_id": icsr.message_id, "message_created": created,
        "nullification": icsr.nullification, "nullification_reason": icsr.nullification_reason,
        "patient_pseudonym": pseudonym("|".join(p.identifiers)) if p.identifiers else None,
        "patient_sex": SEX.get(p.sex_code or ""), "patient_birth_year": p.birth_year,
        "patient_age": _float(p.age), "patient_age_unit": p.age_unit, "patient_age_group": p.age_group,
        "patient_weight_kg": _float(p.weight_kg), "patient_height_cm": _float(p.height_cm),
        "patient_death_date": hl7_date(p.death_date),
        "reporter_comments": icsr.reporter_comments, "sender_comments": icsr.sender_comments,
        "detail": detail,
    }
    drugs = []
    for d in icsr.drugs:
        lots = [x.lot for x in d.dosages if x.lot]
        drugs.append({
            "treatment_id": None, "product_id": None, "role": d.role or "suspect",
            "name_as_reported": d.name, "product_code": d.product_code,
            "authorisation_number": d.authorisation_number, "holder": d.holder,
            "batch_lot": lots[0] if lots else None, "action_taken": d.action_taken,
            "detail": {"ref": d.ref, "substances": d.substances, "dosages": [asdict(x) for x in d.dosages],
                       "indications": [asdict(c) for c in d.indications],
                       "relatedness": [asdict(r) for r in d.relatedness], "matrix": [asdict(x) for x in d.matrix],
                       "code_system": d.product_code_system, "authorisation_country": d.authorisation_country,
                       "obtained_country": d.obtained_country,
                       "cumulative_dose": d.cumulative_dose, "cumulative_dose_unit": d.cumulative_dose_unit,
                       "additional_info": d.additional_info, **_sent({"fda_other_role": d.fda_other_role}),
                       # G.k.2.3.r.2/.3 (TermID, strength) only when sent: the JSON report has names only
                       **({"ingredients": [asdict(i) for i in d.ingredients]}
                          if any(i.code or i.strength for i in d.ingredients) else {})},
        })
        if d.role is None:
            problems.append(Problem(f"drug {d.name or d.ref!r} has no characterisation (G.k.1)", "G.k.1", line))
    reactions = []
    for r in icsr.reactions:
        if not r.llt_code:
            problems.append(Problem("the reaction's MedDRA code is required", "E.i.2.1b", line))
            continue
        reactions.append({
            "meddra_version": r.meddra_version, "reported_meddra_version": r.meddra_version,
            "reported_llt_code": r.llt_code, "reported_pt_code": None, "soc_code": None,
            # Without a dictionary the LLT code stands for the PT (every PT is also an LLT of the same code);
            # with one, the importer derives the PT (meddra/coding.py).
            "pt_code": r.llt_code, "pt_name": r.reported_term or r.llt_code,
            "llt_code": r.llt_code, "llt_name": None,
            "onset_date": hl7_date(r.start),
            **{k: bool(v) for k, v in r.seriousness.items()},
            "outcome": r.outcome or "unknown", "grade": None, "grade_scale": None, "causality": None,
        })
    return Mapped(version_fields, drugs, reactions, problems)

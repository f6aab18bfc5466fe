"""The E2B(R3) parts of a JSON report -> the columns and `detail` the E2B importer stores (pure).

A case sent as JSON and the same case sent as E2B are stored alike (pv_service/e2b/mapping.py
builds the same keys from the XML): dates inside `detail` in HL7's compact form, codes as sent,
the patient's initials and identifiers only as a pseudonym. The functions give only the columns a
report fills, which is what its content hash covers, so a report without these parts hashes as
before they existed; the stores write the rest as NULL (`NULL_VERSION_COLUMNS`, `NULL_DRUG_COLUMNS`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pv_service.cases.schemas import (CodedIn, DrugIn, HistoryIn, ParentIn, PastDrugIn, PatientRef, PrimarySourceIn,
                                      REACTION_DETAIL, ReporterIn, ReportIn)

# The columns beyond those JSON reports always had (E2B import fills them all; message_* are its own).
NULL_VERSION_COLUMNS = dict.fromkeys((
    "safety_report_id", "worldwide_id", "message_id", "message_created", "nullification", "nullification_reason",
    "patient_pseudonym", "patient_sex", "patient_birth_year", "patient_age", "patient_age_unit", "patient_age_group",
    "patient_weight_kg", "patient_height_cm", "patient_death_date", "reporter_comments", "sender_comments", "detail"))
NULL_DRUG_COLUMNS = dict.fromkeys(("treatment_id", "product_id", "name_as_reported", "product_code",
                                   "authorisation_number", "holder", "batch_lot", "action_taken", "detail"))
_REPORT_COLUMNS = ("worldwide_id", "nullification", "nullification_reason", "reporter_comments", "sender_comments")
_PATIENT_COLUMNS = ("sex", "birth_year", "age", "age_unit", "age_group", "weight_kg", "height_cm", "death_date")
_DRUG_COLUMNS = ("name_as_reported", "product_code", "authorisation_number", "holder", "action_taken")
_ONLY_TREATMENT = frozenset({"treatment_id", "role"})
_DRUG_PARTS = ("ref", "code_system", "substances", "dosages", "indications", "relatedness", "matrix",
               "authorisation_country", "obtained_country", "cumulative_dose", "cumulative_dose_unit",
               "additional_info")
# C.2.r.4 codes (pv_service/e2b/icsr.py QUALIFICATIONS, inverted).
QUALIFICATION_CODES = {"physician": "1", "pharmacist": "2", "other_health_professional": "3", "lawyer": "4",
                       "consumer": "5"}
SEX = ("male", "female")
SEX_CODES = {"male": "1", "female": "2"}
_NO_CODE = {"code": None, "version": None, "text": None, "null_flavor": None}  # an element not sent, as E2B keeps it


def hl7(date: str | None) -> str | None:
    """YYYY[-MM[-DD]] -> YYYY[MM[DD]], the precision kept."""
    return date.replace("-", "") if date else None


def coded(c: CodedIn | None) -> dict[str, Any]:
    return {"code": c.code, "version": c.version, "text": c.text, "null_flavor": c.null_flavor} if c else _NO_CODE


def number(x: float | None) -> str | None:
    """A number as E2B carries it (a PQ value: 48, not 48.0; never an exponent)."""
    return None if x is None else f"{x:.6f}".rstrip("0").rstrip(".")


def history(h: HistoryIn) -> dict[str, Any]:
    """D.7.1.r as E2B keeps it (a MedDRA code); free text or a nullFlavor, which E2B has no place for, beside it."""
    out = {"code": h.code, "version": h.version, "start": hl7(h.start), "end": hl7(h.end),
           "continuing": h.continuing, "comments": h.comments, "family_history": h.family_history}
    return out | {k: v for k in ("text", "null_flavor") if (v := getattr(h, k)) is not None}


def past_drug(d: str | PastDrugIn) -> dict[str, Any]:
    """D.8.r; a name alone is the record with only its name."""
    if isinstance(d, str):
        d = PastDrugIn(name=d)
    return {"name": d.name, "product_code": d.product_code, "code_system": d.code_system, "start": hl7(d.start),
            "end": hl7(d.end), "indication": coded(d.indication), "reaction": coded(d.reaction)}


def parent(p: ParentIn) -> dict[str, Any]:
    """D.10, keyed and valued as the E2B importer keeps it (sex as its code, numbers as sent)."""
    return {"name_null_flavor": p.name_null_flavor, "sex_code": SEX_CODES.get(p.sex or ""),
            "birth_year": p.birth_year, "age": number(p.age),
            "age_unit": (p.age_unit or "a") if p.age is not None else None,
            "last_menstrual_period": hl7(p.last_menstrual_period),
            "weight_kg": number(p.weight_kg), "height_cm": number(p.height_cm),
            "medical_history": [history(h) for h in p.medical_history],
            "medical_history_text": p.medical_history_text, "past_drugs": [past_drug(d) for d in p.past_drugs]}


def sources(report: ReportIn) -> list[ReporterIn]:
    return list(report.primary_sources) or ([report.reporter] if report.reporter is not None else [])


def _primary(s: ReporterIn) -> bool:
    return isinstance(s, PrimarySourceIn) and s.primary_for_regulatory


def reporter(report: ReportIn) -> ReporterIn | None:
    """The source of the case's reporter columns: the one primary for regulatory purposes, else the first."""
    if not report.primary_sources:
        return report.reporter
    return next((s for s in report.primary_sources if s.primary_for_regulatory), report.primary_sources[0])


_REPORT_PARTS = ("primary_sources", "other_case_ids", "literature", "study", "sender", "tests", "sender_diagnosis",
                 "first_sender", "linked_reports", "additional_documents", "documents", "expedited", "fda")


def _has_parts(report: ReportIn) -> bool:
    p = report.patient
    return (any(getattr(report, k) not in (None, [], ()) for k in _REPORT_PARTS) or (p is not None and p.describes())
            or any(getattr(r, k) is not None for r in report.reactions for k in REACTION_DETAIL))


def _patient_detail(p: PatientRef | None) -> dict[str, Any]:
    out = {"name_null_flavor": None, "medical_history": [], "medical_history_text": None,
           "concomitant_therapies": None, "past_drugs": [], "death_causes": [], "autopsy": None, "autopsy_causes": [],
           "parent": None, "last_menstrual_period": None, "gestation_period": None, "gestation_period_unit": None}
    if p is None:
        return out
    out.update(name_null_flavor=p.name_null_flavor, medical_history=[history(h) for h in p.medical_history],
               medical_history_text=p.medical_history_text, concomitant_therapies=p.concomitant_therapies,
               past_drugs=[past_drug(d) for d in p.past_drugs],
               death_causes=[coded(c) for c in p.death_causes], autopsy=p.autopsy,
               autopsy_causes=[coded(c) for c in p.autopsy_causes],
               parent=parent(p.parent) if p.parent is not None else None,
               last_menstrual_period=hl7(p.last_menstrual_period), gestation_period=p.gestation_period,
               gestation_period_unit=p.gestation_period_unit)
    return out


def _fda(report: ReportIn) -> dict[str, Any]:
    """FDA's regional elements keyed as the E2B importer keeps them: only those sent."""
    f, out = report.fda, {}
    if f is not None:
        out = {k: v for k in ("local_report_type", "combination_product", "ind", "pre_anda", "ethnicity")
               if (v := getattr(f, k)) is not None}
        out |= {k: list(v) for k in ("cross_reported_inds", "race") if (v := getattr(f, k))}
    if any(r.required_intervention is not None for r in report.reactions):
        out["required_intervention"] = [r.required_intervention for r in report.reactions]
    if any(r.required_intervention_null_flavor for r in report.reactions):
        out["required_intervention_null_flavor"] = [r.required_intervention_null_flavor for r in report.reactions]
    return out


def detail(report: ReportIn) -> dict[str, Any] | None:
    """The repeating parts, keyed as the E2B importer keys them; None for a report that has none."""
    if not _has_parts(report):
        return None
    study, sender = report.study, report.sender
    primary = reporter(report)
    return {
        "sources": [{"qualification": s.qualification.value if s.qualification else None,
                     "qualification_code": QUALIFICATION_CODES[s.qualification.value] if s.qualification else None,
                     "country": s.country,
                     "primary_for_regulatory": _primary(s) if report.primary_sources else s is primary}
                    for s in sources(report)],
        "other_case_ids": [{"source": None, "id": x} if isinstance(x, str) else {"source": x.source, "id": x.id}
                           for x in report.other_case_ids],
        "linked_reports": list(report.linked_reports),
        "documents": list(report.documents), "additional_documents": report.additional_documents,
        "expedited": report.expedited, "first_sender": report.first_sender, "literature": list(report.literature),
        "study": {"name": study.name if study else None, "number": study.number if study else None,
                  "type": study.type if study else None,
                  "registrations": [[r.number, r.country] for r in study.registrations] if study else []},
        "sender": {"type": sender.type if sender else None, "organisation": sender.organisation if sender else None},
        "patient": _patient_detail(report.patient),
        "reactions": [{"ref": r.ref, "end": hl7(r.end_date), "country": r.country, "translation": r.translation,
                       "highlighted": r.highlighted, "medically_confirmed": r.medically_confirmed}
                      for r in report.reactions],
        "tests": [{"name": coded(t.name), "date": hl7(t.date), "result": t.result, "unit": t.unit,
                   "result_code": t.result_code, "result_text": t.result_text, "low": t.low, "high": t.high,
                   "comments": t.comments, "more_info": t.more_info} for t in report.tests],
        "sender_diagnosis": [coded(c) for c in report.sender_diagnosis],
        "receiver": None,  # N.2.r.3: a message's receiver, not the case's
        "fda": _fda(report),
    }


def version_columns(report: ReportIn, pseudonym: Callable[[str], str]) -> dict[str, Any]:
    """The case_version columns beyond those JSON reports always had, those the report fills. `pseudonym`
    keys the patient's identifying text per sender (initials, then record numbers, as E2B import joins them)."""
    out = {k: v for k in _REPORT_COLUMNS if (v := getattr(report, k)) is not None}
    p = report.patient
    if p is not None and p.describes():
        identifying = ([p.initials] if p.initials else []) + list(p.identifiers)
        if identifying:
            out["patient_pseudonym"] = pseudonym("|".join(identifying))
        out.update({f"patient_{k}": v for k in _PATIENT_COLUMNS if (v := getattr(p, k)) is not None})
    parts = detail(report)
    if parts is not None:
        out["detail"] = parts
    return out


def drug_row(d: DrugIn) -> dict[str, Any]:
    """A case_drug row but its product_id (the treatment's, or the registry's match): the columns it fills."""
    row = {"treatment_id": d.treatment_id, "role": d.role.value}
    if d.treatment_id is not None and not (d.model_fields_set - _ONLY_TREATMENT):
        return row  # a registered patient's treatment, as clinics always sent it
    row.update({k: v for k in _DRUG_COLUMNS if (v := getattr(d, k)) is not None})
    lots = [x.lot for x in d.dosages if x.lot]
    if lots:
        row["batch_lot"] = lots[0]
    if d.treatment_id is None or any(getattr(d, k) not in (None, [], ()) for k in _DRUG_PARTS):
        row["detail"] = {"ref": d.ref, "substances": list(d.substances),
                         "dosages": [{**x.model_dump(), "start": hl7(x.start), "end": hl7(x.end)} for x in d.dosages],
                         "indications": [coded(c) for c in d.indications],
                         "relatedness": [r.model_dump() for r in d.relatedness], "code_system": d.code_system,
                         "matrix": [m.model_dump() for m in d.matrix], "authorisation_country": d.authorisation_country,
                         "obtained_country": d.obtained_country,
                         "cumulative_dose": d.cumulative_dose, "cumulative_dose_unit": d.cumulative_dose_unit,
                         "additional_info": [a.model_dump() for a in d.additional_info]}
    return row

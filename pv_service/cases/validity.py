"""The four minimum criteria of a valid case (ICH E2D; EU GVP VI.B.2)."""
from __future__ import annotations

from pv_service.cases.schemas import ReportIn
from pv_service.common.errors import Problems
from pv_service.common.vocab import DrugRole

SUSPECT_ROLES = {DrugRole.suspect, DrugRole.interacting}


def minimum_criteria_problems(report: ReportIn) -> Problems:
    problems = Problems()
    sources = report.primary_sources or ([report.reporter] if report.reporter is not None else [])
    if not any(r.qualification is not None or r.country is not None or r.reference for r in sources):
        loc = ("body", "primary_sources") if report.primary_sources else ("body", "reporter")
        problems.add(loc, "an identifiable reporter is required (qualification, country or reference)",
                     "missing_minimum_criterion")
    p = report.patient
    # A described patient is identifiable by initials, an identifier (or a name masked for privacy), age or sex.
    if p is None or (p.patient_id is None and p.local_id is None and not (
            p.initials or p.identifiers or p.name_null_flavor == "MSK" or p.sex or p.age is not None
            or p.age_group or p.birth_year)):
        problems.add(("body", "patient"), "an identifiable patient is required (patient_id or local_id; or initials, "
                     "an identifier, age, age group, birth year or sex)", "missing_minimum_criterion")
    if not any(d.role in SUSPECT_ROLES for d in report.drugs):
        problems.add(("body", "drugs"), "at least one suspect (or interacting) product is required",
                     "missing_minimum_criterion")
    if not report.reactions:
        problems.add(("body", "reactions"), "at least one adverse reaction is required", "missing_minimum_criterion")
    return problems

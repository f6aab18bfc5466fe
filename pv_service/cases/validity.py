"""The four minimum criteria of a valid case (ICH E2D; EU GVP VI.B.2)."""
from __future__ import annotations

from pv_service.cases.schemas import ReportIn
from pv_service.common.errors import Problems
from pv_service.common.vocab import DrugRole

SUSPECT_ROLES = {DrugRole.suspect, DrugRole.interacting}


def minimum_criteria_problems(report: ReportIn) -> Problems:
    problems = Problems()
    r = report.reporter
    if r is None or (r.qualification is None and r.country is None and not r.reference):
        problems.add(("body", "reporter"), "an identifiable reporter is required (qualification, country or reference)",
                     "missing_minimum_criterion")
    p = report.patient
    if p is None or (p.patient_id is None and p.local_id is None):
        problems.add(("body", "patient"), "an identifiable patient is required (patient_id or local_id)",
                     "missing_minimum_criterion")
    if not any(d.role in SUSPECT_ROLES for d in report.drugs):
        problems.add(("body", "drugs"), "at least one suspect (or interacting) product is required",
                     "missing_minimum_criterion")
    if not report.reactions:
        problems.add(("body", "reactions"), "at least one adverse reaction is required", "missing_minimum_criterion")
    return problems

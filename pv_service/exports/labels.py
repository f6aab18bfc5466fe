"""Human labels for the codes an export carries (modalities, follow-up plans, key figures,
statuses): the PDF shows only these; JSON, CSV and Excel show them beside the codes."""
from __future__ import annotations

from typing import Any

MODALITIES = {"car_t": "CAR-T", "tcr_t": "TCR-T", "gene_therapy": "gene therapy", "stem_cell": "stem-cell therapy",
              "other": "other"}

# Every key figure of summary.summarise_product (a test checks none is missing).
FIGURES = {
    "patients_treated": "Patients treated",
    "patients_first_treated_in_interval": "Patients first treated in the interval",
    "patients_active": "Patients active",
    "patients_lost_to_follow_up": "Patients lost to follow-up",
    "patients_deceased": "Patients deceased",
    "patients_withdrawn": "Patients withdrawn",
    "patients_transferred": "Patients transferred",
    "patients_completed": "Patients who completed follow-up",
    "timepoints_due_in_interval": "Timepoints due in the interval",
    "interval_completed_on_time": "Timepoints due in the interval: completed on time",
    "interval_completed_late": "Timepoints due in the interval: completed late",
    "interval_window_open": "Timepoints due in the interval: window open",
    "interval_overdue": "Timepoints due in the interval: overdue",
    "interval_missed": "Timepoints due in the interval: missed",
    "interval_not_yet_due": "Timepoints due in the interval: not yet due",
    "interval_completion_pct": "Completion of timepoints due in the interval (%)",
    "interval_on_time_pct": "On-time completion of timepoints due in the interval (%)",
    "retention_1y_pct": "Retention at 1 year, Kaplan-Meier (%)",
    "retention_2y_pct": "Retention at 2 years, Kaplan-Meier (%)",
    "retention_5y_pct": "Retention at 5 years, Kaplan-Meier (%)",
    "median_followup_months": "Median follow-up (months)",
    "patient_years": "Patient-years of follow-up",
    "visits_in_interval": "Visits in the interval",
    "malignancy_screening_visits_pct": "Visits in the interval with a malignancy screening (%)",
    "yearly_timepoints_screening_due": "Yearly timepoints due a malignancy screening in the interval",
    "malignancy_screening_yearly_pct": "Yearly timepoints with a malignancy screening (%)",
    "malignancy_screening_positive_in_interval": "Positive malignancy screenings in the interval",
    "cases_cumulative": "Cases, cumulative",
    "cases_in_interval": "Cases in the interval",
    "cases_serious": "Serious cases in the interval",
    "cases_non_serious": "Non-serious cases in the interval",
    "cases_fatal": "Fatal cases in the interval",
    "dme_cases_cumulative": "Designated medical event cases, cumulative",
    "dme_cases_in_interval": "Designated medical event cases in the interval",
    "signals_open": "Signals open",
    "signals_closed": "Signals closed",
    "obligations": "Confirmatory obligations",
    "obligations_open": "Confirmatory obligations open",
    "obligations_overdue": "Confirmatory obligations overdue",
    "obligations_fulfilled": "Confirmatory obligations fulfilled",
    "milestones_overdue": "Obligation milestones overdue",
    "expedited_reports": "Expedited reports for cases of the interval",
    "expedited_on_time": "Expedited reports submitted on time",
    "expedited_late": "Expedited reports submitted late",
    "expedited_on_time_pct": "Expedited reports on time, of those submitted (%)",
    "expedited_pending": "Expedited reports pending",
    "expedited_pending_overdue": "Expedited reports pending and overdue",
    "expedited_not_required": "Expedited reports not required",
}


def words(code: Any) -> str:
    """A vocabulary code in words: not_recovered -> not recovered (a missing value: not recorded)."""
    return code.replace("_", " ") if isinstance(code, str) and code else "not recorded"


def modality(code: Any) -> str:
    return MODALITIES.get(code, words(code)) if isinstance(code, str) else "not recorded"


def figure(code: str) -> str:
    return FIGURES.get(code, words(code).capitalize())


def plan(rules, name: Any, shown: Any = None) -> str:
    """A follow-up plan's label from the rules (its ``label``, else its name in words); when the plan
    is not in the rules, what the product row says about it (``shown``) or 'none'."""
    p = rules.followup.plans.get(name) if isinstance(name, str) else None
    if p is not None:
        return p.label or words(name)
    return shown if isinstance(shown, str) and shown else "none"

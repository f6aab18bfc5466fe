"""The scheduled jobs: plain functions of (session, now), and the schedule they run on."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from pv_service.alerting.reconcile import AlertSpec, reconcile
from pv_service.audit.head import export_job as audit_head
from pv_service.cases.clocks import clock_status
from pv_service.core.settings import get_settings
from pv_service.followup import rollup
from pv_service.followup.cohort import load_contacts, load_treatments, product_plans
from pv_service.followup.compliance import evaluate_compliance
from pv_service.jobs.runner import JobSpec
from pv_service.products.deadlines import evaluate_obligations
from pv_service.products.models import ConfirmatoryObligation, ObligationMilestone
from pv_service.rules import Rules, load_rules
from pv_service.signals.job import signal_detection as detect_signals

FOLLOWUP_SEVERITY = {"window_open": "low", "overdue": "medium", "missed": "high"}


@lru_cache
def current_rules() -> Rules:
    """Loaded and validated once per process (the service refuses to start on invalid rules)."""
    return load_rules(get_settings().rules_dir)


def _date(value) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def followup_compliance(session: Session, now: dt.datetime) -> dict:
    """One alert per clinic and product listing its due, overdue and missed timepoints and its
    patients lost to follow-up (followup.rollup).

    The item escalates in place (its worst timepoint) and resolves itself when every timepoint
    is fulfilled or its schedule stopped (death, withdrawal, transfer).
    """
    rules = current_rules()
    treatments = load_treatments(session, rules)
    if treatments.empty:
        return reconcile(session, "followup", "followup:", [], now) | {"treatments": 0}
    contacts = load_contacts(session)
    result = evaluate_compliance(treatments, contacts, rules, now.date())
    due = result.timepoints[result.timepoints["status"].isin(list(FOLLOWUP_SEVERITY))]
    lost = result.treatments[result.treatments["status"] == "lost_to_follow_up"]
    items = rollup.items_from(due, lost, treatments, _date)
    specs = rollup.rollup_specs(items, *rollup_names(session, items))
    unplanned = _unplanned_product_alerts(session, rules, treatments)
    specs += unplanned
    counts = reconcile(session, "followup", "followup:", specs, now)
    return counts | {"treatments": len(treatments), "timepoints_alerted": len(due), "lost": len(lost),
                     "clinic_items": len(specs) - len(unplanned), "products_without_plan": len(unplanned)}


def rollup_names(session: Session, items: list) -> tuple[dict, dict, dict]:
    """Clinic names, product codes and patient pseudonyms the roll-up shows."""
    from pv_service.auth.models import Organization
    from pv_service.patients.models import Patient
    from pv_service.products.models import Product

    conn = session.connection()
    clinic_ids = sorted({i.clinic_id for i in items})
    patient_ids = sorted({i.patient_id for i in items})
    clinics = dict(conn.execute(sa.select(Organization.id, Organization.name).where(Organization.id.in_(clinic_ids))).all())
    products = dict(conn.execute(sa.select(Product.id, Product.code)).all())
    pseudonyms = {}
    for start in range(0, len(patient_ids), 5000):
        pseudonyms.update(conn.execute(sa.select(Patient.id, Patient.pseudonym).where(
            Patient.id.in_(patient_ids[start:start + 5000]))).all())
    return clinics, products, pseudonyms


def _unplanned_product_alerts(session: Session, rules: Rules, treatments: pd.DataFrame) -> list[AlertSpec]:
    """One alert per treated product without a usable follow-up plan: its patients get no
    timepoint alerts until the plan is set (or restored in the rules)."""
    specs = []
    codes = treatments.drop_duplicates("product_id").set_index("product_id")["product_code"]
    for product_id, plan in product_plans(session, rules, codes.index).items():
        if plan.name is None:
            specs.append(AlertSpec(
                key=f"followup:plan:{product_id}", type="followup", severity="high", subject_type="product",
                subject_id=int(product_id), product_id=int(product_id), priority=55.0,
                title=f"{codes[product_id]}: {plan.problem}; its patients get no follow-up alerts"[:300],
                detail={"product_id": int(product_id), "problem": plan.problem},
            ))
    return specs


def confirmatory_deadlines(session: Session, now: dt.datetime) -> dict:
    """An alert per open obligation inside a warning horizon (severity by the tightest one), or overdue."""
    rules = current_rules()
    conn = session.connection()
    obligations = pd.DataFrame(conn.execute(sa.select(
        ConfirmatoryObligation.id.label("obligation_id"), ConfirmatoryObligation.due_date,
        ConfirmatoryObligation.product_id, ConfirmatoryObligation.jurisdiction, ConfirmatoryObligation.description,
    )).mappings().all(), columns=["obligation_id", "due_date", "product_id", "jurisdiction", "description"])
    milestones = pd.DataFrame(conn.execute(sa.select(
        ObligationMilestone.obligation_id, ObligationMilestone.kind, ObligationMilestone.planned_date,
        ObligationMilestone.achieved_date,
    )).mappings().all(), columns=["obligation_id", "kind", "planned_date", "achieved_date"])
    specs = []
    if not obligations.empty:
        result = evaluate_obligations(obligations, milestones, rules, now.date()).obligations
        result = result.merge(obligations[["obligation_id", "product_id", "jurisdiction", "description"]],
                              on="obligation_id", suffixes=("", "_o"))
        for rec in result.itertuples(index=False):
            if rec.status == "overdue":
                severity, what = "critical", f"overdue by {-int(rec.days_remaining)} days"
            elif rec.status == "open" and not pd.isna(rec.horizon_days):
                h = int(rec.horizon_days)
                severity = "high" if h <= 90 else "medium" if h <= 180 else "low"
                what = f"due in {int(rec.days_remaining)} days (within {h})"
            else:
                continue
            specs.append(AlertSpec(
                key=f"deadline:obligation:{rec.obligation_id}", type="deadline", severity=severity,
                subject_type="product", subject_id=int(rec.product_id), product_id=int(rec.product_id),
                priority={"low": 20.0, "medium": 40.0, "high": 70.0, "critical": 90.0}[severity],
                title=f"Confirmatory obligation {rec.obligation_id} ({rec.jurisdiction}) {what}",
                detail={"obligation_id": int(rec.obligation_id), "due_date": _date(rec.due_date),
                        "days_remaining": int(rec.days_remaining), "status": rec.status,
                        "next_milestone": rec.next_milestone if isinstance(rec.next_milestone, str) else None,
                        "milestones_overdue": int(rec.n_milestones_overdue), "description": rec.description},
            ))
    return reconcile(session, "deadline", "deadline:", specs, now) | {"obligations": len(obligations)}


def reporting_clocks(session: Session, now: dt.datetime) -> dict:
    """Alerts for expedited reports coming due (per the rules' lead times) or overdue. A report sent
    late closes its alert as `submitted_late` (the lateness is kept in the alert's history). Reactions
    not yet assessed against the labels are assessed first (expectedness decides the clocks)."""
    from pv_service.rsi.service import assess_pending  # late: rsi imports the cases package

    assessed = assess_pending(session, now)
    rules = current_rules()
    clocks = clock_status(session, rules, now.date())
    specs = []
    ended: dict[str, tuple[str, str]] = {}
    if not clocks.empty:
        for rec in clocks.itertuples(index=False):
            if rec.status == "pending" and len(rec.warnings_due):
                days = int(rec.days_remaining)
                severity, what = ("high" if days <= 2 else "medium"), f"due in {days} days"
            elif rec.status == "pending_overdue":
                severity, what = "critical", f"overdue by {-int(rec.days_remaining)} days"
            elif rec.status == "late":
                ended[f"clock:{rec.case_id}:{rec.jurisdiction}"] = (
                    "submitted_late", f"submitted {_date(rec.submitted_date)}, after the due date {_date(rec.due_date)}")
                continue
            else:
                continue
            specs.append(AlertSpec(
                key=f"clock:{rec.case_id}:{rec.jurisdiction}", type="reporting_clock", severity=severity,
                subject_type="case", subject_id=int(rec.case_id), product_id=int(rec.product_id),
                priority={"medium": 40.0, "high": 75.0, "critical": 95.0}[severity],
                title=f"Case {rec.case_id} to {rec.jurisdiction}: {what}",
                detail={"case_id": int(rec.case_id), "jurisdiction": rec.jurisdiction, "status": rec.status,
                        "first_received": _date(rec.first_received), "due_date": _date(rec.due_date),
                        "clock_days": None if pd.isna(rec.clock_days) else int(rec.clock_days),
                        "basis": rec.clock_basis, "submitted_date": _date(rec.submitted_date),
                        "unexpected": bool(rec.unexpected), "study": bool(rec.study),
                        "products": rec.product_codes},
            ))
    return reconcile(session, "reporting_clock", "clock:", specs, now, ended) | {
        "clocks": len(clocks), "submitted_late": len(ended), "reactions_assessed": assessed["assessed"]}


def signal_detection(session: Session, now: dt.datetime) -> dict:
    return detect_signals(session, now, current_rules())


def duplicate_detection(session: Session, now: dt.datetime) -> dict:
    from pv_service.duplicates.job import duplicate_detection as detect

    return detect(session, now, current_rules())


def sequential_monitoring(session: Session, now: dt.datetime) -> dict:
    from pv_service.analytics.job import sequential_monitoring as monitor

    return monitor(session, now, current_rules())


JOBS: dict[str, JobSpec] = {spec.name: spec for spec in (
    JobSpec("followup-compliance", followup_compliance, {"hour": 1, "minute": 0}, "daily",
            "Follow-up schedules: due, overdue and missed timepoints, patients lost to follow-up"),
    JobSpec("confirmatory-deadlines", confirmatory_deadlines, {"hour": 1, "minute": 30}, "daily",
            "Confirmatory-trial deadlines of conditional approvals"),
    JobSpec("reporting-clocks", reporting_clocks, {"minute": 5}, "hourly",
            "Expedited-reporting clocks of serious cases"),
    # Before the signal run, so cases confirmed duplicates by then are out of its counts.
    JobSpec("duplicate-detection", duplicate_detection, {"hour": 1, "minute": 45}, "daily",
            "Duplicate candidates among the case versions received since the last run, for review"),
    JobSpec("signal-detection", signal_detection, {"hour": 2, "minute": 0}, "daily",
            "Disproportionality statistics, designated medical events, signal alerts"),
    JobSpec("sequential-monitoring", sequential_monitoring, {"hour": 2, "minute": 30}, "daily",
            "Cohort monitoring: a Poisson MaxSPRT look per product and event group, lot excesses"),
    JobSpec("audit-head", audit_head, {"minute": 15}, "hourly",
            "The audit trail's signed head (count + last hash), exported outside the database"),
)}

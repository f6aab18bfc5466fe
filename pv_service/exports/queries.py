"""Read what one product's compliance summary needs out of the database (no statistics here).

Every frame is raw input for ``summary.build_summary``; the engines (follow-up compliance,
reporting clocks, obligation deadlines) run there, on these frames.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pv_service.alerting.models import Alert
from pv_service.alerting.workflow import SIGNAL_TYPE
from pv_service.analytics.export import cohort_tables
from pv_service.auth.models import Organization
from pv_service.cases.clocks import SUSPECT_ROLES, clock_cases
from pv_service.cases.access import counted_case
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.common.frames import read_frame
from pv_service.common.vocab import SERIOUSNESS_CRITERIA
from pv_service.exports.summary import ProductInputs
from pv_service.followup.cohort import load_contacts, load_treatments, product_plans
from pv_service.meddra.models import MeddraTerm
from pv_service.products.models import (
    ConfirmatoryObligation,
    ObligationMilestone,
    Product,
    ProductApproval,
)


def product_info(session: Session, product: Product, rules) -> dict:
    mah = session.get(Organization, product.mah_organization_id)
    plan = product_plans(session, rules, [product.id])[product.id]
    approvals = session.execute(
        sa.select(ProductApproval.jurisdiction, ProductApproval.approval_date, ProductApproval.approval_type)
        .where(ProductApproval.product_id == product.id)
        .order_by(ProductApproval.approval_date, ProductApproval.id)).all()
    return {
        "product_id": product.id, "code": product.code, "trade_name": product.trade_name, "inn": product.inn,
        "modality": product.modality, "target": product.target, "mah": mah.name if mah else None,
        # The plan's name, or why there is none (the product's figures then have no timepoints).
        "followup_plan": plan.name or f"none: {plan.problem}",
        "plan_name": plan.name,
        "approvals": "; ".join(f"{j} {d.isoformat()} ({t})" for j, d, t in approvals),
    }


def load_product_inputs(session: Session, product: Product, rules, as_of: dt.date, start: dt.date) -> ProductInputs:
    pid = product.id
    treatments = load_treatments(session, rules, [pid])
    treatments = treatments[pd.to_datetime(treatments["infusion_date"]) <= pd.Timestamp(as_of)].reset_index(drop=True)
    contacts = load_contacts(session, [pid], as_of=as_of)
    contacts = contacts[contacts["treatment_id"].isin(treatments["treatment_id"])].reset_index(drop=True)
    own = set(treatments.loc[treatments["product_id"] == pid, "treatment_id"])
    visits = contacts.loc[(contacts["kind"] == "visit") & contacts["treatment_id"].isin(own),
                          ["contact_id", "treatment_id", "contact_date", "malignancy_screening"]].reset_index(drop=True)

    # Cases whose latest version names the product as suspect (or interacting), received by the as-of date.
    suspect = (sa.select(CaseDrug.case_version_id)
               .where(CaseDrug.product_id == pid, CaseDrug.role.in_(SUSPECT_ROLES)))
    cases = read_frame(session, sa.select(
        Case.id, Case.sender_case_id, Case.patient_id, Case.first_received, CaseVersion.serious,
        CaseVersion.transgene_in_tumour,
    ).join(CaseVersion, CaseVersion.id == Case.latest_version_id)
        .where(Case.latest_version_id.in_(suspect), counted_case(), Case.first_received <= as_of).order_by(Case.id),
        ["case_id", "sender_case_id", "patient_id", "first_received", "serious", "transgene_in_tumour"],
        dates=["first_received"], bools=["serious"])
    soc = MeddraTerm.__table__.alias("soc")
    reactions = read_frame(session, sa.select(
        Case.id, CaseReaction.pt_code, CaseReaction.pt_name, soc.c.name, CaseReaction.onset_date,
        CaseReaction.outcome, *[getattr(CaseReaction, c) for c in SERIOUSNESS_CRITERIA],
    ).join(CaseReaction, CaseReaction.case_version_id == Case.latest_version_id)
        .outerjoin(soc, (soc.c.version == CaseReaction.meddra_version) & (soc.c.level == "soc")
                   & (soc.c.code == CaseReaction.soc_code))
        .where(Case.latest_version_id.in_(suspect), counted_case(), Case.first_received <= as_of)
        .order_by(Case.id, CaseReaction.id),
        ["case_id", "pt_code", "pt_name", "soc_name", "onset_date", "outcome", *SERIOUSNESS_CRITERIA],
        bools=SERIOUSNESS_CRITERIA)
    reactions["onset_date"] = pd.to_datetime(reactions["onset_date"].astype("string"), format="%Y-%m-%d")

    clocks = clock_cases(session, [pid], received_from=start)
    if not clocks.empty:
        clocks = clocks[pd.to_datetime(clocks["first_received"]) <= pd.Timestamp(as_of)].reset_index(drop=True)

    obligations = read_frame(session, sa.select(
        ConfirmatoryObligation.id, ConfirmatoryObligation.jurisdiction, ConfirmatoryObligation.description,
        ConfirmatoryObligation.due_date,
    ).where(ConfirmatoryObligation.product_id == pid).order_by(ConfirmatoryObligation.due_date, ConfirmatoryObligation.id),
        ["obligation_id", "jurisdiction", "description", "due_date"], dates=["due_date"])
    milestones = read_frame(session, sa.select(
        ObligationMilestone.obligation_id, ObligationMilestone.kind, ObligationMilestone.planned_date,
        ObligationMilestone.achieved_date,
    ).where(ObligationMilestone.obligation_id.in_(
        sa.select(ConfirmatoryObligation.id).where(ConfirmatoryObligation.product_id == pid))),
        ["obligation_id", "kind", "planned_date", "achieved_date"], dates=["planned_date", "achieved_date"])

    end_of_day = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    alert_rows = session.execute(sa.select(Alert).where(
        Alert.type == SIGNAL_TYPE, Alert.product_id == pid, Alert.first_raised_at < end_of_day,
    ).order_by(Alert.id)).scalars().all()
    alerts = pd.DataFrame([{
        "alert_id": a.id, "event": (a.detail or {}).get("event"), "level": (a.detail or {}).get("level"),
        "rule": (a.detail or {}).get("rule"), "n": (a.detail or {}).get("n"), "status": a.status,
        "severity": a.severity, "priority": a.priority, "first_raised_at": a.first_raised_at,
        "last_seen_at": a.last_seen_at, "resolved_at": a.resolved_at, "resolution": a.resolution,
    } for a in alert_rows], columns=["alert_id", "event", "level", "rule", "n", "status", "severity", "priority",
                                     "first_raised_at", "last_seen_at", "resolved_at", "resolution"])

    return ProductInputs(product=product_info(session, product, rules), treatments=treatments, contacts=contacts,
                         visits=visits, cases=cases, reactions=reactions, clock_cases=clocks,
                         obligations=obligations, milestones=milestones, alerts=alerts,
                         cohort=cohort_tables(session, product, rules, as_of))


def term_soc_map() -> dict[str, str]:
    """Preferred term -> system organ class, from the demo term file: the fallback for reactions stored
    without a coded SOC (received while no MedDRA dictionary was loaded)."""
    try:
        from pv_service.demo.cohort import load_demo_terms

        return {name: t.soc_name for name, t in load_demo_terms().items()}
    except (FileNotFoundError, ModuleNotFoundError, KeyError):  # pragma: no cover - file shipped with the package
        return {}

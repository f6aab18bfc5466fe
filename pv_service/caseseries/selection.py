"""Which cases stand behind an alert (SQL conditions on safety_case; no HTTP here).

A signal's cases: the latest version names the product as suspect or interacting and one of
the alert's terms (by PT code; alerts raised before codes decided named terms). A reporting
clock's case: its subject. Other alerts have no case series.
"""
from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from pv_service.alerting.models import Alert
from pv_service.cases.access import counted_case
from pv_service.cases.models import Case, CaseDrug, CaseReaction
from pv_service.common.vocab import DrugRole
from pv_service.patients.models import Treatment
from pv_service.products.models import Product

SUSPECT_ROLES = (DrugRole.suspect.value, DrugRole.interacting.value)


def signal_terms(detail: dict[str, Any]) -> list[str]:
    terms = detail.get("terms") or ([detail["event"]] if detail.get("event") else [])
    return [str(t) for t in terms]


def reaction_match(detail: dict[str, Any]):
    """Reactions behind an alert: by PT code (alerts raised since codes decide); older alerts named terms."""
    if detail.get("pt_codes"):
        return CaseReaction.pt_code.in_([str(c) for c in detail["pt_codes"]])
    return CaseReaction.pt_name.in_(signal_terms(detail))


def alert_product_id(session: Session, alert: Alert, product_code: str | None = None) -> int | None:
    code = alert.detail.get("product") or product_code
    if alert.product_id is None and code:
        return session.exec(select(Product.id).where(Product.code == code)).first()
    return alert.product_id


def signal_case_conditions(session: Session, alert: Alert, product_code: str | None = None,
                           with_nullified: bool = False) -> list | None:
    """Cases whose latest version names the product as suspect/interacting and one of the alert's terms."""
    product_id = alert_product_id(session, alert, product_code)
    if product_id is None or not signal_terms(alert.detail) and not alert.detail.get("pt_codes"):
        return None
    conditions = [
        Case.latest_version_id.in_(select(CaseDrug.case_version_id).where(
            CaseDrug.product_id == product_id, CaseDrug.role.in_(SUSPECT_ROLES))),
        Case.latest_version_id.in_(select(CaseReaction.case_version_id).where(reaction_match(alert.detail))),
    ]
    # counted: not nullified and not a confirmed duplicate (what every statistic counts)
    return conditions if with_nullified else [*conditions, counted_case()]


def series_conditions(session: Session, alert: Alert, with_nullified: bool = False) -> list | None:
    """The conditions selecting an alert's case series, or None when the alert has none."""
    if alert.type == "signal":
        conditions = signal_case_conditions(session, alert, with_nullified=with_nullified)
        lot = alert.detail.get("lot") if alert.detail.get("rule") == "lot_excess" else None
        if conditions is not None and lot is not None:  # a lot excess: the cases of that lot's patients
            conditions.append(Case.patient_id.in_(select(Treatment.patient_id).where(
                Treatment.batch_number == str(lot), Treatment.product_id == alert_product_id(session, alert))))
        return conditions
    if alert.subject_type == "case" and alert.subject_id is not None:
        return [Case.id == alert.subject_id]
    return None

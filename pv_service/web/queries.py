"""The reads behind the web pages, one small function each (no HTTP here)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.alerting import queue as alert_queue
from pv_service.alerting.models import Alert, AlertEvent
from pv_service.alerting.workflow import (
    OPERATIONAL_OPEN,
    OPERATIONAL_TRANSITIONS,
    SIGNAL_OPEN,
    SIGNAL_TRANSITIONS,
    cases_since_review,
)
from pv_service.audit.models import AuditRecord
from pv_service.auth.models import User
from pv_service.cases import service as cases_service
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.cases.schemas import VersionPublic
from pv_service.caseseries import selection
from pv_service.caseseries.selection import reaction_match as _reaction_match
from pv_service.caseseries.selection import signal_terms  # noqa: F401  (the alert page reads it from here)
from pv_service.common.errors import NotFound
from pv_service.common.lookup import get_or_404
from pv_service.common.vocab import DrugRole
from pv_service.followup.cohort import load_contacts, load_treatments, product_plans
from pv_service.followup.compliance import (
    PATIENT_STATUSES,
    TIMEPOINT_STATUSES,
    evaluate_compliance,
)
from pv_service.meddra import queries as meddra_queries
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product
from pv_service.rules import Rules
from pv_service.signals.hierarchy import analysis_version, loaded_versions
from pv_service.signals.models import SignalPair, SignalRun

ALERT_TYPES = ("signal", "followup", "deadline", "reporting_clock")
# Every status in lifecycle order (signal statuses, then operational ones).
ALL_STATUSES = tuple(dict.fromkeys([*SIGNAL_TRANSITIONS, *OPERATIONAL_TRANSITIONS]))
OPEN_STATUSES = SIGNAL_OPEN + OPERATIONAL_OPEN
SUSPECT_ROLES = (DrugRole.suspect.value, DrugRole.interacting.value)
QUEUE_PAGE_SIZE = 25
CASES_PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50


def pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


# ---- alert queue

@dataclass(frozen=True)
class QueueFilters:
    type: str | None = None
    status: str | None = None
    product: str | None = None
    open_only: bool = True
    view: str = "all"
    assignee_id: int | None = None  # "my alerts"


@dataclass(frozen=True)
class QueueRow:
    alert: Alert
    product_code: str | None
    assignee: str | None

    @property
    def view(self) -> str:
        return alert_queue.view_of(self.alert.type, self.alert.key)

    @property
    def since_review(self) -> int | None:
        """New cases since the last review (signals): None when never reviewed."""
        return cases_since_review(self.alert.detail.get("n"), self.alert.reviewed_n)


def _alert_conditions(f: QueueFilters, with_status: bool = True, with_view: bool = True) -> list:
    conditions = []
    if with_view and f.view != "all":
        conditions.append(alert_queue.view_condition(f.view))
    if f.assignee_id is not None:
        conditions.append(Alert.assignee_id == f.assignee_id)
    if f.type:
        conditions.append(Alert.type == f.type)
    if f.product:
        conditions.append(Alert.product_id.in_(select(Product.id).where(Product.code == f.product)))
    if with_status and f.status:
        conditions.append(Alert.status == f.status)
    if with_status and f.open_only:
        conditions.append(Alert.status.in_(OPEN_STATUSES))
    return conditions


def queue_page(session: Session, f: QueueFilters, page: int, total: int | None = None) -> tuple[list[QueueRow], int]:
    """One page of the queue in triage order, and the number of matching alerts (`total` if known)."""
    conditions = _alert_conditions(f)
    if total is None:
        total = session.exec(select(sa.func.count()).select_from(Alert).where(*conditions)).one()
    # The order is found over ids alone (narrow rows sort fast), then the page's rows are read.
    ids = list(session.exec(select(Alert.id).where(*conditions).order_by(*alert_queue.triage_order())
                            .offset((page - 1) * QUEUE_PAGE_SIZE).limit(QUEUE_PAGE_SIZE)).all())
    found = {a.id: (a, code, who) for a, code, who in session.exec(
        select(Alert, Product.code, User.username)
        .outerjoin(Product, Product.id == Alert.product_id)
        .outerjoin(User, User.id == Alert.assignee_id)
        .where(Alert.id.in_(ids))).all()} if ids else {}
    return [QueueRow(*found[i]) for i in ids if i in found], total


def view_counts(session: Session, f: QueueFilters) -> dict[str, int]:
    """Alerts per view under every other filter."""
    return alert_queue.view_counts(session, _alert_conditions(f, with_view=False))


def safety_officers(session: Session) -> list[tuple[int, str]]:
    return list(session.exec(select(User.id, User.username).where(User.role == "safety_officer")
                             .order_by(User.username)).all())


def status_counts(session: Session, f: QueueFilters) -> list[tuple[str, int]]:
    """Alerts per status under the type and product filters, in lifecycle order."""
    rows = dict(session.exec(
        select(Alert.status, sa.func.count()).where(*_alert_conditions(f, with_status=False)).group_by(Alert.status)
    ).all())
    known = [(s, rows.pop(s)) for s in ALL_STATUSES if s in rows]
    return known + sorted(rows.items())


def product_codes(session: Session) -> list[str]:
    return list(session.exec(select(Product.code).order_by(Product.code)).all())


# ---- one alert

@dataclass(frozen=True)
class AlertView:
    alert: Alert
    product_code: str | None
    assignee: str | None
    events: list[AlertEvent]


def alert_view(session: Session, alert_id: int) -> AlertView:
    row = session.exec(
        select(Alert, Product.code, User.username)
        .outerjoin(Product, Product.id == Alert.product_id)
        .outerjoin(User, User.id == Alert.assignee_id)
        .where(Alert.id == alert_id)
    ).first()
    if row is None:
        raise NotFound("no such alert")
    alert, code, who = row
    events = list(session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)).all())
    return AlertView(alert, code, who, events)


def two_by_two(measures: dict[str, Any]) -> dict[str, int] | None:
    """a, b, c, d of the contingency table from n, n_product, n_event, n_total (PRIMER section 6)."""
    try:
        n, n_product, n_event, n_total = (int(measures[k]) for k in ("n", "n_product", "n_event", "n_total"))
    except (KeyError, TypeError, ValueError):
        return None
    return {"a": n, "b": n_product - n, "c": n_event - n, "d": n_total - n_product - n_event + n,
            "n_product": n_product, "n_event": n_event, "not_product": n_total - n_product,
            "not_event": n_total - n_event, "n_total": n_total}


@dataclass(frozen=True)
class TrendPoint:
    run_id: int
    as_of: dt.date
    pair: SignalPair


def signal_trend(session: Session, product: str, event: str, level: str) -> list[TrendPoint]:
    """One pair's stored measures across runs of the same level, oldest run first (as /v1/signals/trend)."""
    rows = session.exec(
        select(SignalPair, SignalRun.as_of).join(SignalRun, SignalRun.id == SignalPair.run_id)
        .where(SignalPair.product == product, SignalPair.event == event, SignalRun.level == level)
        .order_by(SignalRun.id)
    ).all()
    return [TrendPoint(p.run_id, as_of, p) for p, as_of in rows]


HIERARCHY_MAX_PTS = 60


@dataclass
class Node:
    """A term of the hierarchy tree: SOC > HLGT > HLT > PT. At PT level `primary` says whether this
    is the PT's primary path and `seen` whether the alert's cases report it."""
    level: str
    code: str
    name: str
    children: list[Node] = field(default_factory=list)
    primary: bool = True
    seen: bool = False


@dataclass
class Hierarchy:
    version: str | None = None
    socs: list[Node] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # PT codes the version does not know
    more: int = 0  # PTs not shown


def signal_hierarchy(session: Session, detail: dict[str, Any], seen: set[str]) -> Hierarchy:
    """The alert's PTs as a tree under their SOCs (every path; a secondary one marked), in the version the
    run used; PTs reported in the alert's cases (`seen`) first and marked."""
    codes = sorted({str(c) for c in detail.get("pt_codes") or []}, key=lambda c: (c not in seen, c))
    conn = session.connection()
    version = detail.get("meddra_version") or analysis_version(conn, None)
    if version is None or not codes or version not in loaded_versions(conn):
        return Hierarchy(version)
    out = Hierarchy(version, more=max(0, len(codes) - HIERARCHY_MAX_PTS))
    index: dict[tuple, Node] = {}

    def node(parent: list[Node], key: tuple, level: str, ref: dict[str, Any]) -> Node:
        if key not in index:
            index[key] = Node(level, ref["code"], ref["name"])
            parent.append(index[key])
        return index[key]

    for code in codes[:HIERARCHY_MAX_PTS]:
        try:
            term = meddra_queries.detail(conn, version, code, "pt")
        except NotFound:
            out.missing.append(code)
            continue
        for path in term["paths"]:
            soc = node(out.socs, (path["soc"]["code"],), "soc", path["soc"])
            hlgt = node(soc.children, (soc.code, path["hlgt"]["code"]), "hlgt", path["hlgt"])
            hlt = node(hlgt.children, (soc.code, hlgt.code, path["hlt"]["code"]), "hlt", path["hlt"])
            hlt.children.append(Node("pt", code, term["pt"]["name"], primary=path["primary"], seen=code in seen))
    # Branches holding a primary path first, then by name; reported PTs first within an HLT.
    for soc in out.socs:
        for hlgt in soc.children:
            for hlt in hlgt.children:
                hlt.children.sort(key=lambda n: (not n.seen, not n.primary, n.name))
                hlt.primary = any(n.primary for n in hlt.children)
            hlgt.children.sort(key=lambda n: (not n.primary, n.name))
            hlgt.primary = any(n.primary for n in hlgt.children)
        soc.children.sort(key=lambda n: (not n.primary, n.name))
        soc.primary = any(n.primary for n in soc.children)
    out.socs.sort(key=lambda n: (not n.primary, n.name))
    return out


def signal_pt_codes_seen(session: Session, alert: Alert, product_code: str | None) -> set[str]:
    """PT codes of the alert's terms that its cases (latest versions) report."""
    conditions = _signal_case_conditions(session, alert, product_code)
    if conditions is None:
        return set()
    latest = select(Case.latest_version_id).where(*conditions)
    return set(session.exec(select(CaseReaction.pt_code).where(
        CaseReaction.case_version_id.in_(latest), _reaction_match(alert.detail)).distinct()).all())


def _signal_case_conditions(session: Session, alert: Alert, product_code: str | None) -> list | None:
    return selection.signal_case_conditions(session, alert, product_code)


@dataclass(frozen=True)
class CaseRow:
    case: Case
    serious: bool
    report_type: str
    latest_info_date: dt.date
    reactions: list[CaseReaction]  # the reactions of the latest version that match the alert's terms


@dataclass
class SignalCases:
    rows: list[CaseRow] = field(default_factory=list)
    total: int = 0
    received: list[dt.date] = field(default_factory=list)  # first receipt of every case, for the chart


def signal_cases(session: Session, alert: Alert, product_code: str | None, page: int) -> SignalCases:
    conditions = _signal_case_conditions(session, alert, product_code)
    if conditions is None:
        return SignalCases()
    received = list(session.exec(select(Case.first_received).where(*conditions)).all())
    found = session.exec(
        select(Case, CaseVersion.serious, CaseVersion.report_type, CaseVersion.latest_info_date)
        .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
        .where(*conditions)
        .order_by(Case.first_received.desc(), Case.id.desc())
        .offset((page - 1) * CASES_PAGE_SIZE).limit(CASES_PAGE_SIZE)
    ).all()
    by_version: dict[int, list[CaseReaction]] = {}
    version_ids = [c.latest_version_id for c, *_ in found]
    if version_ids:
        for r in session.exec(select(CaseReaction).where(CaseReaction.case_version_id.in_(version_ids),
                                                         _reaction_match(alert.detail)).order_by(CaseReaction.id)):
            by_version.setdefault(r.case_version_id, []).append(r)
    rows = [CaseRow(c, serious, rtype, info, by_version.get(c.latest_version_id, []))
            for c, serious, rtype, info in found]
    return SignalCases(rows, len(received), received)


# ---- one case

@dataclass(frozen=True)
class DrugRow:
    product_code: str | None  # None: a reported drug that is not a registered product (E2B import)
    role: str
    treatment_id: int | None
    infusion_date: dt.date | None
    batch_number: str | None
    name_as_reported: str | None = None


@dataclass(frozen=True)
class CaseView:
    case: Case
    patient: Patient | None  # None: the report describes the patient (E2B import)
    versions: list[CaseVersion]
    shown: VersionPublic
    drugs: list[DrugRow]


def case_view(session: Session, case_id: int, version: int | None) -> CaseView:
    case = get_or_404(session, Case, case_id, "no such case")
    versions = list(session.exec(select(CaseVersion).where(CaseVersion.case_id == case_id)
                                 .order_by(CaseVersion.version)).all())
    row = cases_service.get_version(session, case, case.latest_version if version is None else version)
    shown = cases_service.describe_versions(session, {case.id: case}, [row])[0]
    drugs = [DrugRow(code, d.role, t.id if t else None, t.infusion_date if t else None,
                     t.batch_number if t else d.batch_lot, d.name_as_reported) for d, code, t in session.exec(
        select(CaseDrug, Product.code, Treatment).outerjoin(Product, Product.id == CaseDrug.product_id)
        .outerjoin(Treatment, Treatment.id == CaseDrug.treatment_id)
        .where(CaseDrug.case_version_id == row.id).order_by(CaseDrug.id)
    ).all()]
    patient = session.get(Patient, case.patient_id) if case.patient_id is not None else None
    return CaseView(case, patient, versions, shown, drugs)


# ---- follow-up compliance

@dataclass(frozen=True)
class ProductCompliance:
    code: str
    trade_name: str
    patients: dict[str, int]  # patient status -> count
    timepoints: dict[str, int]  # timepoint status -> count
    open_followup_alerts: int
    plan_problem: str | None = None  # why the product has no usable follow-up plan (no timepoints then)

    @property
    def n_patients(self) -> int:
        return sum(self.patients.values())

    @property
    def completed(self) -> int:
        return self.timepoints["completed_on_time"] + self.timepoints["completed_late"]

    @property
    def fallen_due(self) -> int:
        """Timepoints completed, or whose window has closed (overdue or missed)."""
        return self.completed + self.timepoints["overdue"] + self.timepoints["missed"]

    @property
    def completeness(self) -> float | None:
        return self.completed / self.fallen_due if self.fallen_due else None


def compliance_by_product(session: Session, rules: Rules, as_of: dt.date) -> list[ProductCompliance]:
    """Per product: its patients by follow-up status and its treatments' timepoints by status, as of a day.

    A patient is counted under every product they were treated with, with their
    patient-level status (a death stops every treatment of the patient).
    """
    products = session.exec(select(Product.id, Product.code, Product.trade_name).order_by(Product.code)).all()
    plans = product_plans(session, rules)
    alerts = dict(session.exec(
        select(Product.code, sa.func.count(Alert.id)).join(Alert, Alert.product_id == Product.id)
        .where(Alert.type == "followup", Alert.status.in_(OPERATIONAL_OPEN)).group_by(Product.code)
    ).all())
    patients: dict[str, dict[str, int]] = {}
    timepoints: dict[str, dict[str, int]] = {}
    treatments = load_treatments(session, rules)
    if not treatments.empty:
        result = evaluate_compliance(treatments, load_contacts(session), rules, as_of)
        owners = treatments[["treatment_id", "patient_id", "product_code"]]
        by_patient = (owners[["patient_id", "product_code"]].drop_duplicates()
                      .merge(result.patients[["patient_id", "status"]], on="patient_id"))
        for (code, status), n in by_patient.groupby(["product_code", "status"], observed=True).size().items():
            patients.setdefault(code, {})[str(status)] = int(n)
        tps = result.timepoints[["treatment_id", "status"]].merge(owners[["treatment_id", "product_code"]],
                                                                    on="treatment_id")
        for (code, status), n in tps.groupby(["product_code", "status"], observed=True).size().items():
            timepoints.setdefault(code, {})[str(status)] = int(n)
    return [
        ProductCompliance(
            code, trade_name,
            {s: patients.get(code, {}).get(s, 0) for s in PATIENT_STATUSES},
            {s: timepoints.get(code, {}).get(s, 0) for s in TIMEPOINT_STATUSES},
            int(alerts.get(code, 0)),
            plans[pid].problem if pid in plans else None,
        )
        for pid, code, trade_name in products
    ]


# ---- audit trail

def audit_page(session: Session, entity_type: str | None, page: int) -> tuple[list[AuditRecord], int]:
    """Most recent records first."""
    conditions = [AuditRecord.entity_type == entity_type] if entity_type else []
    total = session.exec(select(sa.func.count()).select_from(AuditRecord).where(*conditions)).one()
    rows = session.exec(select(AuditRecord).where(*conditions).order_by(AuditRecord.id.desc())
                        .offset((page - 1) * AUDIT_PAGE_SIZE).limit(AUDIT_PAGE_SIZE)).all()
    return list(rows), total


def audit_entity_types(session: Session) -> list[str]:
    return list(session.exec(select(AuditRecord.entity_type).distinct().order_by(AuditRecord.entity_type)).all())


def analytics_products(session: Session) -> list[dict]:
    """Treated products with their patient counts and the groups whose latest sequential look signalled."""
    from pv_service.analytics.models import SequentialLook

    counts = dict(session.exec(select(Treatment.product_id, sa.func.count(sa.func.distinct(Treatment.patient_id)))
                               .group_by(Treatment.product_id)).all())
    latest = sa.select(SequentialLook.product_id, SequentialLook.event_group,
                       sa.func.max(SequentialLook.look_date).label("day")).group_by(
        SequentialLook.product_id, SequentialLook.event_group).subquery()
    signalled: dict[int, list[str]] = {}
    for pid, group in session.exec(select(SequentialLook.product_id, SequentialLook.event_group).join(
            latest, sa.and_(latest.c.product_id == SequentialLook.product_id,
                            latest.c.event_group == SequentialLook.event_group,
                            latest.c.day == SequentialLook.look_date)).where(SequentialLook.signalled)).all():
        signalled.setdefault(pid, []).append(group)
    products = session.exec(select(Product).where(Product.id.in_(list(counts))).order_by(Product.code)).all()
    return [{"id": p.id, "code": p.code, "trade_name": p.trade_name, "modality": p.modality,
             "patients": int(counts[p.id]), "signals": sorted(signalled.get(p.id, []))} for p in products]


def sequential_looks(session: Session, product_id: int) -> list:
    from pv_service.analytics.models import SequentialLook

    return list(session.exec(select(SequentialLook).where(SequentialLook.product_id == product_id)
                             .order_by(SequentialLook.look_date, SequentialLook.event_group)).all())

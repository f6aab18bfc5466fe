"""Load the synthetic demo cohort into the database.

``load_demo(session, now)`` seeds the real products (``seed_products``), creates the
demo organisations and users, then bulk-inserts the generated cohort with SQLAlchemy
Core. It is idempotent: when the demo users exist it changes nothing and returns the
summary of what is there. Like the services, it flushes but never commits: the
caller owns the transaction (``session.commit()`` afterwards).

Demo users (password ``demo-password``): ``demo-admin`` (admin) and ``demo-safety``
(safety officer) in the operator organisation, ``demo-clinic`` (first clinic),
``demo-clinic-2`` ... (the other clinics), ``demo-mah`` (the MAH of the CAR-T product
with the most demo patients).

Demo assumptions (see ``cohort.plan_obligations``): confirmatory obligations and their
milestones are invented; one NMPA CAR-T product whose approval type is "unverified"
is assumed conditional for the demo. Product and approval rows are never changed.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlmodel import Session, select

from pv_service.auth.models import Organization, User
from pv_service.auth.security import hash_password
from pv_service.auth.principal import Principal
from pv_service.cases.hashing import content_hash
from pv_service.cases.intake import STORED_ONLY_REACTION_FIELDS
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.common.vocab import OrgKind, Role
from pv_service.core.settings import get_settings
from pv_service.demo import dictionary as demo_dictionary
from pv_service.demo.cohort import DEMO_CLINICS, Cohort, ProductSpec, generate_cohort
from pv_service.demo.duplicates import plant_duplicates
from pv_service.followup.models import FollowupContact
from pv_service.meddra.distribution import read_distribution
from pv_service.meddra.loader import store
from pv_service.patients.models import Patient, Treatment
from pv_service.patients.pseudonym import pseudonymize
from pv_service.products.models import (
    ConfirmatoryObligation,
    ObligationMilestone,
    Product,
    ProductApproval,
)
from pv_service.products.seed import seed_products
from pv_service.rsi.seed import seed_demo_labels

DEMO_PASSWORD = "demo-password"
OPERATOR_ORG_NAME = "pv-service operations"
DEFAULT_SEED = 20261123
DEFAULT_N_PATIENTS = 3000

# The CaseVersion fields that enter the content hash, exactly as the HTTP API hashes them.
HASHED_VERSION_FIELDS = (
    "patient_id", "report_type", "received_date", "latest_info_date",
    "reporter_qualification", "reporter_country", "narrative", "transgene_in_tumour",
)
HASHED_REACTION_FIELDS = tuple(c for c in CaseReaction.__table__.columns.keys()
                               if c not in ("id", "case_version_id", *STORED_ONLY_REACTION_FIELDS))


def clinic_username(i: int) -> str:
    """Username of the demo user of the i-th demo clinic (0-based)."""
    return "demo-clinic" if i == 0 else f"demo-clinic-{i + 1}"


def product_specs(session: Session) -> list[ProductSpec]:
    """Products with their earliest approval, as the generator wants them (ordered by code)."""
    products = session.exec(select(Product).order_by(Product.code)).all()
    approvals: dict[int, ProductApproval] = {}
    for a in session.exec(select(ProductApproval).order_by(ProductApproval.approval_date, ProductApproval.id)).all():
        approvals.setdefault(a.product_id, a)
    specs = []
    for p in products:
        a = approvals.get(p.id)
        if a is None:
            continue
        specs.append(ProductSpec(
            code=p.code, trade_name=p.trade_name, inn=p.inn, modality=p.modality, target=p.target,
            jurisdiction=a.jurisdiction, approval_date=a.approval_date, approval_type=a.approval_type,
            indication=a.indication,
        ))
    return specs


def load_demo(
    session: Session,
    now: dt.datetime,
    seed: int = DEFAULT_SEED,
    n_patients: int = DEFAULT_N_PATIENTS,
) -> dict[str, Any]:
    """Create the demo data set (once) and return its summary; flushes, does not commit."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(dt.timezone.utc)
    # The synthetic dictionary the demo's reactions are coded in, through the operator's loader
    # (same content twice changes nothing).
    store(session.connection(), read_distribution(demo_dictionary.directory()), now)
    if session.exec(select(User).where(User.username == "demo-admin")).first() is not None:
        return {**demo_summary(session), "created": False}

    products = seed_products(session, now)
    product_by_code = {p.code: p for p in session.exec(select(Product)).all()}
    cohort = generate_cohort(product_specs(session), now, seed=seed, n_patients=n_patients)

    # Organisations and users (a handful of rows: ORM).
    orgs = {o.name: o for o in session.exec(select(Organization)).all()}

    def org(name: str, kind: str, country: str | None) -> Organization:
        if name not in orgs:
            orgs[name] = Organization(name=name, kind=kind, country=country, created_at=now)
            session.add(orgs[name])
        return orgs[name]

    operator = org(OPERATOR_ORG_NAME, OrgKind.operator.value, None)
    clinic_orgs = [org(c.name, OrgKind.clinic.value, c.country) for c in cohort.clinics]
    session.flush()

    by_product = cohort.patients_by_product()
    modality = {p.code: p.modality for p in products}
    ranked = sorted(by_product, key=lambda c: (modality.get(c) != "car_t", -by_product[c], c))
    mah_org_id = product_by_code[ranked[0]].mah_organization_id if ranked else products[0].mah_organization_id

    password_hash = hash_password(DEMO_PASSWORD)  # argon2 is slow: hash once
    users = {u.username: u for u in session.exec(select(User)).all()}

    def user(name: str, role: str, org_id: int) -> User:
        if name not in users:
            users[name] = User(username=name, password_hash=password_hash, role=role, organization_id=org_id,
                               is_active=True, created_at=now)
            session.add(users[name])
        return users[name]

    user("demo-admin", Role.admin.value, operator.id)
    user("demo-safety", Role.safety_officer.value, operator.id)
    clinic_users = [user(clinic_username(i), Role.clinic.value, o.id) for i, o in enumerate(clinic_orgs)]
    user("demo-mah", Role.mah.value, mah_org_id)
    session.flush()

    _insert_obligations(session, cohort, product_by_code, now)
    _insert_cohort(session, cohort, product_by_code, [o.id for o in clinic_orgs], [u.id for u in clinic_users])
    session.flush()
    _insert_submissions(session, now, seed, users["demo-safety"].id)
    safety = users["demo-safety"]
    seed_demo_labels(session, Principal(safety.id, safety.username, Role.safety_officer, operator.id), now)
    session.flush()
    plant_duplicates(session, now, users["demo-safety"].id, [o.id for o in clinic_orgs])
    return {**demo_summary(session), "created": True}


def _insert_submissions(session: Session, now: dt.datetime, seed: int, recorded_by: int) -> None:
    """Expedited reports sent to regulators: mostly on time, some late, the most recent pending.

    Demo parameters: 92% of due reports are sent within the clock, 8% up to 20 days late;
    reports whose due date is within the last 3 days, or still ahead, are sent with
    probability 1/2 (the rest are pending, so the reporting-clock job has work to show).
    """
    import numpy as np

    from pv_service.cases.clocks import clock_cases
    from pv_service.cases.models import RegulatorySubmission
    from pv_service.cases.reporting_clock import evaluate_reporting_clocks
    from pv_service.core.settings import get_settings
    from pv_service.rules import load_rules

    cases = clock_cases(session)
    if cases.empty:
        return
    clocks = evaluate_reporting_clocks(cases, load_rules(get_settings().rules_dir), now.date())
    clocks = clocks[clocks["clock_days"].notna()].sort_values(["case_id", "jurisdiction"]).reset_index(drop=True)
    rng = np.random.default_rng(seed + 7)
    today = now.date()
    rows = []
    for rec in clocks.itertuples(index=False):
        day0 = rec.first_received.date() if hasattr(rec.first_received, "date") else rec.first_received
        days = int(rec.clock_days)
        due = day0 + dt.timedelta(days=days)
        recent = due >= today - dt.timedelta(days=3)
        if recent and rng.random() < 0.5:
            continue
        late = rng.random() < 0.08
        offset = days + int(rng.integers(1, 21)) if late else int(rng.integers(0, days + 1))
        sent = min(day0 + dt.timedelta(days=offset), today)
        rows.append({"case_id": int(rec.case_id), "jurisdiction": rec.jurisdiction, "submitted_date": sent,
                     "reference": f"DEMO-{rec.jurisdiction}-{int(rec.case_id):06d}", "recorded_by": recorded_by,
                     "created_at": now})
    _bulk(session, RegulatorySubmission.__table__, rows)


def _ids(session: Session, table, rows: list[dict]) -> list[int]:
    """Bulk insert returning the new ids in the order of ``rows``."""
    if not rows:
        return []
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(session.execute(stmt, rows).scalars())


def _bulk(session: Session, table, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(table), rows)


def _insert_obligations(session: Session, cohort: Cohort, product_by_code, now: dt.datetime) -> None:
    obligations = [o for o in cohort.obligations if o.product_code in product_by_code]
    ids = _ids(session, ConfirmatoryObligation.__table__, [
        {"product_id": product_by_code[o.product_code].id, "jurisdiction": o.jurisdiction,
         "description": o.description, "due_date": o.due_date, "created_at": now}
        for o in obligations
    ])
    _bulk(session, ObligationMilestone.__table__, [
        {"obligation_id": oid, "kind": m.kind, "planned_date": m.planned_date, "achieved_date": m.achieved_date,
         "updated_at": now}
        for oid, o in zip(ids, obligations) for m in o.milestones
    ])


def _insert_cohort(session: Session, cohort: Cohort, product_by_code, clinic_ids: list[int],
                   clinic_user_ids: list[int]) -> None:
    key = get_settings().pseudonym_key
    patient_ids = _ids(session, Patient.__table__, [
        {"clinic_id": clinic_ids[p.clinic], "pseudonym": pseudonymize(p.local_id, clinic_ids[p.clinic], key),
         "sex": p.sex, "birth_year": p.birth_year, "created_at": p.created_at}
        for p in cohort.patients
    ])
    treatment_ids = _ids(session, Treatment.__table__, [
        {"patient_id": patient_ids[t.patient], "product_id": product_by_code[t.product_code].id,
         "batch_number": t.batch_number, "vector_lot": t.vector_lot, "manufacturing_site": t.manufacturing_site,
         "infusion_date": t.infusion_date, "indication": t.indication,
         "created_at": t.created_at}
        for t in cohort.treatments
    ])
    treatment_clinic = [cohort.patients[t.patient].clinic for t in cohort.treatments]
    _bulk(session, FollowupContact.__table__, [
        {"treatment_id": treatment_ids[c.treatment], "kind": c.kind, "contact_date": c.contact_date,
         "timepoint": c.timepoint, "vital_status": c.vital_status, "malignancy_screening": c.malignancy_screening,
         "malignancy_detail": c.malignancy_detail, "vector_test": c.vector_test, "anc_10e9_l": c.anc_10e9_l,
         "hemoglobin_g_dl": c.hemoglobin_g_dl, "platelets_10e9_l": c.platelets_10e9_l,
         "lymphocytes_10e9_l": c.lymphocytes_10e9_l, "igg_g_l": c.igg_g_l,
         "infection_since_last": c.infection_since_last, "notes": c.notes,
         "created_by": clinic_user_ids[treatment_clinic[c.treatment]], "created_at": c.created_at}
        for c in cohort.contacts
    ])

    case_ids = _ids(session, Case.__table__, [
        {"sender_id": clinic_ids[c.clinic], "sender_case_id": c.sender_case_id,
         "patient_id": patient_ids[c.patient], "first_received": c.versions[0].received_date,
         "latest_version_id": None, "latest_version": c.versions[-1].version, "created_at": c.versions[0].created_at}
        for c in cohort.cases
    ])
    version_rows, drug_rows_per_version, reaction_rows_per_version = [], [], []
    for case_id, c in zip(case_ids, cohort.cases):
        patient_id = patient_ids[c.patient]
        for v in c.versions:
            drugs = [{"treatment_id": treatment_ids[t], "role": role} for t, role in v.drugs]
            reactions = [r.fields() for r in v.reactions]
            fields = {
                "patient_id": patient_id, "report_type": v.report_type, "received_date": v.received_date,
                "latest_info_date": v.latest_info_date, "reporter_qualification": v.reporter_qualification,
                "reporter_country": v.reporter_country, "narrative": v.narrative,
                "transgene_in_tumour": v.transgene_in_tumour,
            }
            version_rows.append({
                "case_id": case_id, "version": v.version,
                "content_hash": content_hash(fields, drugs, [{k: r[k] for k in HASHED_REACTION_FIELDS}
                                                             for r in reactions]),
                "report_type": v.report_type, "received_date": v.received_date,
                "latest_info_date": v.latest_info_date, "reporter_qualification": v.reporter_qualification,
                "reporter_country": v.reporter_country, "serious": v.serious, "narrative": v.narrative,
                "transgene_in_tumour": v.transgene_in_tumour, "submitted_by": clinic_user_ids[c.clinic],
                "created_at": v.created_at,
            })
            drug_rows_per_version.append([
                {**d, "product_id": product_by_code[cohort.treatments[t].product_code].id}
                for d, (t, _) in zip(drugs, v.drugs)
            ])
            reaction_rows_per_version.append(reactions)
    version_ids = _ids(session, CaseVersion.__table__, version_rows)
    _bulk(session, CaseDrug.__table__, [
        {**d, "case_version_id": vid} for vid, ds in zip(version_ids, drug_rows_per_version) for d in ds
    ])
    # Coded in the demo dictionary as reported (ReactionRecord.fields): PT, primary SOC and reported coding.
    _bulk(session, CaseReaction.__table__, [
        {**r, "case_version_id": vid} for vid, rs in zip(version_ids, reaction_rows_per_version) for r in rs
    ])

    latest: dict[int, int] = {}
    for row, vid in zip(version_rows, version_ids):
        latest[row["case_id"]] = vid  # versions are inserted in ascending order per case
    if latest:
        t = Case.__table__
        session.execute(
            update(t).where(t.c.id == bindparam("b_id")).values(latest_version_id=bindparam("b_latest")),
            [{"b_id": cid, "b_latest": vid} for cid, vid in latest.items()],
        )


def demo_summary(session: Session) -> dict[str, Any]:
    """Counts of the demo data in the database (scoped to the demo clinics' data)."""
    clinic_names = [c.name for c in DEMO_CLINICS]
    clinic_ids = list(session.exec(select(Organization.id).where(Organization.name.in_(clinic_names))).all())

    def count(stmt) -> int:
        return int(session.exec(stmt).one())

    org_kinds = dict(session.exec(select(Organization.kind, func.count()).group_by(Organization.kind)).all())
    demo_users = session.exec(
        select(User.username, User.role, Organization.name)
        .join(Organization, Organization.id == User.organization_id, isouter=True)
        .where(User.username.like("demo-%")).order_by(User.username)
    ).all()
    patients = count(select(func.count()).select_from(Patient).where(Patient.clinic_id.in_(clinic_ids)))
    treatment_q = select(Treatment.id).join(Patient, Patient.id == Treatment.patient_id).where(
        Patient.clinic_id.in_(clinic_ids))
    treatments = count(select(func.count()).select_from(treatment_q.subquery()))
    contacts = dict(session.exec(
        select(FollowupContact.kind, func.count()).where(FollowupContact.treatment_id.in_(treatment_q))
        .group_by(FollowupContact.kind).order_by(FollowupContact.kind)
    ).all())
    case_q = select(Case.id).where(Case.sender_id.in_(clinic_ids))
    cases = count(select(func.count()).select_from(case_q.subquery()))
    serious = count(select(func.count()).select_from(Case).join(CaseVersion, CaseVersion.id == Case.latest_version_id)
                    .where(Case.sender_id.in_(clinic_ids), CaseVersion.serious))
    fatal = count(select(func.count(func.distinct(Case.id))).select_from(Case)
                  .join(CaseReaction, CaseReaction.case_version_id == Case.latest_version_id)
                  .where(Case.sender_id.in_(clinic_ids), CaseReaction.outcome == "fatal"))
    versions = count(select(func.count()).select_from(CaseVersion).where(CaseVersion.case_id.in_(case_q)))
    followups = count(select(func.count()).select_from(CaseVersion)
                      .where(CaseVersion.case_id.in_(case_q), CaseVersion.version > 0))
    reactions = count(select(func.count()).select_from(CaseReaction).join(
        CaseVersion, CaseVersion.id == CaseReaction.case_version_id).where(CaseVersion.case_id.in_(case_q)))
    by_product = dict(session.exec(
        select(Product.code, func.count(func.distinct(Treatment.patient_id)))
        .join(Treatment, Treatment.product_id == Product.id).where(Treatment.id.in_(treatment_q))
        .group_by(Product.code).order_by(Product.code)
    ).all())
    first_last = session.exec(select(func.min(Treatment.infusion_date), func.max(Treatment.infusion_date))
                              .where(Treatment.id.in_(treatment_q))).one()
    return {
        "organizations": dict(sorted(org_kinds.items())),
        "users": {name: {"role": role, "organization": org} for name, role, org in demo_users},
        "password": DEMO_PASSWORD,
        "products": count(select(func.count()).select_from(Product)),
        "patients": patients,
        "treatments": treatments,
        "contacts": contacts,
        "cases": cases,
        "serious_cases": serious,
        "fatal_cases": fatal,
        "case_versions": versions,
        "followup_versions": followups,
        "reactions": reactions,
        "meddra_version": demo_dictionary.VERSION,
        "obligations": count(select(func.count()).select_from(ConfirmatoryObligation)),
        "milestones": count(select(func.count()).select_from(ObligationMilestone)),
        "patients_by_product": by_product,
        "infusions": [str(d) if d is not None else None for d in first_last],
    }

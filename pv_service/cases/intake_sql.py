"""Storing case reports through a SQLAlchemy session (SQLite, and PostgreSQL outside the HTTP path).

One statement per table for the whole set. If the write meets a concurrent writer of the
same case (a unique constraint), it is rolled back to its savepoint and every report is
retried alone in its own savepoint, which gives each its proper answer.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pv_service.audit import chain
from pv_service.auth.principal import Principal
from pv_service.cases import bulk_insert, intake
from pv_service.cases.intake import Keys, Lookups, Outcome, Plan
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.cases.schemas import ReportIn
from pv_service.meddra.lookup import loaded_dictionaries
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product

_T = {m: m.__table__ for m in (Case, CaseVersion, CaseDrug, CaseReaction)}

# Built once: building and keying a statement per call costs more CPU than running it.
_ids = sa.bindparam("ids", expanding=True)
_PATIENTS = sa.select(Patient.id, Patient.birth_year, Patient.pseudonym).where(
    Patient.clinic_id == sa.bindparam("sender"),
    sa.or_(Patient.id.in_(_ids), Patient.pseudonym.in_(sa.bindparam("pseudonyms", expanding=True))),
)
# Only the sender's own treatments: another clinic's id reads as one that does not exist.
_TREATMENTS = (sa.select(Treatment.id, Treatment.patient_id, Treatment.product_id, Product.code, Treatment.infusion_date)
               .join(Product, Product.id == Treatment.product_id).join(Patient, Patient.id == Treatment.patient_id)
               .where(Treatment.id.in_(_ids), Patient.clinic_id == sa.bindparam("sender")))
_CASES = (sa.select(Case.id, Case.sender_case_id, Case.patient_id, Case.first_received, Case.latest_version,
                    CaseVersion.version, CaseVersion.content_hash, CaseVersion.latest_info_date)
          .join(CaseVersion, CaseVersion.case_id == Case.id)
          .where(Case.sender_id == sa.bindparam("sender"), Case.sender_case_id.in_(sa.bindparam("keys", expanding=True))))
_names = sa.bindparam("names", expanding=True)
# The registered products the reported drugs may name (pv_service.products.matching).
_PRODUCTS = sa.select(Product.id, Product.code, Product.trade_name, Product.inn, Product.mah_organization_id).where(
    sa.or_(sa.func.lower(Product.code).in_(_names), sa.func.lower(Product.trade_name).in_(_names),
           sa.func.lower(Product.inn).in_(_names)))
_INSERT_CASES = sa.insert(_T[Case]).returning(_T[Case].c.id, sort_by_parameter_order=True)
_INSERT_VERSIONS = sa.insert(_T[CaseVersion]).returning(_T[CaseVersion].c.id, sort_by_parameter_order=True)
# The pointer only moves forward, whatever order concurrent follow-ups commit in (a new
# case has none yet).
_SET_LATEST = sa.update(_T[Case]).where(
    _T[Case].c.id == sa.bindparam("cid"),
    sa.or_(_T[Case].c.latest_version_id.is_(None), _T[Case].c.latest_version < sa.bindparam("lv"))).values(
    latest_version=sa.bindparam("lv"), latest_version_id=sa.bindparam("lvid"))


def _lookups(conn, keys: Keys) -> Lookups:
    patients = conn.execute(_PATIENTS, {"sender": keys.sender_id, "ids": keys.patient_ids,
                                        "pseudonyms": keys.pseudonyms}).all() if keys.patient_ids or keys.pseudonyms else []
    treatments = conn.execute(_TREATMENTS, {"sender": keys.sender_id, "ids": keys.treatment_ids}).all() if keys.treatment_ids else []
    cases = conn.execute(_CASES, {"sender": keys.sender_id, "keys": keys.case_keys}).all() if keys.case_keys else []
    products = conn.execute(_PRODUCTS, {"names": keys.product_names}).all() if keys.product_names else []
    dictionaries = loaded_dictionaries(conn)  # which versions are loaded; their look-ups come from the process
    return Lookups.of(patients, treatments, cases, dictionaries, bool(dictionaries) and intake.refuse_non_current(),
                      products)


def _write(conn, plan: Plan, principal: Principal, now: dt.datetime) -> None:
    new_keys = plan.new_keys
    if new_keys:
        ids = conn.execute(_INSERT_CASES, intake.case_rows(plan, principal.organization_id, now)).scalars().all()
        for key, case_id in zip(new_keys, ids):
            plan.state[key].case_id = case_id
    if not plan.inserts:
        return
    version_ids = conn.execute(_INSERT_VERSIONS, intake.version_rows(plan, principal, now)).scalars().all()
    bulk_insert.insert_rows(conn, _T[CaseDrug], intake.drug_rows(plan, version_ids))
    bulk_insert.insert_rows(conn, _T[CaseReaction], intake.reaction_rows(plan, version_ids))
    conn.execute(_SET_LATEST, [{"cid": plan.state[k].case_id, "lv": plan.state[k].latest, "lvid": vid}
                               for k, vid in intake.latest_version_ids(plan, version_ids).items()])
    chain.append(conn, intake.audit_rows(plan, principal, now))  # sealed, last: the lock is held until commit


def submit_many(session: Session, principal: Principal, reports: list[ReportIn], now: dt.datetime,
                _retry: bool = True, views: bool = False) -> list[Outcome]:
    """Each report's outcome, in order: created, unchanged (same version, same content), or its error
    (`views`: as `intake.finish`).

    Writes inside the session's transaction; the caller commits.
    """
    conn = session.connection()
    plan = intake.plan(principal, reports, _lookups(conn, intake.keys_for(principal.organization_id, reports)), now)
    try:
        with session.begin_nested():  # the savepoint is emitted when the connection is taken inside it
            _write(session.connection(), plan, principal, now)
    except IntegrityError:
        if not _retry:
            raise
        # Someone wrote the same case meanwhile: decide each report again, alone.
        outcomes = plan.outcomes
        for p, _ in plan.accepted:
            with session.begin_nested():
                outcomes[p.index] = submit_many(session, principal, [p.report], now, _retry=False)[0]
        return outcomes
    return intake.finish(plan, principal, now, views)


# For other intake formats (pv_service/e2b): the same rows, written the same way.
write_plan = _write
lookups_for = _lookups

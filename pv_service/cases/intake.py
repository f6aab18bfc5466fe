"""Receiving case reports set-wise: one report or a thousand take the same few statements.

Each report is validated on its own (its problems are its own), but the reads (patients,
treatments, existing cases and versions) and the writes (cases, versions, drugs,
reactions, latest-version pointers, audit records) are one statement each for the whole
set. Reports are decided in order, so a batch may carry a case and its follow-up. If the
set-wise write meets a concurrent writer (a unique constraint), it is rolled back and
every report is retried alone in its own savepoint, which gives each its proper answer.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Json
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pv_service.audit.chain import _jsonable
from pv_service.audit.models import AuditRecord
from pv_service.auth.principal import Principal
from pv_service.cases.hashing import content_hash
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.cases.schemas import (
    CasePublic,
    ReactionPublic,
    ReportIn,
    Seriousness,
    VersionPublic,
)
from pv_service.cases.validity import minimum_criteria_problems
from pv_service.common.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    InvalidInput,
    Problems,
)
from pv_service.common.vocab import ReporterQualification
from pv_service.patients.models import Patient, Treatment
from pv_service.patients.service import pseudonym_for
from pv_service.products.models import Product

SERIOUSNESS_FIELDS = tuple(Seriousness.model_fields)
_T = {m: m.__table__ for m in (Case, CaseVersion, CaseDrug, CaseReaction, AuditRecord)}

# The hot path's statements, built once: building and keying a statement per call costs
# more CPU than PostgreSQL spends executing it.
_ids = sa.bindparam("ids", expanding=True)
_PATIENTS = sa.select(Patient.id, Patient.birth_year, Patient.pseudonym).where(
    Patient.clinic_id == sa.bindparam("sender"),
    sa.or_(Patient.id.in_(_ids), Patient.pseudonym.in_(sa.bindparam("pseudonyms", expanding=True))),
)
_TREATMENTS = (sa.select(Treatment.id, Treatment.patient_id, Treatment.product_id, Product.code)
               .join(Product, Product.id == Treatment.product_id).where(Treatment.id.in_(_ids)))
_CASES = sa.select(Case.id, Case.sender_case_id, Case.patient_id, Case.first_received, Case.latest_version).where(
    Case.sender_id == sa.bindparam("sender"), Case.sender_case_id.in_(sa.bindparam("keys", expanding=True)))
_VERSIONS = sa.select(CaseVersion.case_id, CaseVersion.version, CaseVersion.content_hash).where(
    CaseVersion.case_id.in_(_ids))
_INSERT_CASES = sa.insert(_T[Case]).returning(_T[Case].c.id, sort_by_parameter_order=True)
_INSERT_VERSIONS = sa.insert(_T[CaseVersion]).returning(_T[CaseVersion].c.id, sort_by_parameter_order=True)
_INSERT_DRUGS = sa.insert(_T[CaseDrug])
_INSERT_REACTIONS = sa.insert(_T[CaseReaction])
_INSERT_AUDIT = sa.insert(_T[AuditRecord])
_SET_LATEST = sa.update(_T[Case]).where(_T[Case].c.id == sa.bindparam("cid")).values(
    latest_version=sa.bindparam("lv"), latest_version_id=sa.bindparam("lvid"))


@dataclass
class Submission:
    case_id: int
    version: int
    created: bool
    # The public view, built from memory for a new version (saves re-reading it).
    view: CasePublic | None = None


@dataclass
class Outcome:
    submission: Submission | None = None
    error: DomainError | None = None


@dataclass
class _Prepared:
    index: int
    report: ReportIn
    patient_id: int
    version_fields: dict[str, Any]
    drugs: list[dict[str, Any]]
    reactions: list[dict[str, Any]]
    digest: str
    serious: bool
    product_codes: list[str]


@dataclass
class _CaseState:
    case_id: int | None  # None until a new case is inserted
    patient_id: int
    first_received: dt.date
    latest: int
    versions: dict[int, str] = field(default_factory=dict)  # version -> content hash
    new: bool = False


def _check(report: ReportIn, patient: Any, treatments: dict[int, Any], today: dt.date) -> Problems:
    """Cross-field and cross-record checks of one report."""
    problems = Problems()
    ids = {d.treatment_id for d in report.drugs}
    for i, drug in enumerate(report.drugs):
        t = treatments.get(drug.treatment_id)
        if t is None:
            problems.add(("body", "drugs", i, "treatment_id"), "no such treatment")
        elif t.patient_id != patient.id:
            problems.add(("body", "drugs", i, "treatment_id"), "belongs to another patient")
    if len(ids) != len(report.drugs):
        problems.add(("body", "drugs"), "lists the same treatment twice")
    latest_info = report.latest_info_date or report.received_date
    if report.received_date > today:
        problems.add(("body", "received_date"), "is in the future")
    if latest_info < report.received_date:
        problems.add(("body", "latest_info_date"), "is before received_date")
    if latest_info > today:
        problems.add(("body", "latest_info_date"), "is in the future")
    born = dt.date(patient.birth_year, 1, 1)
    for i, reaction in enumerate(report.reactions):
        onset = reaction.onset_date
        if onset is None:
            continue
        if onset > today:
            problems.add(("body", "reactions", i, "onset_date"), "is in the future")
        elif onset > latest_info:
            problems.add(("body", "reactions", i, "onset_date"), "is after the report's latest information date")
        if onset < born:
            problems.add(("body", "reactions", i, "onset_date"), f"is before the patient's year of birth {patient.birth_year}")
    return problems


def _normalise(report: ReportIn, patient_id: int, sender_country: str | None) -> tuple[dict, list[dict], list[dict]]:
    reporter = report.reporter
    country = reporter.country or sender_country
    if country is None:
        raise InvalidInput.one(("body", "reporter", "country"), "required: the sender organization has no country")
    version_fields = {
        "patient_id": patient_id,
        "report_type": report.report_type.value,
        "received_date": report.received_date,
        "latest_info_date": report.latest_info_date or report.received_date,
        "reporter_qualification": (reporter.qualification or ReporterQualification.consumer).value,
        "reporter_country": country,
        "narrative": report.narrative,
        "transgene_in_tumour": report.transgene_in_tumour.value if report.transgene_in_tumour else None,
    }
    drugs = [{"treatment_id": d.treatment_id, "role": d.role.value} for d in report.drugs]
    reactions = []
    for r in report.reactions:
        row = r.model_dump(mode="python", exclude={"seriousness"})
        row.update(r.seriousness.model_dump())
        for key in ("outcome", "grade_scale", "causality"):
            row[key] = row[key].value if row[key] is not None else None
        reactions.append(row)
    return version_fields, drugs, reactions


def _patients(conn, sender_id: int, reports: list[ReportIn]) -> tuple[dict[int, Any], dict[str, Any]]:
    """The sender's patients the reports name, by id and by pseudonym of the local id."""
    ids = {r.patient.patient_id for r in reports if r.patient.patient_id is not None}
    pseudonyms = {pseudonym_for(sender_id, r.patient.local_id) for r in reports if r.patient.local_id is not None}
    if not ids and not pseudonyms:
        return {}, {}
    rows = conn.execute(_PATIENTS, {"sender": sender_id, "ids": list(ids), "pseudonyms": list(pseudonyms)}).all()
    return {r.id: r for r in rows}, {r.pseudonym: r for r in rows}


def _resolve_patient(report: ReportIn, sender_id: int, by_id: dict, by_pseudonym: dict):
    ref = report.patient
    if ref.patient_id is not None:
        patient = by_id.get(ref.patient_id)
        if patient is None:
            raise InvalidInput.one(("body", "patient", "patient_id"), "no patient with this id at your clinic")
        if ref.local_id is not None and by_pseudonym.get(pseudonym_for(sender_id, ref.local_id)) is not patient:
            raise InvalidInput.one(("body", "patient", "local_id"), "does not match patient_id")
        return patient
    patient = by_pseudonym.get(pseudonym_for(sender_id, ref.local_id))
    if patient is None:
        raise InvalidInput.one(("body", "patient", "local_id"), "no patient registered with this identifier at your clinic")
    return patient


def _prepare(session: Session, principal: Principal, reports: list[ReportIn], now: dt.datetime,
             outcomes: list[Outcome | None]) -> list[_Prepared]:
    conn = session.connection()
    sender_id = principal.organization_id
    live = []
    for i, report in enumerate(reports):
        problems = minimum_criteria_problems(report)
        if problems.items:
            outcomes[i] = Outcome(error=InvalidInput(problems.items))
        else:
            live.append(i)
    by_id, by_pseudonym = _patients(conn, sender_id, [reports[i] for i in live])
    treatment_ids = {d.treatment_id for i in live for d in reports[i].drugs}
    treatments = {r.id: r for r in conn.execute(_TREATMENTS, {"ids": list(treatment_ids)})} if treatment_ids else {}
    prepared = []
    for i in live:
        report = reports[i]
        try:
            patient = _resolve_patient(report, sender_id, by_id, by_pseudonym)
            _check(report, patient, treatments, now.date()).raise_if_any()
            version_fields, drugs, reactions = _normalise(report, patient.id, principal.organization_country)
        except DomainError as exc:
            outcomes[i] = Outcome(error=exc)
            continue
        prepared.append(_Prepared(
            index=i, report=report, patient_id=patient.id, version_fields=version_fields, drugs=drugs,
            reactions=reactions, digest=content_hash(version_fields, drugs, reactions),
            serious=any(any(r[f] for f in SERIOUSNESS_FIELDS) for r in reactions),
            product_codes=sorted({treatments[d["treatment_id"]].code for d in drugs}),
        ))
        prepared[-1].drugs = [{**d, "product_id": treatments[d["treatment_id"]].product_id} for d in drugs]
    return prepared


def _existing_cases(conn, sender_id: int, keys: set[str]) -> dict[str, _CaseState]:
    if not keys:
        return {}
    cases = conn.execute(_CASES, {"sender": sender_id, "keys": list(keys)}).all()
    state = {c.sender_case_id: _CaseState(c.id, c.patient_id, c.first_received, c.latest_version) for c in cases}
    if cases:
        by_id = {s.case_id: s for s in state.values()}
        for case_id, version, digest in conn.execute(_VERSIONS, {"ids": list(by_id)}):
            by_id[case_id].versions[version] = digest
    return state


def _decide(p: _Prepared, state: dict[str, _CaseState]) -> str:
    """'new', 'followup' or 'unchanged'; raises the report's error otherwise (in batch order)."""
    r = p.report
    case = state.get(r.sender_case_id)
    if case is None:
        state[r.sender_case_id] = _CaseState(None, p.patient_id, r.received_date, r.version, {r.version: p.digest}, new=True)
        return "new"
    stored = case.versions.get(r.version)
    if stored is not None:
        if stored == p.digest:
            return "unchanged"
        raise Conflict(f"version {r.version} of case {r.sender_case_id!r} was already received with different content")
    if r.version < case.latest:
        raise Conflict(f"version {r.version} is older than the latest version {case.latest}; send a new version")
    if case.patient_id != p.patient_id:
        raise InvalidInput.one(("body", "patient"), "this case was first reported for another patient")
    if r.received_date != case.first_received:
        raise InvalidInput.one(("body", "received_date"),
                               f"a follow-up keeps the first receipt date of the case ({case.first_received.isoformat()})")
    case.versions[r.version] = p.digest
    case.latest = r.version
    return "followup"


def _case_rows(accepted: list[tuple[_Prepared, str]], new_keys: list[str], state: dict[str, _CaseState],
               sender_id: int, now: dt.datetime) -> list[dict[str, Any]]:
    """A row per new case, from the report that opened it in this batch."""
    first: dict[str, _Prepared] = {}
    for p, kind in accepted:
        if kind == "new":
            first.setdefault(p.report.sender_case_id, p)
    return [{"sender_id": sender_id, "sender_case_id": k, "patient_id": first[k].patient_id,
             "first_received": first[k].report.received_date, "latest_version": state[k].latest,
             "created_at": now} for k in new_keys]


def _version_row(p: _Prepared, state: dict[str, _CaseState], principal: Principal, now: dt.datetime) -> dict[str, Any]:
    return {"case_id": state[p.report.sender_case_id].case_id, "version": p.report.version, "content_hash": p.digest,
            "submitted_by": principal.user_id, "serious": p.serious, "created_at": now,
            **{k: v for k, v in p.version_fields.items() if k != "patient_id"}}


def _audit_rows(inserts: list[_Prepared], state: dict[str, _CaseState], principal: Principal,
                now: dt.datetime) -> list[dict[str, Any]]:
    """One audit record per stored version, naming the version it superseded."""
    previous: dict[int, int | None] = {}
    rows = []
    for p in inserts:
        case = state[p.report.sender_case_id]
        before = previous.get(case.case_id, max((v for v in case.versions if v < p.report.version), default=None))
        previous[case.case_id] = p.report.version
        rows.append({
            "at": now, "actor_id": principal.user_id, "actor": principal.username, "entity_type": "report",
            "entity_id": case.case_id, "action": "version_received", "before": {"latest_version": before},
            "after": _jsonable({"version": p.report.version, "content_hash": p.digest, "serious": p.serious}),
        })
    return rows


def _write(session: Session, principal: Principal, accepted: list[tuple[_Prepared, str]], state: dict[str, _CaseState],
           now: dt.datetime) -> dict[int, int]:
    """Insert everything accepted; returns version ids by report index."""
    conn = session.connection()
    sender_id = principal.organization_id
    new_keys = [k for k, s in state.items() if s.new and s.case_id is None]
    if new_keys:
        ids = conn.execute(_INSERT_CASES, _case_rows(accepted, new_keys, state, sender_id, now)).scalars().all()
        for key, case_id in zip(new_keys, ids):
            state[key].case_id = case_id
    inserts = [p for p, kind in accepted if kind in ("new", "followup")]
    if not inserts:
        return {}
    version_ids = conn.execute(_INSERT_VERSIONS, [_version_row(p, state, principal, now) for p in inserts]).scalars().all()
    by_index = {p.index: vid for p, vid in zip(inserts, version_ids)}
    conn.execute(_INSERT_DRUGS, [{"case_version_id": by_index[p.index], **d} for p in inserts for d in p.drugs])
    conn.execute(_INSERT_REACTIONS, [{"case_version_id": by_index[p.index], **r} for p in inserts for r in p.reactions])
    latest_ids = {}
    for p in inserts:
        case = state[p.report.sender_case_id]
        if p.report.version == case.latest:
            latest_ids[case.case_id] = (case.latest, by_index[p.index])
    conn.execute(_SET_LATEST, [{"cid": cid, "lv": lv, "lvid": vid} for cid, (lv, vid) in latest_ids.items()])
    conn.execute(_INSERT_AUDIT, _audit_rows(inserts, state, principal, now))
    return by_index


def _pg_insert_sql(model, exclude: tuple[str, ...] = ()) -> str:
    t = model.__table__
    stmt = sa.insert(t).values({c.name: sa.bindparam(c.name) for c in t.c if c.name not in exclude})
    return str(stmt.compile(dialect=postgresql.psycopg.dialect()))


_PG = {
    "cases": _pg_insert_sql(Case),
    "versions": _pg_insert_sql(CaseVersion),
    "drugs": _pg_insert_sql(CaseDrug, ("id",)),
    "reactions": _pg_insert_sql(CaseReaction, ("id",)),
    "audit": _pg_insert_sql(AuditRecord, ("id", "seq", "prev_hash", "hash")).split(" RETURNING")[0],
    "latest": str(_SET_LATEST.compile(dialect=postgresql.psycopg.dialect())),
    "ids": "SELECT array(SELECT nextval('safety_case_id_seq') FROM generate_series(1, %s)), "
           "array(SELECT nextval('case_version_id_seq') FROM generate_series(1, %s))",
}


def _write_pipelined(session: Session, principal: Principal, accepted: list[tuple[_Prepared, str]],
                     state: dict[str, _CaseState], now: dt.datetime) -> None:
    """PostgreSQL: take the ids from the sequences first, then send every write in one pipeline.

    Same rows as _write (the statements are compiled from the same tables), but two round
    trips instead of seven, and no per-statement work in SQLAlchemy.
    """
    raw = session.connection().connection.driver_connection
    inserts = [p for p, kind in accepted if kind in ("new", "followup")]
    if not inserts:
        return
    new_keys = [k for k, s in state.items() if s.new and s.case_id is None]
    case_ids, version_ids = raw.execute(_PG["ids"], (len(new_keys), len(inserts))).fetchone()
    for key, case_id in zip(new_keys, case_ids):
        state[key].case_id = case_id
    by_index = {p.index: vid for p, vid in zip(inserts, version_ids)}
    latest = {}
    for p in inserts:
        case = state[p.report.sender_case_id]
        if p.report.version == case.latest:
            latest[p.report.sender_case_id] = by_index[p.index]
    cases = [{**row, "id": state[row["sender_case_id"]].case_id, "latest_version_id": latest[row["sender_case_id"]]}
             for row in _case_rows(accepted, new_keys, state, principal.organization_id, now)]
    versions = [{**_version_row(p, state, principal, now), "id": by_index[p.index]} for p in inserts]
    followed = [{"cid": state[k].case_id, "lv": state[k].latest, "lvid": vid}
                for k, vid in latest.items() if not state[k].new]
    audit_rows = [{**row, "before": Json(row["before"]), "after": Json(row["after"])}
                  for row in _audit_rows(inserts, state, principal, now)]
    try:
        with raw.pipeline(), raw.cursor() as cur:
            if cases:
                cur.executemany(_PG["cases"], cases)
            cur.executemany(_PG["versions"], versions)
            cur.executemany(_PG["drugs"], [{"case_version_id": by_index[p.index], **d} for p in inserts for d in p.drugs])
            cur.executemany(_PG["reactions"], [{"case_version_id": by_index[p.index], **r}
                                               for p in inserts for r in p.reactions])
            if followed:
                cur.executemany(_PG["latest"], followed)
            cur.executemany(_PG["audit"], audit_rows)
    except psycopg.IntegrityError as exc:
        raise IntegrityError("pipelined intake", None, exc) from exc


def _view(p: _Prepared, case: _CaseState, sender_id: int, now: dt.datetime) -> CasePublic:
    r = p.report
    latest = VersionPublic(
        case_id=case.case_id, sender_case_id=r.sender_case_id, version=r.version, is_latest=r.version == case.latest,
        serious=p.serious, created_at=now, drugs=r.drugs, product_codes=p.product_codes,
        reactions=[ReactionPublic.model_validate(x.model_dump()) for x in r.reactions], **p.version_fields,
    )
    return CasePublic(id=case.case_id, sender_id=sender_id, sender_case_id=r.sender_case_id, patient_id=p.patient_id,
                      first_received=case.first_received, latest_version=case.latest, versions=sorted(case.versions),
                      latest=latest)


def submit_many(session: Session, principal: Principal, reports: list[ReportIn], now: dt.datetime,
                _retry: bool = True, own_transaction: bool = False) -> list[Outcome]:
    """Each report's outcome, in order: created, unchanged (same version, same content), or its error.

    `own_transaction`: nothing else is in the session's transaction, so a failed write can
    roll back the transaction itself instead of a savepoint (two statements fewer).
    """
    outcomes: list[Outcome | None] = [None] * len(reports)
    prepared = _prepare(session, principal, reports, now, outcomes)
    state = _existing_cases(session.connection(), principal.organization_id, {p.report.sender_case_id for p in prepared})
    accepted = []
    for p in prepared:
        try:
            accepted.append((p, _decide(p, state)))
        except DomainError as exc:
            outcomes[p.index] = Outcome(error=exc)
    write = _write_pipelined if session.get_bind().dialect.name == "postgresql" else _write
    try:
        if own_transaction:
            write(session, principal, accepted, state, now)
        else:
            with session.begin_nested():
                write(session, principal, accepted, state, now)
    except IntegrityError:
        if not _retry:
            raise
        if own_transaction:
            session.rollback()
        # Someone wrote the same case meanwhile: decide each report again, alone.
        for p, _ in accepted:
            with session.begin_nested():
                outcomes[p.index] = submit_many(session, principal, [p.report], now, _retry=False)[0]
        return outcomes
    for p, kind in accepted:
        case = state[p.report.sender_case_id]
        created = kind != "unchanged"
        outcomes[p.index] = Outcome(Submission(
            case.case_id, p.report.version, created,
            _view(p, case, principal.organization_id, now) if created and len(reports) == 1 else None,
        ))
    return outcomes


def submit_one(session: Session, principal: Principal, report: ReportIn, now: dt.datetime) -> Submission:
    """One report in a transaction of its own (the request's)."""
    outcome = submit_many(session, principal, [report], now, own_transaction=True)[0]
    if outcome.error is not None:
        raise outcome.error
    return outcome.submission


__all__ = ["Outcome", "Submission", "submit_many", "submit_one", "FieldProblem"]

"""Importing an E2B(R3) batch: each message stored or refused on its own, the outcome as an ACK.

The decisions are intake's (cases/intake.py: initial and follow-up versions, an unchanged resend,
a conflict for changed content under the same version); this module reads what a batch names,
numbers each message's version, and writes through intake_sql.

Versions: an E2B message has no version number. A message id (N.2.r.1) already stored for the
case is that version again (unchanged, or refused if its content differs); otherwise a newer
C.1.2 date of creation is the next version and an older one is refused.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
from dataclasses import dataclass
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pv_service.auth.principal import Principal
from pv_service.cases import intake, intake_sql
from pv_service.cases.hashing import content_hash
from pv_service.cases.models import Case, CaseVersion
from pv_service.cases.schemas import ReportIn
from pv_service.common import collector
from pv_service.common.errors import DomainError
from pv_service.common.vocab import Role
from pv_service.e2b import business_rules, checking, mapping, reader, worker
from pv_service.e2b import icsr as icsr_mod
from pv_service.e2b.ack import BatchResult, MessageResult, Problem
from pv_service.e2b.schema_set import SchemaSet
from pv_service.meddra import coding
from pv_service.meddra.lookup import loaded_dictionaries
from pv_service.patients.service import pseudonym_for
from pv_service.products.matching import ProductIndex
from pv_service.products.models import Product
from pv_service.rules.e2b_rules import E2BRules

SERIOUS = intake.SERIOUSNESS_FIELDS
CHUNK = 200  # messages decided and written together
# From this size a batch is read by reader processes (worker.py): below it, starting them costs
# more than they save (about 0.25 s of start-up against some 1.7 ms a message on two cores; 8 MiB
# is about 180 of FDA's messages).
WORKER_MIN_BYTES = 8 * 1024 * 1024


def _readers(cpus: int) -> int:
    """Reader processes for a large batch; 0: read in this process. Each parses and checks every
    n-th message: with 2 cores two readers and this process beat one reader (which then takes most
    of the CPU alone); past 3 this process's storing is what waits."""
    return 0 if cpus < 2 else max(2, min(3, cpus - 1))


READERS = _readers(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

_CASES = (sa.select(Case.id, Case.sender_case_id, Case.patient_id, Case.first_received, Case.latest_version,
                    CaseVersion.version, CaseVersion.content_hash, CaseVersion.latest_info_date,
                    CaseVersion.message_id, CaseVersion.message_created)
          .join(CaseVersion, CaseVersion.case_id == Case.id)
          .where(Case.sender_id == sa.bindparam("sender"), Case.sender_case_id.in_(sa.bindparam("keys", expanding=True))))


@dataclass
class _Seen:
    """What is known of a case while the batch is decided: stored versions and earlier messages."""
    latest: int
    latest_created: dt.datetime | None
    by_message: dict[str, int]


def _match_products(drugs: list[dict], products: ProductIndex) -> None:
    """Registry match of each reported drug, as for JSON intake (products/matching.py)."""
    for d in drugs:
        found = products.match(d["product_code"], d["name_as_reported"], d["detail"]["substances"])
        d["product_id"] = found.id if found else None


def _code_reactions(reactions: list[dict], dictionaries, lines: list[int | None], line: int | None) -> list[Problem]:
    """With a dictionary loaded, each code is checked and its PT and SOC derived (as for JSON intake).
    A problem names the reaction's E.i.2.1 line (`lines`, per reaction), else the message's `line`."""
    problems = []
    if not dictionaries:
        return problems
    for k, r in enumerate(reactions, 1):
        coded = coding.code(dictionaries, r["reported_meddra_version"], r["reported_llt_code"], None)
        if isinstance(coded, coding.Problem):  # named by its E.i repetition too
            where = lines[k - 1] if k <= len(lines) and lines[k - 1] else line
            problems.append(Problem(f"reaction {k} of {len(reactions)}: {coded.message}", "E.i.2.1", where))
            continue
        r.update(meddra_version=coded.meddra_version, llt_code=coded.llt_code, llt_name=coded.llt_name,
                 pt_code=coded.pt_code, pt_name=coded.pt_name, soc_code=coded.soc_code)
    return problems


def _number(seen: dict[str, _Seen], key: str, message_id: str | None, created: dt.datetime) -> int | Problem:
    s = seen.get(key)
    if s is None:
        seen[key] = _Seen(0, created, {message_id: 0} if message_id else {})
        return 0
    if message_id in s.by_message:
        return s.by_message[message_id]
    if s.latest_created is not None and created <= s.latest_created:
        return Problem(f"the date of creation {created.isoformat()} is not after that of the latest version "
                       f"({s.latest_created.isoformat()}): send a newer version", "C.1.2")
    s.latest += 1
    s.latest_created = created
    if message_id:
        s.by_message[message_id] = s.latest
    return s.latest


class _Store:
    """Numbers, decides and writes the accepted messages of one batch chunk by chunk (each chunk in a
    savepoint); what earlier chunks stored is known to later ones, so a batch may carry a case and its
    follow-up however far apart."""

    def __init__(self, session: Session, principal: Principal, now: dt.datetime, results: list[MessageResult]):
        self.session, self.principal, self.now, self.results = session, principal, now, results
        self.conn = session.connection()
        self.seen: dict[str, _Seen] = {}
        self.state: dict[str, intake.CaseState] = {}
        self.pending: list[tuple[int, icsr_mod.Icsr, mapping.Mapped]] = []

    def _load(self, keys: set[str]) -> None:
        """The stored versions of the cases first named in this chunk."""
        keys = sorted(k for k in keys if k not in self.seen)
        rows = self.conn.execute(_CASES, {"sender": self.principal.organization_id, "keys": keys}).all() if keys else []
        for row in rows:
            s = self.seen.setdefault(row.sender_case_id, _Seen(row.latest_version, None, {}))
            if row.message_id:
                s.by_message[row.message_id] = row.version
            if row.version == row.latest_version:
                s.latest_created = row.message_created
        self.state.update(intake.Lookups.of([], [], rows).cases)

    def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        self._load({c.safety_report_id for _, c, _ in pending})
        accepted: list[tuple[intake.Prepared, str]] = []
        for i, c, m in pending:
            msg = self.results[i]
            number = _number(self.seen, c.safety_report_id, c.message_id, m.version_fields["message_created"])
            if isinstance(number, Problem):
                msg.problems = [Problem(number.reason, number.element, c.line)]
                continue
            report = ReportIn.model_construct(sender_case_id=c.safety_report_id, version=number,
                                              received_date=m.version_fields["received_date"])
            prepared = intake.Prepared(
                index=i, report=report, patient_id=None, version_fields=m.version_fields, drugs=m.drugs,
                reactions=m.reactions, digest=content_hash(m.version_fields, m.drugs, m.reactions),
                serious=any(any(r[f] for f in SERIOUS) for r in m.reactions), product_codes=[], warnings=[])
            try:
                accepted.append((prepared, intake.decide(prepared, self.state)))
            except DomainError as exc:
                msg.problems = [Problem(exc.message if hasattr(exc, "message") else str(exc), "C.1.1", c.line)]
        plan = intake.Plan([p.report for p, _ in accepted], [None] * len(accepted), accepted, self.state)
        new_keys = plan.new_keys
        try:
            with self.session.begin_nested():
                # Asked for inside the block: that is what emits the SAVEPOINT (using a connection taken
                # before leaves the block without one, and its rollback undoes nothing).
                intake_sql.write_plan(self.session.connection(), plan, self.principal, self.now)
        except IntegrityError:
            for p, _ in accepted:
                self.results[p.index].problems = [Problem("another import of this case ran at the same time: "
                                                          "send the message again", "C.1.1")]
                # Read again from the database when a later chunk names the case.
                self.seen.pop(p.report.sender_case_id, None)
                self.state.pop(p.report.sender_case_id, None)
            return
        for k in new_keys:
            self.state[k].new = False
        for p, kind in accepted:
            msg = self.results[p.index]
            msg.accepted, msg.outcome = True, "unchanged" if kind == "unchanged" else "created"
            msg.case_id, msg.version = self.state[p.report.sender_case_id].case_id, p.report.version


class _WrapperInvalid(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems


def _checked(source: bytes | BinaryIO, schemas: SchemaSet, rules: business_rules.RuleSet, max_bytes: int | None):
    """checking.read_batch over `source`, by reader processes when the batch is large enough to pay
    for them (worker.py), else in this process (a stream read as it goes, as before)."""
    if isinstance(source, bytes):
        reader.check_root(source, reader.BATCH_ROOT, max_bytes)
        if len(source) < WORKER_MIN_BYTES or not READERS:
            return checking.read_batch(io.BytesIO(source), schemas, rules)
        return worker.read_in_workers(source, None, schemas, rules, READERS)
    if getattr(source, "seekable", lambda: False)():
        here = source.tell()
        size = source.seek(0, io.SEEK_END) - here
        source.seek(here)
        if size < WORKER_MIN_BYTES or not READERS:
            return checking.read_batch(source, schemas, rules)
        return worker.read_in_workers(b"", source, schemas, rules, READERS)
    if not READERS:
        return checking.read_batch(source, schemas, rules)
    prefix = source.read(WORKER_MIN_BYTES)  # a pipe: its size is known once read
    if len(prefix) < WORKER_MIN_BYTES:
        return checking.read_batch(io.BytesIO(prefix), schemas, rules)
    return worker.read_in_workers(prefix, source, schemas, rules, READERS)


def import_batch(session: Session, principal: Principal, source: bytes | BinaryIO, schemas: SchemaSet,
                 max_bytes: int | None, now: dt.datetime, rules: E2BRules, chunk: int = CHUNK) -> BatchResult:
    """Stores what can be stored inside the session's transaction (the caller commits).

    `source` is the batch's bytes (refused over `max_bytes`) or a binary stream of any size, read
    once: messages are checked one at a time as they are read (by reader processes for a large
    batch: worker.py), and stored `chunk` at a time. All of it happens in one savepoint, so a file
    found malformed part-way (reader.Refused: the caller answers 4xx) or a batch whose own elements
    fail the schema (AR) leaves nothing stored.
    """
    with collector.fewer_collections():
        return _import(session, principal, source, schemas, max_bytes, now, rules, chunk)


def _import(session: Session, principal: Principal, source: bytes | BinaryIO, schemas: SchemaSet,
            max_bytes: int | None, now: dt.datetime, rules: E2BRules, chunk: int) -> BatchResult:
    conn = session.connection()
    sender = principal.organization_id
    registry = conn.execute(sa.select(Product.id, Product.code, Product.trade_name, Product.inn,
                                      Product.mah_organization_id)).all()
    own_products = {p.id for p in registry if p.mah_organization_id == sender}
    products = ProductIndex(registry)  # indexed once per batch
    dictionaries = loaded_dictionaries(conn)
    result = BatchResult(batch_id=None, batch_sender=None, batch_created=None, messages=[])
    store = _Store(session, principal, now, result.messages)
    try:
        with session.begin_nested(), contextlib.closing(
                _checked(source, schemas, business_rules.RuleSet.of(rules), max_bytes)) as checked:
            session.connection()  # emits the batch's SAVEPOINT now (see _Store.flush)
            for i, item in enumerate(checked):
                if isinstance(item, checking.End):
                    store.flush()
                    result.batch_id, result.batch_created, result.batch_sender = (
                        item.batch_id, item.batch_created, item.batch_sender)
                    if item.problems:  # the batch's own elements are wrong: nothing of it is kept (AR)
                        raise _WrapperInvalid(item.problems)
                    break
                msg, c = item
                result.messages.append(msg)
                m = _finish(msg, c, principal, products, own_products, dictionaries) if c is not None else None
                if m is not None:
                    store.pending.append((i, c, m))
                    if len(store.pending) >= chunk:
                        store.flush()
    except _WrapperInvalid as exc:
        result.messages, result.problems = [], exc.problems
    return result


def _finish(msg: MessageResult, c: icsr_mod.Icsr, principal: Principal, products, own_products,
            dictionaries) -> mapping.Mapped | None:
    """A message that passed checking.check_message: its rows, or None with its problems in `msg`."""
    sender = principal.organization_id
    try:
        m = mapping.map_icsr(c, principal.organization_country, lambda text: pseudonym_for(sender, text))
    except (AttributeError, TypeError, ValueError):  # a schema-valid shape the reader does not know: refused, not a 500
        msg.problems = [Problem(checking.UNREADABLE, None, c.line)]
        return None
    _match_products(m.drugs, products)
    m.problems += _code_reactions(m.reactions, dictionaries, [r.line for r in c.reactions], c.line)
    if principal.role == Role.mah and not any(d["product_id"] in own_products for d in m.drugs):
        m.problems.append(Problem("an MAH imports cases about its own products: no drug matches one of "
                                  "yours (product code, trade name or INN)", "G.k.2", c.line))
    if m.problems:
        msg.problems = m.problems
        return None
    return m

"""Importing an E2B(R3) batch: each message stored or refused on its own, the outcome as an ACK.

The decisions are intake's (cases/intake.py: initial and follow-up versions, an unchanged resend,
a conflict for changed content under the same version); this module reads what a batch names,
numbers each message's version, and writes through intake_sql.

Versions: an E2B message has no version number. A message id (N.2.r.1) already stored for the
case is that version again (unchanged, or refused if its content differs); otherwise a newer
C.1.2 date of creation is the next version and an older one is refused.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pv_service.auth.principal import Principal
from pv_service.cases import intake, intake_sql
from pv_service.cases.hashing import content_hash
from pv_service.cases.models import Case, CaseVersion
from pv_service.cases.schemas import ReportIn
from pv_service.common.errors import DomainError
from pv_service.common.vocab import Role
from pv_service.e2b import icsr as icsr_mod
from pv_service.e2b import business_rules, mapping, reader
from pv_service.e2b.ack import BatchResult, MessageResult, Problem
from pv_service.e2b.schema_set import SchemaSet
from pv_service.meddra import coding
from pv_service.meddra.lookup import loaded_dictionaries
from pv_service.patients.service import pseudonym_for
from pv_service.products.models import Product
from pv_service.rules.e2b_rules import E2BRules

SERIOUS = intake.SERIOUSNESS_FIELDS

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


def _message_span(message) -> tuple[int, int]:
    lines = [el.sourceline for el in message.iter() if el.sourceline]
    return min(lines), max(lines)


def _split_schema_errors(errors: list[reader.SchemaError], spans: list[tuple[int, int]]):
    """Schema errors per message by line; errors outside every message are the batch's."""
    per = [[] for _ in spans]
    batch = []
    for e in errors:
        for i, (lo, hi) in enumerate(spans):
            if lo <= e.line <= hi:
                per[i].append(Problem(e.reason, e.element, e.line))
                break
        else:
            batch.append(Problem(e.reason, e.element, e.line))
    return per, batch


def _match_products(drugs: list[dict], products: list) -> None:
    """Registry match of each reported drug: product code, then trade name, then INN (case-insensitive)."""
    by_code = {p.code.casefold(): p for p in products}
    by_trade = {p.trade_name.casefold(): p for p in products}
    by_inn = {p.inn.casefold(): p for p in products}
    for d in drugs:
        found = None
        if d["product_code"]:
            found = by_code.get(d["product_code"].casefold())
        if found is None and d["name_as_reported"]:
            found = by_trade.get(d["name_as_reported"].casefold()) or by_inn.get(d["name_as_reported"].casefold())
        for s in d["detail"]["substances"]:
            found = found or by_inn.get(s.casefold())
        d["product_id"] = found.id if found else None


def _code_reactions(reactions: list[dict], dictionaries, line: int | None) -> list[Problem]:
    """With a dictionary loaded, each code is checked and its PT and SOC derived (as for JSON intake)."""
    problems = []
    if not dictionaries:
        return problems
    for r in reactions:
        coded = coding.code(dictionaries, r["reported_meddra_version"], r["reported_llt_code"], None)
        if isinstance(coded, coding.Problem):
            problems.append(Problem(coded.message, "E.i.2.1", line))
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


def import_batch(session: Session, principal: Principal, data: bytes, schemas: SchemaSet, max_bytes: int,
                 now: dt.datetime, rules: E2BRules) -> BatchResult:
    """Stores what can be stored inside the session's transaction (the caller commits).

    Raises reader.Refused for a file refused before parsing (the caller answers 4xx).
    """
    tree = reader.read(data, reader.BATCH_ROOT, max_bytes)
    root = tree.getroot()
    elements = icsr_mod.messages(tree)
    spans = [_message_span(m) for m in elements]
    per_message, batch_problems = _split_schema_errors(reader.schema_errors(schemas.batch, tree), spans)
    result = BatchResult(batch_id=icsr_mod._attr(root, "h:id", "extension"),
                         batch_sender=icsr_mod._attr(root, "h:sender/h:device/h:id", "extension"),
                         batch_created=icsr_mod._attr(root, "h:creationTime", "value"), messages=[],
                         problems=batch_problems)
    if batch_problems:  # the batch wrapper itself is wrong: no message is read (AR)
        return result
    conn = session.connection()
    parsed = [icsr_mod.parse_message(m) for m in elements]
    sender = principal.organization_id
    products = conn.execute(sa.select(Product.id, Product.code, Product.trade_name, Product.inn,
                                      Product.mah_organization_id)).all()
    dictionaries = loaded_dictionaries(conn)
    keys = sorted({c.safety_report_id for c in parsed if c.safety_report_id})
    stored = conn.execute(_CASES, {"sender": sender, "keys": keys}).all() if keys else []
    seen: dict[str, _Seen] = {}
    for row in stored:
        s = seen.setdefault(row.sender_case_id, _Seen(row.latest_version, None, {}))
        if row.message_id:
            s.by_message[row.message_id] = row.version
        if row.version == row.latest_version:
            s.latest_created = row.message_created
    lookups = intake.Lookups.of([], [], stored)
    accepted: list[tuple[intake.Prepared, str]] = []
    for i, (el, c) in enumerate(zip(elements, parsed)):
        msg = MessageResult(c.message_id, c.safety_report_id, c.message_created, c.message_sender, False, "rejected",
                            problems=per_message[i])
        result.messages.append(msg)
        if msg.problems:
            continue
        msg.problems = business_rules.check(el, rules, c.message_receiver)
        if msg.problems:
            continue
        m = mapping.map_icsr(c, principal.organization_country, lambda text: pseudonym_for(sender, text))
        _match_products(m.drugs, products)
        m.problems += _code_reactions(m.reactions, dictionaries, c.line)
        if principal.role == Role.mah and not any(
                d["product_id"] and next(p for p in products if p.id == d["product_id"]).mah_organization_id == sender
                for d in m.drugs):
            m.problems.append(Problem("an MAH imports cases about its own products: no drug matches one of "
                                      "yours (product code, trade name or INN)", "G.k.2", c.line))
        if m.problems:
            msg.problems = m.problems
            continue
        number = _number(seen, c.safety_report_id, c.message_id, m.version_fields["message_created"])
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
            accepted.append((prepared, intake.decide(prepared, lookups.cases)))
        except DomainError as exc:
            msg.problems = [Problem(exc.message if hasattr(exc, "message") else str(exc), "C.1.1", c.line)]
    plan = intake.Plan([p.report for p, _ in accepted], [None] * len(elements), accepted, lookups.cases)
    try:
        with session.begin_nested():
            intake_sql.write_plan(conn, plan, principal, now)
    except IntegrityError:
        for p, _ in accepted:
            result.messages[p.index].problems = [Problem("another import of this case ran at the same time: "
                                                         "send the message again", "C.1.1")]
        return result
    for p, kind in accepted:
        msg = result.messages[p.index]
        msg.accepted, msg.outcome = True, "unchanged" if kind == "unchanged" else "created"
        msg.case_id, msg.version = plan.state[p.report.sender_case_id].case_id, p.report.version
    return result

"""Reference safety information: label versions kept by safety officers, and expectedness assessed
against them (rules in pv_service.rsi.expectedness)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from pv_service.audit import chain as audit
from pv_service.auth.principal import Principal
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.common.errors import Conflict, InvalidInput, Problems
from pv_service.meddra.models import MeddraPath, MeddraSmqTerm, MeddraTerm
from pv_service.products.models import Product, ProductApproval
from pv_service.rsi import expectedness as ex
from pv_service.rsi.models import ReactionExpectedness, RsiTerm, RsiVersion
from pv_service.rsi.schemas import ExpectednessPublic, RsiTermPublic, RsiVersionIn, RsiVersionPublic
from pv_service.signals.hierarchy import loaded_versions

SUSPECT_ROLES = ("suspect", "interacting")
_path, _smq_term, _term = (m.__table__ for m in (MeddraPath, MeddraSmqTerm, MeddraTerm))


# ---- label versions

def _check_terms(conn: Connection, body: RsiVersionIn) -> None:
    """Every code must exist in the newest loaded MedDRA version; HLT and SMQ references need one."""
    problems = Problems()
    loaded = loaded_versions(conn)
    version = loaded[0] if loaded else None
    seen = set()
    for i, t in enumerate(body.terms):
        key = (t.kind, t.code, t.scope)
        if key in seen:
            problems.add(("body", "terms", i), f"{t.kind.upper()} {t.code} is listed twice")
        seen.add(key)
        if version is None:
            if t.kind != "pt":
                problems.add(("body", "terms", i, "kind"), "HLT and SMQ references need a loaded MedDRA dictionary")
            continue
        if t.kind in ("pt", "hlt"):
            found = conn.execute(sa.select(_term.c.code).where(
                _term.c.version == version, _term.c.level == t.kind, _term.c.code == t.code)).first()
        else:
            found = conn.execute(sa.select(_smq_term.c.smq_code).where(
                _smq_term.c.version == version, _smq_term.c.smq_code == t.code).limit(1)).first()
        if found is None:
            problems.add(("body", "terms", i, "code"), f"{t.kind.upper()} {t.code} is not in MedDRA {version}")
    problems.raise_if_any()


def create_version(session: Session, principal: Principal, product: Product, body: RsiVersionIn,
                   now: dt.datetime) -> RsiVersion:
    conn = session.connection()
    approved = set(session.exec(select(ProductApproval.jurisdiction).where(ProductApproval.product_id == product.id)))
    if body.jurisdiction not in approved:
        raise InvalidInput.one(("body", "jurisdiction"), f"{product.code} has no approval in {body.jurisdiction!r} "
                               f"(approved: {', '.join(sorted(approved)) or 'none'})")
    _check_terms(conn, body)
    clash = session.exec(select(RsiVersion.id).where(
        RsiVersion.product_id == product.id, RsiVersion.jurisdiction == body.jurisdiction,
        RsiVersion.effective_from == body.effective_from)).first()
    if clash is not None:
        raise Conflict(f"label version {clash} of {product.code} ({body.jurisdiction}) already takes effect on "
                       f"{body.effective_from.isoformat()}; add a version with another date")
    row = RsiVersion(product_id=product.id, jurisdiction=body.jurisdiction,
                     document=body.document or ex.DOCUMENTS.get(body.jurisdiction, f"{body.jurisdiction} label"),
                     version_label=body.version_label, effective_from=body.effective_from, source=body.source,
                     created_by=principal.user_id, created_at=now)
    session.add(row)
    session.flush()
    session.add_all([RsiTerm(rsi_version_id=row.id, kind=t.kind, code=t.code,
                             scope=(t.scope or "narrow") if t.kind == "smq" else None, name=t.name) for t in body.terms])
    audit.record(session, actor_id=principal.user_id, actor=principal.username, entity_type="rsi_version",
                 entity_id=row.id, action="created", before=None,
                 after={"product": product.code, "jurisdiction": row.jurisdiction, "document": row.document,
                        "version_label": row.version_label, "effective_from": row.effective_from.isoformat(),
                        "terms": [f"{t.kind}:{t.code}" + (f":{t.scope or 'narrow'}" if t.kind == "smq" else "")
                                  for t in body.terms]}, now=now)
    session.flush()
    return row


def describe(session: Session, versions: Sequence[RsiVersion]) -> list[RsiVersionPublic]:
    if not versions:
        return []
    ids = [v.id for v in versions]
    terms = defaultdict(list)
    for t in session.exec(select(RsiTerm).where(RsiTerm.rsi_version_id.in_(ids)).order_by(RsiTerm.id)):
        terms[t.rsi_version_id].append(RsiTermPublic.model_validate(t))
    codes = dict(session.exec(select(Product.id, Product.code).where(
        Product.id.in_({v.product_id for v in versions}))).all())
    starts = defaultdict(list)
    for pid, j, start in session.exec(select(RsiVersion.product_id, RsiVersion.jurisdiction, RsiVersion.effective_from)
                                      .where(RsiVersion.product_id.in_({v.product_id for v in versions}))):
        starts[(pid, j)].append(start)
    out = []
    for v in versions:
        later = sorted(s for s in starts[(v.product_id, v.jurisdiction)] if s > v.effective_from)
        out.append(RsiVersionPublic(
            id=v.id, product_id=v.product_id, product_code=codes[v.product_id], jurisdiction=v.jurisdiction,
            document=v.document, version_label=v.version_label, effective_from=v.effective_from,
            effective_until=later[0] - dt.timedelta(days=1) if later else None, source=v.source,
            created_at=v.created_at, terms=terms[v.id]))
    return out


def product_versions(session: Session, product_id: int) -> list[RsiVersion]:
    return list(session.exec(select(RsiVersion).where(RsiVersion.product_id == product_id)
                             .order_by(RsiVersion.jurisdiction, RsiVersion.effective_from)))


# ---- resolution of label terms to PT codes

def _term_pts(conn: Connection, version: str | None, kind: str, code: str, scope: str | None) -> set[str]:
    if kind == "pt":
        return {code}
    if version is None:
        return set()  # HLT and SMQ references count once a dictionary is loaded
    if kind == "hlt":
        return set(conn.execute(sa.select(_path.c.pt_code).where(
            _path.c.version == version, _path.c.hlt_code == code)).scalars())
    stmt = sa.select(_smq_term.c.pt_code).where(_smq_term.c.version == version, _smq_term.c.smq_code == code)
    if scope != "broad":
        stmt = stmt.where(_smq_term.c.scope == "narrow")
    return set(conn.execute(stmt).scalars())


def label_versions(conn: Connection) -> list[ex.LabelVersion]:
    """Every label version with the PT codes it lists, resolved in the newest loaded MedDRA version."""
    loaded = loaded_versions(conn)
    meddra = loaded[0] if loaded else None
    v, t = RsiVersion.__table__, RsiTerm.__table__
    listed: dict[int, dict[str, str]] = defaultdict(dict)
    for vid, kind, code, scope in conn.execute(sa.select(t.c.rsi_version_id, t.c.kind, t.c.code, t.c.scope)
                                               .order_by(t.c.id)):
        label = f"{kind.upper()} {code}" + (f" ({scope})" if kind == "smq" else "")
        for pt in _term_pts(conn, meddra, kind, code, scope):
            listed[vid].setdefault(pt, label)
    return [ex.LabelVersion(r.id, r.product_id, r.jurisdiction, r.effective_from, listed[r.id])
            for r in conn.execute(sa.select(v.c.id, v.c.product_id, v.c.jurisdiction, v.c.effective_from))]


def listed_pt_codes(conn: Connection, as_of: dt.date) -> dict[str, set[str]]:
    """Product code -> PT codes listed in every label of the product in force on `as_of`
    (products with no label in force are absent)."""
    labels = label_versions(conn)
    index = ex.Labels(labels)
    p, a = Product.__table__, ProductApproval.__table__
    out: dict[str, set[str]] = {}
    for code, pid, jurisdiction in conn.execute(sa.select(p.c.code, p.c.id, a.c.jurisdiction).join(
            a, a.c.product_id == p.c.id).distinct()):
        label = index.in_force(pid, jurisdiction, as_of)
        if label is None:
            continue
        pts = set(label.listed)
        out[code] = out[code] & pts if code in out else pts
    return out


# ---- expectedness of stored reactions

def assess_pending(session: Session, now: dt.datetime) -> dict[str, int]:
    """Assess every reaction of every stored case version that has no assessment yet, against the
    label in force on the version's receipt date; stored once ("at receipt"), never recomputed."""
    session.flush()  # labels added in this session count
    conn = session.connection()
    r, v, d, a, e = (m.__table__ for m in (CaseReaction, CaseVersion, CaseDrug, ProductApproval, ReactionExpectedness))
    pending = (
        sa.select(r.c.id, r.c.case_version_id, r.c.pt_code, v.c.latest_info_date, d.c.product_id, a.c.jurisdiction)
        .join(v, v.c.id == r.c.case_version_id)
        .join(d, d.c.case_version_id == v.c.id)
        .join(a, a.c.product_id == d.c.product_id)
        .where(d.c.role.in_(SUSPECT_ROLES),
               ~sa.exists().where(e.c.case_reaction_id == r.c.id))
        .order_by(r.c.id)
    )
    rows = conn.execute(pending).all()
    if not rows:
        return {"assessed": 0}
    grouped: dict[int, list] = {}
    for row in rows:
        grouped.setdefault(row.id, []).append(row)
    reactions = [ex.Reaction(rid, rs[0].case_version_id, rs[0].pt_code, rs[0].latest_info_date,
                             tuple(sorted({(x.product_id, x.jurisdiction) for x in rs})))
                 for rid, rs in grouped.items()]
    results = ex.assess(reactions, ex.Labels(label_versions(conn)))
    values = [{"case_reaction_id": x.reaction_id, "case_version_id": x.version_id, "jurisdiction": x.jurisdiction,
               "expectedness": x.expectedness, "rsi_version_id": x.rsi_version_id, "matched": x.matched,
               "assessed_at": now} for x in results]
    for i in range(0, len(values), 1000):
        conn.execute(sa.insert(e), values[i:i + 1000])
    counts = {"assessed": len(values)}
    for x in results:
        counts[x.expectedness] = counts.get(x.expectedness, 0) + 1
    return counts


def case_expectedness(session: Session, case: Case) -> list[ExpectednessPublic]:
    """Every stored assessment of every version of the case, oldest version first."""
    rows = session.exec(
        select(ReactionExpectedness, CaseVersion.version, CaseReaction.pt_code, CaseReaction.pt_name,
               RsiVersion.document, RsiVersion.version_label)
        .join(CaseReaction, CaseReaction.id == ReactionExpectedness.case_reaction_id)
        .join(CaseVersion, CaseVersion.id == ReactionExpectedness.case_version_id)
        .outerjoin(RsiVersion, RsiVersion.id == ReactionExpectedness.rsi_version_id)
        .where(CaseVersion.case_id == case.id)
        .order_by(CaseVersion.version, CaseReaction.id, ReactionExpectedness.jurisdiction)
    ).all()
    return [ExpectednessPublic(version=version, reaction_id=x.case_reaction_id, pt_code=pt_code, pt_name=pt_name,
                               jurisdiction=x.jurisdiction, expectedness=x.expectedness,
                               rsi_version_id=x.rsi_version_id,
                               label=f"{doc} {label}" if doc else None, matched=x.matched, assessed_at=x.assessed_at)
            for x, version, pt_code, pt_name, doc, label in rows]

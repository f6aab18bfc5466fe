"""Recoding stored reactions to another loaded MedDRA version (`pv-service meddra recode --to X`).

Each coded reaction (coded against a loaded version) is looked up in the target version by
its LLT (or, coded to a PT alone, by the PT's own LLT, which carries the same code): its PT
may have moved, its LLT may no longer be current, its PT's primary SOC or a name may have
changed. The current coding (`meddra_version`, names, `pt_code`, `soc_code`) moves to the
target; the coding as reported (`reported_*`) never changes. Every reaction moved is one
audit record. Running it again changes nothing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from pv_service.audit import chain
from pv_service.cases.models import CaseReaction, CaseVersion
from pv_service.meddra.lookup import Dictionary, loaded_dictionaries


@dataclass
class Change:
    reaction_id: int
    case_id: int
    case_version: int
    llt_code: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    reasons: list[str]


@dataclass
class RecodeReport:
    target: str
    examined: int = 0
    already_at_target: int = 0
    uncoded: int = 0  # not coded against a loaded version (stored when none was loaded): left as they are
    changes: list[Change] = field(default_factory=list)
    not_in_target: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        reasons: dict[str, int] = {}
        for c in self.changes:
            for r in c.reasons:
                reasons[r] = reasons.get(r, 0) + 1
        return {"examined": self.examined, "recoded": len(self.changes), "already_at_target": self.already_at_target,
                "uncoded": self.uncoded, "not_in_target": len(self.not_in_target), **reasons}


    def lines(self) -> list[str]:
        """What changed, for a person: the counts, then each reaction whose coding changed or was left."""
        out = [f"recode to MedDRA {self.target}: " + ", ".join(f"{k}={v}" for k, v in self.counts().items())]
        for c in self.changes:
            if c.reasons != ["version_only"]:
                b, a = c.before, c.after
                out.append(f"  reaction {c.reaction_id} (case {c.case_id} v{c.case_version}) LLT {c.llt_code or '-'}: "
                           f"PT {b['pt_code']} {b['pt_name']!r} SOC {b['soc_code']} ({b['meddra_version']}) -> "
                           f"PT {a['pt_code']} {a['pt_name']!r} SOC {a['soc_code']}: {', '.join(c.reasons)}")
        for miss in self.not_in_target:
            out.append(f"  reaction {miss['reaction_id']} (case {miss['case_id']}): code {miss['code']} of MedDRA "
                       f"{miss['meddra_version']} is not an LLT in {self.target}: left as it was")
        return out


_r, _v = CaseReaction.__table__, CaseVersion.__table__
_CODED = (sa.select(_r.c.id, _v.c.case_id, _v.c.version.label("case_version"), _r.c.meddra_version, _r.c.llt_code,
                    _r.c.llt_name, _r.c.pt_code, _r.c.pt_name, _r.c.soc_code)
          .join(_v, _v.c.id == _r.c.case_version_id).order_by(_r.c.id))
_UPDATE = (sa.update(_r).where(_r.c.id == sa.bindparam("rid"))
           .values(meddra_version=sa.bindparam("v"), llt_name=sa.bindparam("ln"), pt_code=sa.bindparam("pc"),
                   pt_name=sa.bindparam("pn"), soc_code=sa.bindparam("sc")))
_CODING = ("meddra_version", "llt_code", "llt_name", "pt_code", "pt_name", "soc_code")


def plan(rows: list[Any], dictionaries: dict[str, Dictionary], target: str) -> RecodeReport:
    """What recoding `rows` (current codings) to `target` changes: pure."""
    to = dictionaries[target]
    report = RecodeReport(target)
    for row in rows:
        report.examined += 1
        source = dictionaries.get(row.meddra_version) if row.meddra_version else None
        if row.meddra_version == target:
            report.already_at_target += 1
            continue
        if source is None or row.soc_code is None:
            report.uncoded += 1
            continue
        key = row.llt_code or row.pt_code
        llt = to.llts.get(key)
        if llt is None:
            report.not_in_target.append({"reaction_id": row.id, "case_id": row.case_id, "code": key,
                                         "meddra_version": row.meddra_version})
            continue
        pt = to.pts[llt.pt_code]
        before = {k: getattr(row, k) for k in _CODING}
        after = {**before, "meddra_version": target, "llt_name": llt.name if row.llt_code else None,
                 "pt_code": llt.pt_code, "pt_name": pt.name, "soc_code": pt.soc_code}
        reasons = []
        if llt.pt_code != row.pt_code:
            reasons.append("moved_to_another_pt")
        was = source.llts.get(key)
        if row.llt_code and not llt.current and (was is None or was.current):
            reasons.append("became_non_current")
        if pt.soc_code != row.soc_code:
            reasons.append("primary_soc_changed")
        if after["pt_name"] != row.pt_name or after["llt_name"] != row.llt_name:
            reasons.append("renamed")
        report.changes.append(Change(row.id, row.case_id, row.case_version, row.llt_code, before, after,
                                     reasons or ["version_only"]))
    return report


def recode(session: Session, target: str, now: dt.datetime, actor: str = "pv-service meddra recode") -> RecodeReport:
    """Recode every coded reaction to `target` in the session's transaction (the caller commits).

    Raises LookupError when `target` is not loaded.
    """
    conn = session.connection()
    dictionaries = loaded_dictionaries(conn)
    if target not in dictionaries:
        loaded = ", ".join(sorted(dictionaries)) or "none"
        raise LookupError(f"MedDRA {target} is not loaded (loaded: {loaded}); `pv-service meddra load` it first")
    report = plan(conn.execute(_CODED).all(), dictionaries, target)
    if report.changes:
        conn.execute(_UPDATE, [{"rid": c.reaction_id, "v": c.after["meddra_version"], "ln": c.after["llt_name"],
                                "pc": c.after["pt_code"], "pn": c.after["pt_name"], "sc": c.after["soc_code"]}
                               for c in report.changes])
    for c in report.changes:
        chain.record(session, actor_id=None, actor=actor, entity_type="reaction", entity_id=c.reaction_id,
                     action="meddra_recoded", before=c.before,
                     after={**c.after, "case_id": c.case_id, "case_version": c.case_version, "reasons": c.reasons},
                     now=now)
    return report

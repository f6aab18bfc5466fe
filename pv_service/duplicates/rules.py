"""Step 1 of candidate detection (as vigiMatch's): identifiers. Pure functions of the cases' identifiers.

- the same worldwide unique case id (C.1.8.1) under two cases;
- a case naming another among its other identifiers (C.1.9.1.r.2), matched against that case's
  worldwide id, safety report id (C.1.1) or the sender's case id;
- identical content (the content hash) under a different case id.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Identifiers:
    case_id: int
    sender_case_id: str
    worldwide_id: str | None
    safety_report_id: str | None
    other_ids: tuple[str, ...]
    content_hash: str


@dataclass(frozen=True)
class Candidate:
    case_a: int
    case_b: int
    method: str
    evidence: str  # the identifier or hash both share

    @classmethod
    def of(cls, x: int, y: int, method: str, evidence: str) -> Candidate:
        return cls(min(x, y), max(x, y), method, evidence)


def _norm(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value or None


def identifier_candidates(new: Iterable[Identifiers], known: Iterable[Identifiers]) -> list[Candidate]:
    """Pairs of a new case with any case (new or known) by identifiers; each pair once, strongest rule first."""
    new = list(new)
    everyone = {c.case_id: c for c in known} | {c.case_id: c for c in new}
    by_worldwide: dict[str, list[int]] = {}
    by_any_id: dict[str, list[int]] = {}
    by_hash: dict[str, list[int]] = {}
    named_by: dict[str, list[int]] = {}
    for c in everyone.values():
        if (w := _norm(c.worldwide_id)) is not None:
            by_worldwide.setdefault(w, []).append(c.case_id)
        for ident in {_norm(c.worldwide_id), _norm(c.safety_report_id), _norm(c.sender_case_id)} - {None}:
            by_any_id.setdefault(ident, []).append(c.case_id)
        by_hash.setdefault(c.content_hash, []).append(c.case_id)
        for ident in {_norm(i) for i in c.other_ids} - {None}:
            named_by.setdefault(ident, []).append(c.case_id)
    found: dict[tuple[int, int], Candidate] = {}

    def add(x: int, y: int, method: str, evidence: str) -> None:
        if x != y:
            cand = Candidate.of(x, y, method, evidence)
            found.setdefault((cand.case_a, cand.case_b), cand)

    for c in new:
        if (w := _norm(c.worldwide_id)) is not None:
            for other in by_worldwide[w]:
                add(c.case_id, other, "worldwide_id", w)
        for ident in {_norm(i) for i in c.other_ids} - {None}:
            for other in by_any_id.get(ident, ()):
                add(c.case_id, other, "other_identifier", ident)
        # Cases naming this one among their other identifiers.
        for ident in {_norm(c.worldwide_id), _norm(c.safety_report_id), _norm(c.sender_case_id)} - {None}:
            for other in named_by.get(ident, ()):
                add(c.case_id, other, "other_identifier", ident)
        # Identical content: link to the earliest case with it (a burst becomes one cluster, not n^2 pairs).
        same = sorted(by_hash[c.content_hash])
        if same[0] != c.case_id:
            add(c.case_id, same[0], "content_hash", c.content_hash)
    return list(found.values())

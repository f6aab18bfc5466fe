"""Expectedness of reactions against reference safety information (pure: no database, no clock).

A label version applies from its effective date until the next version of the same product and
jurisdiction. A reaction of a case version is judged, per jurisdiction, against the version in force
on the case version's date of receipt (E2B C.1.5, the date its information arrived; C.1.4 for the
initial report):

* listed: every suspect product of the case approved there has a label in force then, and each lists
  the reaction's PT (as a PT, under a listed HLT, or in a listed SMQ);
* unlisted: a product's label in force does not list it (or a product has none while another has one);
* no_label: no suspect product has a label in force there then (the clocks treat it as unexpected).
"""
from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LISTED, UNLISTED, NO_LABEL = "listed", "unlisted", "no_label"
EXPECTEDNESS = (LISTED, UNLISTED, NO_LABEL)
# The label's name per jurisdiction, as the service shows it.
DOCUMENTS = {"FDA": "US PI", "NMPA": "China label", "EMA": "EU SmPC"}


@dataclass(frozen=True)
class LabelVersion:
    id: int
    product_id: int
    jurisdiction: str
    effective_from: dt.date
    listed: Mapping[str, str]  # PT code -> the label term that lists it ("PT 96000001", "HLT 97000201")


@dataclass(frozen=True)
class Reaction:
    reaction_id: int
    version_id: int
    pt_code: str
    received: dt.date  # the case version's date of receipt
    products: tuple[tuple[int, str], ...]  # (product id, jurisdiction) of each suspect product's approval


@dataclass(frozen=True)
class Assessment:
    reaction_id: int
    version_id: int
    jurisdiction: str
    expectedness: str
    rsi_version_id: int | None  # the label version that decided (the first unlisting one, else the first)
    matched: str | None


class Labels:
    """Label versions indexed for 'which version was in force on day D'."""

    def __init__(self, versions: Iterable[LabelVersion]):
        self._by: dict[tuple[int, str], list[LabelVersion]] = {}
        for v in versions:
            self._by.setdefault((v.product_id, v.jurisdiction), []).append(v)
        for vs in self._by.values():
            vs.sort(key=lambda v: v.effective_from)
        self._starts = {k: [v.effective_from for v in vs] for k, vs in self._by.items()}

    def in_force(self, product_id: int, jurisdiction: str, day: dt.date) -> LabelVersion | None:
        key = (product_id, jurisdiction)
        i = bisect_right(self._starts.get(key, []), day)
        return self._by[key][i - 1] if i else None


def assess(reactions: Iterable[Reaction], labels: Labels) -> list[Assessment]:
    out = []
    for r in reactions:
        by_jurisdiction: dict[str, list[int]] = {}
        for product_id, jurisdiction in r.products:
            by_jurisdiction.setdefault(jurisdiction, []).append(product_id)
        for jurisdiction, product_ids in sorted(by_jurisdiction.items()):
            in_force = [labels.in_force(p, jurisdiction, r.received) for p in sorted(set(product_ids))]
            present = [v for v in in_force if v is not None]
            if not present:
                out.append(Assessment(r.reaction_id, r.version_id, jurisdiction, NO_LABEL, None, None))
                continue
            unlisting = next((v for v in present if r.pt_code not in v.listed), None)
            if unlisting is not None or len(present) < len(in_force):
                decider = unlisting or present[0]
                out.append(Assessment(r.reaction_id, r.version_id, jurisdiction, UNLISTED, decider.id, None))
            else:
                out.append(Assessment(r.reaction_id, r.version_id, jurisdiction, LISTED, present[0].id,
                                      present[0].listed[r.pt_code]))
    return out

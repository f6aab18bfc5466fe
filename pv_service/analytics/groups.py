"""The event groups analysed for a product, and which reactions belong to them: one place.

Groups come from the rules: the designated-medical-event groups of ``signal_rules.yaml`` and
the adverse events of special interest of ``analytics.yaml``, for the product's modality. A
reaction belongs to a group by its preferred-term name today; when the groups are defined by
MedDRA codes, ``members`` is the one function to change.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class EventGroup:
    name: str
    kind: str  # "designated_medical_event", "special_interest" or "terms" (an ad-hoc list of preferred terms)
    terms: tuple[str, ...]
    modalities: tuple[str, ...] = ()


def event_groups(rules, modality: str | None = None) -> list[EventGroup]:
    """Every rule-defined group (for one modality when given), DMEs first, in file order."""
    out = [EventGroup(d.name, "designated_medical_event", tuple(d.terms), tuple(d.modalities))
           for d in rules.signals.designated_medical_events]
    out += [EventGroup(g.name, "special_interest", tuple(g.terms), tuple(g.modalities))
            for g in rules.analytics.adverse_events_of_special_interest]
    return [g for g in out if modality is None or modality in g.modalities]


def term_group(terms: list[str]) -> EventGroup:
    """An ad-hoc group of preferred terms (the API's ``pt`` filter)."""
    names = tuple(dict.fromkeys(t.strip() for t in terms if t.strip()))
    return EventGroup(" + ".join(names), "terms", names)


def members(reactions: pd.DataFrame, group: EventGroup) -> pd.Series:
    """Boolean mask of the reactions (a frame with ``pt_name``) that belong to ``group``."""
    return reactions["pt_name"].isin(group.terms)

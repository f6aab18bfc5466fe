"""The event groups analysed for a product, and which reactions belong to them: one place.

Groups come from the rules: the designated-medical-event groups of ``signal_rules.yaml`` and
the adverse events of special interest of ``analytics.yaml``, for the product's modality, both
defined by MedDRA codes and resolved to PT codes as the signal job does
(pv_service.signals.hierarchy.designated_groups, against the newest loaded version; with none
loaded only the explicit PT codes count). A reaction belongs to a group by its PT code: names
decide nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Connection

from pv_service.signals.hierarchy import analysis_version, designated_groups, term_names
from pv_service.signals.levels import Level


@dataclass(frozen=True)
class EventGroup:
    name: str
    kind: str  # "designated_medical_event", "special_interest" or "pt_codes" (an ad-hoc list of PT codes)
    pt_codes: tuple[str, ...]  # sorted
    modalities: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # what could not be resolved (an HLT/SMQ without a dictionary, an unknown code)
    pt_names: tuple[str, ...] = ()  # display only, aligned with pt_codes: the dictionary's, else the reactions'

    def described(self) -> dict:
        """The group's definition as the API shows it."""
        return {"pt_codes": list(self.pt_codes), "pt_names": dict(zip(self.pt_codes, self.pt_names, strict=False)),
                "problems": list(self.problems)}


def _names(conn: Connection, version: str | None, codes) -> tuple[str, ...]:
    names = term_names(conn, Level("pt"), version, codes)
    return tuple(names.get(c, "") for c in codes)


def event_groups(conn: Connection, rules, modality: str | None = None) -> list[EventGroup]:
    """Every rule-defined group (for one modality when given), DMEs first, in file order."""
    version = analysis_version(conn, None)
    kinds = [("designated_medical_event", rules.signals.designated_medical_events),
             ("special_interest", rules.analytics.adverse_events_of_special_interest)]
    out = []
    for kind, defined in kinds:
        chosen = [d for d in defined if modality is None or modality in d.modalities]
        codes, problems = designated_groups(conn, chosen, version)  # the signal job's resolution
        for d in chosen:
            pts = tuple(sorted(codes[d.name]))
            out.append(EventGroup(d.name, kind, pts, tuple(d.modalities), tuple(problems.get(d.name, ())),
                                  _names(conn, version, pts)))
    return out


def pt_code_group(conn: Connection, codes: list[str]) -> EventGroup:
    """An ad-hoc group of PT codes (the API's ``pt`` filter), named by its codes."""
    unique = tuple(sorted({c.strip() for c in codes if c.strip()}))
    return EventGroup(" + ".join(unique), "pt_codes", unique,
                      pt_names=_names(conn, analysis_version(conn, None), unique))


def members(reactions: pd.DataFrame, group: EventGroup) -> pd.Series:
    """Boolean mask of the reactions (a frame with ``pt_code``) that belong to ``group``."""
    return reactions["pt_code"].isin(group.pt_codes)

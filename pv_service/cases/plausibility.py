"""Plausibility rules of a case report version: pure functions, no database, no clock.

Each returns the problems it finds (FieldProblem: loc from the report's body, and why).
The intake (`intake.plan`) refuses a report with any *problem* and stores one with
*warnings*, returning them; README "Plausibility of what is received" gives the reasons.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from pv_service.common.errors import FieldProblem
from pv_service.common.vocab import DrugRole

# Roles saying the product was given and may have caused the event.
CAUSAL_ROLES = (DrugRole.suspect, DrugRole.interacting)


def version_problems(version: int, latest: int | None) -> list[FieldProblem]:
    """Versions run 0, 1, 2, ... with no gap: a missing version would be information never received.
    `latest`: the latest version stored (or accepted earlier in the batch), None for a new case.
    (A version at or below `latest` is answered elsewhere: unchanged, or a 409.)"""
    expected = 0 if latest is None else latest + 1
    if version <= expected:
        return []
    if latest is None:
        return [FieldProblem(("body", "version"), f"version gap: this case has no version yet, so it starts at 0, not {version}",
                             "version_gap")]
    return [FieldProblem(("body", "version"), f"version gap: the latest version received is {latest}, "
                                              f"so the next one is {expected}, not {version}", "version_gap")]


def latest_info_problems(latest_info: dt.date, previous: dt.date | None) -> list[FieldProblem]:
    """A follow-up brings information at least as recent as the version before it (E2B C.1.5)."""
    if previous is None or latest_info >= previous:
        return []
    return [FieldProblem(("body", "latest_info_date"),
                         f"is before the previous version's latest information date {previous.isoformat()}",
                         "date_order")]


def onset_warnings(onsets: Iterable[dt.date | None], drugs: Iterable[tuple[int, DrugRole]],
                   infusion_of: Mapping[int, dt.date]) -> list[FieldProblem]:
    """A reaction that began before the infusion of every suspect (or interacting) product named.

    Only a warning: events after leukapheresis, bridging therapy or lymphodepleting
    chemotherapy precede the infusion and are reported too, and a reaction may be a
    pre-existing condition worsened; the reviewer judges. `drugs`: (treatment id, role).
    """
    infused = [infusion_of[t] for t, role in drugs if role in CAUSAL_ROLES and t in infusion_of]
    if not infused:
        return []
    first = min(infused)
    return [FieldProblem(("body", "reactions", i, "onset_date"),
                         f"is before the infusion of the suspect product ({first.isoformat()}): "
                         "stored; check the date, or whether the event preceded the product", "onset_before_infusion")
            for i, onset in enumerate(onsets) if onset is not None and onset < first]


def fatal_warnings(reactions: Iterable[tuple[str | None, bool]]) -> list[FieldProblem]:
    """A reaction whose outcome is fatal but which is not marked as resulting in death (E2B E.i.7 = 5
    without E.i.3.2a). Only a warning, as stored: the sender may judge the death unrelated; but the
    reporting clocks and signal rules count the case by its seriousness flags, so it may be given
    a non-serious clock. `reactions`: (outcome, death flag) in order."""
    return [FieldProblem(("body", "reactions", i, "outcome"),
                         "is fatal but the reaction is not marked as resulting in death (seriousness 'death'): "
                         "stored as sent; the case counts as serious only by its other criteria", "fatal_not_death")
            for i, (outcome, death) in enumerate(reactions) if outcome == "fatal" and not death]

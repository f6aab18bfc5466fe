"""Alert lifecycles (pure rules).

Signal alerts follow the signal-management steps of EU GVP Module IX: validation,
then assessment, then a recommendation for action. Operational alerts (follow-up,
deadline, reporting clock) are simply acknowledged and resolved.
"""
from __future__ import annotations

from enum import StrEnum

SIGNAL_TYPE = "signal"


class Action(StrEnum):
    """The recommendation recorded when a signal alert is closed."""
    label_change = "label_change"
    rmp_update = "rmp_update"
    communication_to_hcp = "communication_to_hcp"
    no_action = "no_action"


SIGNAL_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("validation",),
    "validation": ("validated", "refuted"),
    "validated": ("assessment",),
    "assessment": ("confirmed", "not_confirmed"),
    "confirmed": ("closed",),
    "not_confirmed": ("closed",),
    "refuted": ("closed",),
    "closed": (),
}
OPERATIONAL_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("acknowledged", "resolved"),
    "acknowledged": ("resolved",),
    "resolved": (),
}
SIGNAL_OPEN = ("new", "validation", "validated", "assessment", "confirmed", "not_confirmed", "refuted")
OPERATIONAL_OPEN = ("open", "acknowledged")


def transitions_for(alert_type: str) -> dict[str, tuple[str, ...]]:
    return SIGNAL_TRANSITIONS if alert_type == SIGNAL_TYPE else OPERATIONAL_TRANSITIONS


def initial_status(alert_type: str) -> str:
    return "new" if alert_type == SIGNAL_TYPE else "open"


def is_open(alert_type: str, status: str) -> bool:
    return status in (SIGNAL_OPEN if alert_type == SIGNAL_TYPE else OPERATIONAL_OPEN)


class IllegalTransition(ValueError):
    pass


def check_transition(alert_type: str, current: str, target: str, action: str | None) -> None:
    """Raise IllegalTransition unless `current -> target` is a step of this alert's lifecycle."""
    allowed = transitions_for(alert_type).get(current, ())
    if target not in allowed:
        options = ", ".join(allowed) or "none (final)"
        raise IllegalTransition(f"cannot move a {alert_type} alert from {current} to {target}; next steps: {options}")
    if alert_type == SIGNAL_TYPE and target == "closed":
        if action is None:
            raise IllegalTransition("closing a signal needs an action (" + ", ".join(a.value for a in Action) + ")")
        if current == "refuted" and action != Action.no_action:
            raise IllegalTransition("a refuted signal closes with no_action")
    elif action is not None:
        raise IllegalTransition("an action is recorded only when a signal is closed")


def priority(*, serious_fraction: float, designated_medical_event: bool, eb05: float | None,
             ror_lower: float | None, n: int, is_new: bool) -> float:
    """0-100: seriousness, a designated medical event, strength of the measure, novelty.

    Weights: DME 35, seriousness up to 25, strength up to 25 (EB05, else the ROR lower
    bound, on a log scale saturating at 8), novelty 10, case count up to 5.
    """
    import math

    strength_value = eb05 if eb05 is not None else ror_lower
    strength = 0.0
    if strength_value is not None and strength_value > 1:
        strength = min(math.log2(strength_value) / 3.0, 1.0)
    score = (35.0 * designated_medical_event + 25.0 * max(0.0, min(serious_fraction, 1.0)) + 25.0 * strength
             + 10.0 * is_new + 5.0 * min(n / 10.0, 1.0))
    return round(score, 2)


def escalated_priority(previous: float | None, computed: float, still_open: bool) -> float:
    """An open signal's priority never falls: a run recomputes it and keeps the higher of the two.

    Ageing (a case no longer new, a measure diluted by a growing background) is no reason to
    review a signal later; new evidence raises it. A closed signal starts afresh when reopened.
    """
    if previous is None or not still_open:
        return computed
    return max(previous, computed)


def cases_since_review(n: int | None, reviewed_n: int | None) -> int | None:
    """Cases added since a person last acted on the signal; None if nobody has yet."""
    if reviewed_n is None or n is None:
        return None
    return max(int(n) - int(reviewed_n), 0)


def unreviewed(n: int | None, reviewed_n: int | None) -> bool:
    """Never reviewed, or new cases since the last review (the priority's novelty term)."""
    since = cases_since_review(n, reviewed_n)
    return since is None or since > 0

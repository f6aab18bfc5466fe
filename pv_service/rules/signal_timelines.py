"""Model of ``alerts/signal_timelines.yaml``: the days each open step of a signal may take before it
is due. Without the file, the defaults below (EU GVP Module IX Rev 1) apply."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pv_service.alerting.workflow import SIGNAL_OPEN
from pv_service.rules.common import RuleModel


class StepTimeline(RuleModel):
    days: int = Field(ge=1, le=3650)
    # Counted from when the signal entered this status, or from when it was first raised.
    counted_from: Literal["entered", "raised"] = "entered"
    basis: str = Field(min_length=1)


DEFAULT_STEPS = {
    "new": StepTimeline(days=30, counted_from="raised", basis=(
        "GVP IX Rev 1 IX.C.4: a signal detected in EudraVigilance monitoring is validated, and if validated "
        "notified, within 30 days")),
    "validation": StepTimeline(days=30, counted_from="raised", basis=(
        "GVP IX Rev 1 IX.C.4: validation within 30 days of detection")),
    "validated": StepTimeline(days=30, basis=(
        "GVP IX Rev 1 IX.C.5: confirmation by the PRAC rapporteur or lead Member State within 30 days of receipt")),
    "assessment": StepTimeline(days=60, basis=(
        "GVP IX Rev 1 IX.C.6: PRAC assessment of a confirmed signal, usually within 60 days")),
    "confirmed": StepTimeline(days=30, basis=(
        "GVP IX Rev 1 IX.C.7: the recommendation for action follows the assessment; 30 days set by the operator")),
    "not_confirmed": StepTimeline(days=30, basis="closing a non-confirmed signal: 30 days set by the operator"),
    "refuted": StepTimeline(days=30, basis="closing a refuted signal: 30 days set by the operator"),
}


class SignalTimelines(RuleModel):
    source: str = "EU GVP Module IX Rev 1 (EMA/827661/2011 Rev 1, 2017), sections IX.C.4 to IX.C.7"
    steps: dict[str, StepTimeline] = Field(default_factory=lambda: dict(DEFAULT_STEPS))

    @model_validator(mode="after")
    def _known_steps(self) -> SignalTimelines:
        unknown = sorted(set(self.steps) - set(SIGNAL_OPEN))
        if unknown:
            raise ValueError(f"unknown signal step(s) {', '.join(unknown)}; open steps: {', '.join(SIGNAL_OPEN)}")
        return self

"""When a signal's current step is due (pure): the step's days from alerts/signal_timelines.yaml,
counted from when the signal entered the step (or was raised), on calendar dates."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pv_service.rules.signal_timelines import SignalTimelines


@dataclass(frozen=True)
class StepDue:
    status: str
    start: dt.date
    due: dt.date
    days_left: int  # negative: overdue by that many days
    basis: str

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


def step_due(status: str, status_since: dt.datetime | None, first_raised_at: dt.datetime,
             timelines: SignalTimelines, today: dt.date) -> StepDue | None:
    """None for a step without a timeline (closed, or left out of the file)."""
    step = timelines.steps.get(status)
    if step is None:
        return None
    entered = status_since if status_since is not None and step.counted_from == "entered" else first_raised_at
    start = entered.astimezone(dt.timezone.utc).date()
    due = start + dt.timedelta(days=step.days)
    return StepDue(status, start, due, (due - today).days, step.basis)

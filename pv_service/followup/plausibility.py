"""Plausibility of a follow-up visit's timepoint label: pure, on the treatment's own schedule.

The compliance engine (followup.compliance) counts a labelled visit toward its timepoint only
from the day that timepoint's window opens to the end of its grace period; outside that it
ignores the label and matches the visit by its date. So an unknown label is refused (it can
never count), and a known label dated outside that span is stored with a warning saying so.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from pv_service.common.errors import FieldProblem

LOC = ("body", "timepoint")


def _day(v) -> dt.date:
    return pd.Timestamp(v).date()


def _labels_text(listed: tuple[str, ...], lifelong_template: str | None) -> str:
    text = ", ".join(listed)
    return text if lifelong_template is None else f"{text}, then {lifelong_template} yearly for life"


def timepoint_check(label: str, contact_date: dt.date, schedule: pd.DataFrame, plan: str, listed: tuple[str, ...],
                    lifelong_template: str | None = None) -> tuple[list[FieldProblem], list[FieldProblem]]:
    """(problems, warnings) of a visit labelled `label` on `contact_date`.

    `schedule`: the treatment's rows of `followup.schedule.build_schedule` (label, window_start,
    window_end, overdue_until), built far enough ahead to hold every label the visit may name;
    `listed`, `lifelong_template`: the plan's listed labels and its lifelong contact label (e.g.
    "Y{n}"), if any, for the message.
    """
    rows = schedule[schedule["label"].astype(str) == label]
    if rows.empty:
        return [FieldProblem(LOC, f"unknown timepoint {label!r} in this treatment's follow-up plan {plan!r}; "
                                  f"one of {_labels_text(listed, lifelong_template)}", "unknown_timepoint")], []
    row = rows.iloc[0]
    opens, closes, late = _day(row["window_start"]), _day(row["window_end"]), _day(row["overdue_until"])
    if opens <= contact_date <= late:
        return [], []
    return [], [FieldProblem(LOC, f"will not count toward {label}: its window is {opens.isoformat()} to "
                                  f"{closes.isoformat()} (late until {late.isoformat()}); "
                                  f"{_by_date(contact_date, schedule)}", "outside_window")]


def _by_date(day: dt.date, schedule: pd.DataFrame) -> str:
    """What the visit counts for instead, as the engine matches an unlabelled visit."""
    ts = pd.Timestamp(day)
    inside = schedule[(schedule["window_start"] <= ts) & (ts <= schedule["window_end"])]
    if len(inside):
        return f"by its date it falls in the window of {inside['label'].iloc[0]}"
    late = schedule[(schedule["window_end"] < ts) & (ts <= schedule["overdue_until"])]
    if len(late):
        return f"by its date it completes {late['label'].iloc[-1]} late"
    return "by its date it fulfils no timepoint (it still counts as a contact)"

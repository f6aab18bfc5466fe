"""Confirmatory-trial obligations of conditional approvals: deadlines, horizons, milestones.

Pure: pandas/numpy only; the as-of date is a parameter. Rules: alerts/deadlines.yaml.

Inputs
  obligations: obligation_id, due_date (optionally product_id, jurisdiction: passed through)
  milestones:  obligation_id, kind, planned_date (or null), achieved_date (or null)

Obligation status: fulfilled / fulfilled_late (a ``completed_by`` milestone achieved on
or before / after the due date, at its earliest achieved date), open (due date today or
later), overdue (due date passed, not fulfilled). For an open obligation every horizon H
with days_remaining <= H is due (``horizons_due``); ``horizon_days`` is the tightest one
reached. A job alerting once per (obligation, horizon) uses ``horizons_due``.

Milestone status: achieved_on_time (achieved on or before its planned date, or achieved
with no plan), achieved_late, overdue (planned date passed, not achieved), planned,
not_planned (no planned date, not achieved). Achievements dated after the as-of date
are ignored, so a past date can be re-evaluated.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pv_service.followup.schedule import (
    add_offset,
    codes_in,
    days_to_datetime64,
    nullable_int,
    to_days,
)

OBLIGATION_STATUSES = ("open", "overdue", "fulfilled", "fulfilled_late")
MILESTONE_STATUSES = ("achieved_on_time", "achieved_late", "overdue", "planned", "not_planned")
_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class DeadlineResult:
    as_of: dt.date
    obligations: pd.DataFrame
    milestones: pd.DataFrame


def default_due_date(approval_date: dt.date, jurisdiction: str, rules) -> dt.date | None:
    """In-principle deadline from a conditional approval (NMPA: 4 years, calendar
    arithmetic), or None when the jurisdiction sets none."""
    dr = getattr(rules, "deadlines", rules)
    j = dr.jurisdictions.get(jurisdiction)
    if j is None or j.in_principle_deadline is None:
        return None
    day = add_offset(np.array([to_days(approval_date)]), j.in_principle_deadline)[0]
    return (np.datetime64(int(day), "D")).astype(dt.date)


def evaluate_obligations(obligations: pd.DataFrame, milestones: pd.DataFrame, rules, as_of: dt.date) -> DeadlineResult:
    dr = getattr(rules, "deadlines", rules)
    for df, cols, what in ((obligations, ("obligation_id", "due_date"), "obligations"),
                           (milestones, ("obligation_id", "kind", "planned_date", "achieved_date"), "milestones")):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{what} is missing column(s) {missing}")
    as_of_day = int(to_days(as_of))
    kinds = list(dr.milestone_kinds)
    kind_code = codes_in(milestones["kind"], kinds).astype(np.int64)
    if (kind_code < 0).any():
        bad = sorted({str(k) for k in milestones["kind"][kind_code < 0]})
        raise ValueError(f"unknown milestone kind(s) {bad}; one of {kinds}")

    o_ids = obligations["obligation_id"].to_numpy()
    o_index = pd.Index(o_ids)
    if not o_index.is_unique:
        raise ValueError("obligations.obligation_id must be unique")
    n = len(o_ids)
    due = to_days(obligations["due_date"])
    if (due == _NAT).any():
        raise ValueError("obligations.due_date must not be missing")
    m_obl = o_index.get_indexer(milestones["obligation_id"])
    if (m_obl < 0).any():
        raise ValueError("milestones reference obligation_id(s) not in obligations")
    planned = to_days(milestones["planned_date"]) if len(milestones) else np.zeros(0, np.int64)
    achieved = to_days(milestones["achieved_date"]) if len(milestones) else np.zeros(0, np.int64)
    has_plan = planned != _NAT
    has_ach = (achieved != _NAT) & (achieved <= as_of_day)  # later achievements are not known yet

    # milestones
    m_status = np.full(len(milestones), MILESTONE_STATUSES.index("not_planned"), np.int8)
    m_status[has_plan & ~has_ach & (planned >= as_of_day)] = MILESTONE_STATUSES.index("planned")
    m_status[has_plan & ~has_ach & (planned < as_of_day)] = MILESTONE_STATUSES.index("overdue")
    m_status[has_ach] = MILESTONE_STATUSES.index("achieved_on_time")
    m_status[has_ach & has_plan & (achieved > planned)] = MILESTONE_STATUSES.index("achieved_late")
    m_remaining = planned - as_of_day
    show_rem = has_plan & ~has_ach
    ms = pd.DataFrame({
        "obligation_id": milestones["obligation_id"].to_numpy(),
        "kind": pd.Categorical.from_codes(kind_code, categories=kinds),
        "planned_date": days_to_datetime64(np.where(has_plan, planned, 0), missing=~has_plan),
        "achieved_date": days_to_datetime64(np.where(has_ach, achieved, 0), missing=~has_ach),
        "status": pd.Categorical.from_codes(m_status, categories=list(MILESTONE_STATUSES)),
        "days_remaining": nullable_int(np.where(show_rem, m_remaining, 0), show_rem),
    })

    # obligations
    completing = has_ach & np.isin(kind_code, [kinds.index(k) for k in dr.completed_by])
    fulfilled_day = np.full(n, np.iinfo(np.int64).max, np.int64)
    if completing.any():
        np.minimum.at(fulfilled_day, m_obl[completing], achieved[completing])
    fulfilled = fulfilled_day != np.iinfo(np.int64).max
    remaining = due - as_of_day
    status = np.where(remaining >= 0, 0, 1).astype(np.int8)
    status[fulfilled] = np.where(fulfilled_day[fulfilled] <= due[fulfilled], 2, 3)
    is_open = status == 0
    horizons = dr.horizons_desc
    horizons_due: list[tuple[int, ...]] = [()] * n
    tight = np.full(n, -1, np.int64)
    for i in np.flatnonzero(is_open):
        crossed = tuple(h for h in horizons if remaining[i] <= h)
        if crossed:
            horizons_due[i] = crossed
            tight[i] = crossed[-1]
    overdue_ms = np.bincount(m_obl[m_status == MILESTONE_STATUSES.index("overdue")], minlength=n)
    # next milestone: the first kind, in the rules' order, not yet achieved
    ach_mask = np.zeros((n, len(kinds)), bool)
    if has_ach.any():
        ach_mask[m_obl[has_ach], kind_code[has_ach]] = True
    first_open = np.argmin(ach_mask, axis=1)
    all_done = ach_mask.all(axis=1)
    next_kind = np.where(all_done | fulfilled, -1, first_open)
    out = pd.DataFrame({"obligation_id": o_ids})
    for extra in ("product_id", "jurisdiction"):
        if extra in obligations.columns:
            out[extra] = obligations[extra].to_numpy()
    out["due_date"] = days_to_datetime64(due)
    out["days_remaining"] = remaining
    out["status"] = pd.Categorical.from_codes(status, categories=list(OBLIGATION_STATUSES))
    out["overdue"] = status == 1
    out["fulfilled_date"] = days_to_datetime64(np.where(fulfilled, fulfilled_day, 0), missing=~fulfilled)
    out["horizon_days"] = nullable_int(tight, tight >= 0)
    out["horizons_due"] = pd.Series(horizons_due, dtype=object)
    out["next_milestone"] = pd.Categorical.from_codes(next_kind, categories=kinds)
    out["n_milestones_overdue"] = overdue_ms
    return DeadlineResult(as_of=as_of, obligations=out, milestones=ms)

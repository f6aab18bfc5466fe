"""Expedited reporting clocks: due dates and status of each case's report to each regulator.

Pure: pandas/numpy only; the as-of date is a parameter. Rules: alerts/reporting_clocks.yaml.

Input ``cases``, one row per (case, jurisdiction the case must be reported to):
  case_id, jurisdiction, first_received (day 0, E2B C.1.4),
  serious (bool), death (bool),
  optional: life_threatening (bool, default False), unexpected (bool, default True:
  with no expectedness assessment the clock is assumed to apply), study (bool, default
  False: a report from a study, E2B C.1.3), submitted_date (date the report reached the
  regulator, or null).

Every clock of the jurisdiction whose conditions all hold applies; the shortest wins. A study
report follows the clocks of the rules' ``study_cases`` entry (ICH E2A) instead, with the
jurisdiction's lead times. Where no clock applies the basis is the jurisdiction's ``otherwise``
(e.g. FDA periodic reporting).
Due date = day 0 + clock days (calendar days; "immediately" = ``immediately_days``).
Status: on_time / late (submitted on or before / after the due date), pending (not
submitted, due date not passed: the due day itself is still on time), pending_overdue,
not_required (no clock applies), unknown_jurisdiction (no clocks configured: fix the
rules). A submission dated after the as-of date is not known yet.
Warnings: for pending reports, every lead time L with days_remaining <= L is due;
``warning_lead_days`` is the tightest one reached. A job that alerts once per
(case, jurisdiction, lead) can use ``warnings_due``.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pv_service.followup.schedule import days_to_datetime64, nullable_int, to_days

CLOCK_STATUSES = ("on_time", "late", "pending", "pending_overdue", "not_required", "unknown_jurisdiction")
_BIG = np.iinfo(np.int64).max


def _flag(cases: pd.DataFrame, name: str, default: bool) -> np.ndarray:
    if name not in cases.columns:
        return np.full(len(cases), default)
    return cases[name].astype("boolean").fillna(default).to_numpy(dtype=bool)


def evaluate_reporting_clocks(cases: pd.DataFrame, rules, as_of: dt.date) -> pd.DataFrame:
    rc = getattr(rules, "reporting_clocks", rules)
    missing = [c for c in ("case_id", "jurisdiction", "first_received", "serious", "death") if c not in cases.columns]
    if missing:
        raise ValueError(f"cases is missing column(s) {missing}")
    n = len(cases)
    as_of_day = int(to_days(as_of))
    day0 = to_days(cases["first_received"])
    if (day0 == np.iinfo(np.int64).min).any():
        raise ValueError("cases.first_received must not be missing")
    death = _flag(cases, "death", False)
    lt = _flag(cases, "life_threatening", False)
    cond = {
        "any": np.ones(n, bool),
        "death": death,
        "life_threatening": lt,
        "fatal_or_life_threatening": death | lt,
        "serious": _flag(cases, "serious", False) | death | lt,
        "unexpected": _flag(cases, "unexpected", True),
    }
    juris = cases["jurisdiction"].astype(str).to_numpy()
    study = _flag(cases, "study", False) if rc.study_cases is not None else np.zeros(n, bool)
    study_clocks = rc.jurisdictions[rc.study_cases].clocks if rc.study_cases is not None else ()
    days = np.full(n, _BIG, np.int64)
    basis = np.full(n, "", object)
    known = np.zeros(n, bool)
    lead_sets: list[tuple[int, ...]] = []
    lead_idx = np.full(n, -1, np.int64)
    for name, j in rc.jurisdictions.items():
        sel = juris == name
        if not sel.any():
            continue
        known |= sel
        lead_idx[sel] = len(lead_sets)
        lead_sets.append(rc.leads_for(name))
        basis[sel] = j.otherwise
        for rows, clocks in ((sel & ~study, j.clocks), (sel & study, study_clocks)):
            for clock in clocks:
                match = rows.copy()
                for c in clock.when:
                    match &= cond[c]
                d = rc.clock_days(clock)
                better = match & (d < days)
                days[better] = d
                basis[better] = clock.basis
    applies = days != _BIG
    due = np.where(applies, day0 + np.where(applies, days, 0), 0)
    if "submitted_date" in cases.columns:
        sub = to_days(cases["submitted_date"])
        submitted = (sub != np.iinfo(np.int64).min) & (sub <= as_of_day)  # later submissions not known yet
    else:
        sub = np.zeros(n, np.int64)
        submitted = np.zeros(n, bool)
    status = np.full(n, CLOCK_STATUSES.index("not_required"), np.int8)
    status[applies & ~submitted & (as_of_day <= due)] = CLOCK_STATUSES.index("pending")
    status[applies & ~submitted & (as_of_day > due)] = CLOCK_STATUSES.index("pending_overdue")
    status[applies & submitted & (sub <= due)] = CLOCK_STATUSES.index("on_time")
    status[applies & submitted & (sub > due)] = CLOCK_STATUSES.index("late")
    status[~known] = CLOCK_STATUSES.index("unknown_jurisdiction")
    pending = applies & ~submitted
    remaining = due - as_of_day
    warn_min = np.full(n, -1, np.int64)
    warnings: list[tuple[int, ...]] = [()] * n
    open_pending = np.flatnonzero(pending & (remaining >= 0))
    for i in open_pending:
        crossed = tuple(L for L in lead_sets[lead_idx[i]] if remaining[i] <= L)
        if crossed:
            warnings[i] = crossed
            warn_min[i] = crossed[-1]
    return pd.DataFrame({
        "case_id": cases["case_id"].to_numpy(),
        "jurisdiction": juris,
        "first_received": days_to_datetime64(day0),
        "unexpected": cond["unexpected"],
        "study": study,
        "clock_days": nullable_int(np.where(applies, days, 0), applies),
        "clock_basis": basis,
        "due_date": days_to_datetime64(due, missing=~applies),
        "submitted_date": days_to_datetime64(np.where(submitted, sub, 0), missing=~submitted),
        "status": pd.Categorical.from_codes(status, categories=list(CLOCK_STATUSES)),
        "days_remaining": nullable_int(remaining, pending),
        "warning_lead_days": nullable_int(warn_min, warn_min >= 0),
        "warnings_due": pd.Series(warnings, dtype=object),
    })

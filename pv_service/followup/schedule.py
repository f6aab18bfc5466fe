"""The follow-up timepoint grid: due dates and windows for every treatment, vectorised.

Pure: numpy and pandas only, no web, no database, no wall clock.

Dates are handled as whole days since 1970-01-01 (int). Month and year offsets use
calendar arithmetic with the day clamped to the end of a shorter month (31 Jan + 1 month
= 28 or 29 Feb; 29 Feb 2024 + 1 year = 28 Feb 2025); day offsets are plain days.

For each treatment the grid holds every listed timepoint of its plan (past and future,
so a not-yet-due visit is visible) and, for a lifelong plan, the yearly contacts after
the last listed timepoint up to the first one whose window has not opened by the as-of
date: the grid of a lifelong plan grows with the as-of date and never ends.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from pv_service.rules.common import Offset
    from pv_service.rules.followup_plans import FollowupRules, Plan

NO_DAY = np.iinfo(np.int32).max  # "never" (no stop, lifelong schedule end)
NAT_I8 = np.iinfo(np.int64).min


# ---------------------------------------------------------------- calendar arithmetic
def to_days(values) -> np.ndarray:
    """Dates (a Series, array, list of datetime.date, or a single date) -> int64 days since 1970-01-01.
    Missing values become NAT_I8."""
    if isinstance(values, (dt.date, np.datetime64, str)):
        return np.int64(np.datetime64(values, "D").astype(np.int64))
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    arr = np.asarray(pd.to_datetime(values) if not _is_datetime64(values) else values)
    return arr.astype("datetime64[D]").astype(np.int64)


def _is_datetime64(values) -> bool:
    dtype = getattr(values, "dtype", None)
    return dtype is not None and np.issubdtype(dtype, np.datetime64)


def days_to_datetime64(days: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """int days -> datetime64[s] (pandas' native unit for dates); ``missing`` rows become NaT."""
    out = np.asarray(days, dtype=np.int64) * 86400
    if missing is not None:
        out = np.where(missing, NAT_I8, out)
    return out.view("datetime64[s]")


def month_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(months since 1970-01, 0-based day of month) of int days."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    return month.astype(np.int64), (d - month.astype("datetime64[D]")).astype(np.int64)


def add_months_parts(month: np.ndarray, day_of_month: np.ndarray, months) -> np.ndarray:
    """``add_months`` from precomputed ``month_parts``: integer table look-ups only."""
    target = month + np.asarray(months, dtype=np.int64)
    lo = int(target.min()) if target.size else 0
    hi = int(target.max()) + 2 if target.size else 2
    first = np.arange(lo, hi, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    start = first[target - lo]
    length = first[target - lo + 1] - start
    return start + np.minimum(day_of_month, length - 1)


def add_months(days: np.ndarray, months) -> np.ndarray:
    """Calendar-month addition, vectorised, day clamped to the end of the target month."""
    return add_months_parts(*month_parts(days), months)


def add_offset(days: np.ndarray, offset: "Offset") -> np.ndarray:
    if offset.unit == "days":
        return np.asarray(days, dtype=np.int64) + offset.n
    return add_months(days, offset.months)


# ---------------------------------------------------------------- compiled plans
@dataclass(frozen=True)
class CompiledPlans:
    """Per plan and per column (listed timepoints, then lifelong contacts), the constants
    the grid needs, as (n_plans, n_columns) tables."""
    names: list[str]
    labels: list[str]  # global label list; codes index into it
    n_listed: np.ndarray  # (P,)
    lifelong: np.ndarray  # (P,) bool
    label_code: np.ndarray  # (P, C) int32, -1 = no column
    before: np.ndarray  # (P, C) int32
    after: np.ndarray
    grace: np.ndarray
    yearly: np.ndarray  # (P, C) bool
    col_of_label: np.ndarray  # (P, L) int32, -1 = label not in plan
    consecutive_missed: np.ndarray  # (P,) int, 0 = rule off
    count_all: np.ndarray  # (P,) bool: streak counts every timepoint, not only yearly ones
    no_contact_months: np.ndarray  # (P,) int, 0 = rule off


def _lifelong_columns_needed(plan: "Plan", min_infusion: int, as_of: int) -> int:
    if plan.lifelong_contact is None:
        return 0
    step = plan.lifelong_contact.every.months // 12
    elapsed_years = (as_of - min_infusion + plan.lifelong_contact.before) / 365.2425
    k = int(np.floor((elapsed_years - plan.first_lifelong_year) / step)) + 2
    return max(k, 1)


def compile_plans(rules: "FollowupRules", lifelong_columns: dict[str, int]) -> CompiledPlans:
    names = sorted(rules.plans)
    labels: dict[str, int] = {}

    def code(label: str) -> int:
        return labels.setdefault(label, len(labels))

    per_plan = []
    for name in names:
        plan = rules.plans[name]
        cols = [(tp.label, tp.before, tp.after, plan.grace_for(tp), tp.offset.is_whole_years) for tp in plan.timepoints]
        lc = plan.lifelong_contact
        if lc is not None:
            step = lc.every.months // 12
            for k in range(lifelong_columns.get(name, 0)):
                cols.append((lc.label_for(plan.first_lifelong_year + k * step), lc.before, lc.after, plan.grace_for(lc), True))
        per_plan.append(cols)
    width = max(len(c) for c in per_plan)
    P = len(names)
    label_code = np.full((P, width), -1, np.int32)
    before = np.zeros((P, width), np.int32)
    after = np.zeros((P, width), np.int32)
    grace = np.zeros((P, width), np.int32)
    yearly = np.zeros((P, width), bool)
    for p, cols in enumerate(per_plan):
        for c, (label, b, a, g, y) in enumerate(cols):
            label_code[p, c] = code(label)
            before[p, c], after[p, c], grace[p, c], yearly[p, c] = b, a, g, y
    col_of_label = np.full((P, max(len(labels), 1)), -1, np.int32)
    for p in range(P):
        for c in range(width):
            if label_code[p, c] >= 0:
                col_of_label[p, label_code[p, c]] = c
    ltfu = [rules.plans[n].lost_to_follow_up for n in names]
    return CompiledPlans(
        names=names,
        labels=list(labels),
        n_listed=np.array([len(rules.plans[n].timepoints) for n in names], np.int32),
        lifelong=np.array([rules.plans[n].duration.lifelong for n in names], bool),
        label_code=label_code, before=before, after=after, grace=grace, yearly=yearly,
        col_of_label=col_of_label,
        consecutive_missed=np.array([r.consecutive_missed or 0 for r in ltfu], np.int32),
        count_all=np.array([r.counting == "all" for r in ltfu], bool),
        no_contact_months=np.array([r.no_contact_months or 0 for r in ltfu], np.int32),
    )


# ---------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Grid:
    """One row per (treatment, timepoint), sorted by treatment position then column."""
    plans: CompiledPlans
    plan_code: np.ndarray  # per treatment
    infusion: np.ndarray  # per treatment, days
    row_start: np.ndarray  # (n_treatments + 1,) offsets into the rows
    tr: np.ndarray  # per row: treatment position (int32)
    col: np.ndarray  # per row: column = ordinal within the treatment's schedule (int32)
    due: np.ndarray  # per row, days (int64)
    open: np.ndarray
    close: np.ndarray
    grace_end: np.ndarray  # last day a missing visit is "overdue" rather than "missed"
    schedule_end: np.ndarray  # per treatment: grace_end of the last listed timepoint, NO_DAY if lifelong

    @cached_property
    def label_code(self) -> np.ndarray:
        return self.plans.label_code[self.plan_code[self.tr], self.col]

    @cached_property
    def yearly(self) -> np.ndarray:
        return self.plans.yearly[self.plan_code[self.tr], self.col]


def codes_in(values, categories: list[str]) -> np.ndarray:
    """Position of each value in ``categories`` (-1 when absent or missing), int32.
    Fast for categorical input (maps the categories, not the rows)."""
    lookup = pd.Index(categories, dtype=object)
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        cat_pos = lookup.get_indexer(values.cat.categories.astype(object))
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, cat_pos[codes], -1).astype(np.int32)
    if isinstance(values, pd.Categorical):
        return codes_in(pd.Series(values), categories)
    return lookup.get_indexer(pd.Index(np.asarray(values, dtype=object))).astype(np.int32)


def plan_codes_for(plan_names, compiled_names: list[str]) -> np.ndarray:
    """Plan code per treatment; a missing plan (None/NA: the product has none) is -1, a
    treatment with no timepoints. A name not among the plans is an error."""
    codes = codes_in(plan_names, compiled_names)
    names = pd.Series(np.asarray(plan_names, dtype=object))
    unknown_rows = (codes < 0) & names.notna().to_numpy()
    if unknown_rows.any():
        unknown = sorted({str(v) for v in names[unknown_rows].unique()})
        raise ValueError(f"unknown follow-up plan(s) {unknown}; known: {compiled_names}")
    return codes.astype(np.int32)


def build_grid(rules: "FollowupRules", plan_names, infusion_days: np.ndarray, as_of: int) -> Grid:
    """Vectorised over treatments: one numpy pass per plan and per timepoint column."""
    infusion_days = np.asarray(infusion_days, dtype=np.int64)
    names = sorted(rules.plans)
    codes0 = plan_codes_for(plan_names, names)
    n = len(infusion_days)
    lifelong_cols = {}
    for p, name in enumerate(names):
        sel = codes0 == p
        if sel.any():
            lifelong_cols[name] = _lifelong_columns_needed(rules.plans[name], int(infusion_days[sel].min()), as_of)
    cp = compile_plans(rules, lifelong_cols)
    width = cp.label_code.shape[1]
    due = np.zeros((n, width), np.int32)
    valid = np.zeros((n, width), bool)
    schedule_end = np.full(n, NO_DAY, np.int64)
    for p, name in enumerate(cp.names):
        idx = np.flatnonzero(codes0 == p)
        if idx.size == 0:
            continue
        plan = rules.plans[name]
        inf = infusion_days[idx]
        parts = month_parts(inf)  # shared by every month/year offset of the plan
        n_listed = len(plan.timepoints)
        block = np.empty((idx.size, n_listed + lifelong_cols.get(name, 0)), np.int64)
        for c, tp in enumerate(plan.timepoints):
            block[:, c] = inf + tp.offset.n if tp.offset.unit == "days" else add_months_parts(*parts, tp.offset.months)
        ok = np.ones(block.shape, bool)
        if plan.lifelong_contact is not None:
            step = plan.lifelong_contact.every.months // 12
            for k in range(block.shape[1] - n_listed):
                block[:, n_listed + k] = add_months_parts(*parts, 12 * (plan.first_lifelong_year + k * step))
            # a lifelong contact is in the grid once the window before it has opened
            opens = block - cp.before[p, : block.shape[1]]
            ok[:, n_listed:] = opens[:, n_listed - 1:-1] <= as_of
        else:
            schedule_end[idx] = block[:, n_listed - 1] + cp.after[p, n_listed - 1] + cp.grace[p, n_listed - 1]
        due[idx, : block.shape[1]] = block
        valid[idx, : block.shape[1]] = ok
    flat = np.flatnonzero(valid.ravel())
    tr = (flat // width).astype(np.int32)
    col = (flat % width).astype(np.int32)
    d = due.ravel()[flat].astype(np.int64)
    del due, valid
    p_row = codes0[tr]
    op = d - cp.before[p_row, col]
    cl = d + cp.after[p_row, col]
    ge = cl + cp.grace[p_row, col]
    row_start = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(tr, minlength=n), out=row_start[1:])
    return Grid(plans=cp, plan_code=codes0, infusion=infusion_days, row_start=row_start, tr=tr, col=col,
                due=d, open=op, close=cl, grace_end=ge, schedule_end=schedule_end)


def _followup_rules(rules) -> "FollowupRules":
    return getattr(rules, "followup", rules)


def build_schedule(treatments: pd.DataFrame, rules, as_of: dt.date) -> pd.DataFrame:
    """The timepoint grid as a table: treatment_id, ordinal, label, due_date,
    window_start, window_end, overdue_until (end of the grace period).

    ``treatments`` needs treatment_id, plan, infusion_date. ``rules`` is a Rules or
    FollowupRules. Lifelong contacts are listed up to the first whose window opens
    after ``as_of``."""
    fr = _followup_rules(rules)
    grid = build_grid(fr, treatments["plan"], to_days(treatments["infusion_date"]), int(to_days(as_of)))
    ids = treatments["treatment_id"].to_numpy()
    return pd.DataFrame({
        "treatment_id": ids[grid.tr],
        "ordinal": grid.col,
        "label": pd.Categorical.from_codes(grid.label_code, categories=grid.plans.labels),
        "due_date": days_to_datetime64(grid.due),
        "window_start": days_to_datetime64(grid.open),
        "window_end": days_to_datetime64(grid.close),
        "overdue_until": days_to_datetime64(grid.grace_end),
    })


def nullable_int(values: np.ndarray, present: np.ndarray) -> pd.arrays.IntegerArray:
    """Int64 (nullable) array with <NA> where ``present`` is False."""
    values = np.asarray(values, dtype=np.int64)
    return pd.arrays.IntegerArray(values, ~np.asarray(present, dtype=bool))

"""Kaplan-Meier (product-limit) estimator. Pure numpy/pandas.

S(t) = prod over event times t_i <= t of (1 - d_i / n_i), with n_i the number still at
risk just before t_i (duration >= t_i) and d_i the events at t_i. At a time with both
events and censorings the events come first (the censored are still at risk), the usual
convention (Kaplan and Meier 1958; lifelines does the same).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

KM_COLUMNS = ("time", "n_at_risk", "n_events", "n_censored", "survival")


def risk_table(durations, events, competing=None) -> pd.DataFrame:
    """time, n_at_risk, n_events, n_competing, n_censored: one row per distinct time, ascending.

    ``n_at_risk`` counts the observations with duration >= time. ``events`` (and
    ``competing``, for competing-risk estimators) are truthy per observation; the rest are
    censored. Durations must be >= 0 and not missing.
    """
    t = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    c = np.zeros_like(e) if competing is None else np.asarray(competing, dtype=bool)
    if t.shape != e.shape or t.shape != c.shape or t.ndim != 1:
        raise ValueError("durations and events must be 1-d and of equal length")
    if np.isnan(t).any() or (t < 0).any():
        raise ValueError("durations must be non-negative and not missing")
    if (e & c).any():
        raise ValueError("an observation cannot be both an event and a competing event")
    times, inverse = np.unique(t, return_inverse=True)
    n_events = np.bincount(inverse, weights=e, minlength=times.size).astype(np.int64)
    n_competing = np.bincount(inverse, weights=c, minlength=times.size).astype(np.int64)
    n_obs = np.bincount(inverse, minlength=times.size).astype(np.int64)
    return pd.DataFrame({
        "time": times,
        "n_at_risk": t.size - (np.cumsum(n_obs) - n_obs),
        "n_events": n_events,
        "n_competing": n_competing,
        "n_censored": n_obs - n_events - n_competing,
    })


def kaplan_meier(durations, events) -> pd.DataFrame:
    """One row per distinct observed time (events or censorings), ascending.

    ``survival`` is the estimate just after that time. Durations must be >= 0 and not
    missing; ``events`` is truthy for an event, falsy for a censored observation.
    """
    table = risk_table(durations, events)
    at_risk = table["n_at_risk"].to_numpy()
    n_events = table["n_events"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1.0 - n_events / at_risk, 1.0)
    return table.drop(columns="n_competing").assign(survival=np.cumprod(factor))


def survival_at(km: pd.DataFrame, t: float) -> float | None:
    """S(t) from a ``kaplan_meier`` table (1 before the first event); None past the last
    observed time, where the estimate is not defined."""
    if km.empty or t > float(km["time"].iloc[-1]):
        return None
    idx = int(np.searchsorted(km["time"].to_numpy(), t, side="right")) - 1
    return 1.0 if idx < 0 else float(km["survival"].iloc[idx])


def median_time(km: pd.DataFrame) -> float | None:
    """Smallest time with S(t) <= 0.5; None when the curve never gets there (not reached)."""
    hit = km.loc[km["survival"] <= 0.5, "time"]
    return None if hit.empty else float(hit.iloc[0])

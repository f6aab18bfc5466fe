"""Incidence rates with exact Poisson (Garwood) limits, and standardised incidence ratios. Pure.

Garwood (1936, Biometrika 28:437): for k events in T person-years, the exact two-sided
100(1 - a)% limits of the rate are chi2(a/2; 2k) / 2T and chi2(1 - a/2; 2k + 2) / 2T
(lower 0 when k = 0). A standardised incidence ratio is O / E with E the events expected
from background rates (by age band and sex) over the cohort's person-time; its exact limits
are the Garwood limits of O divided by E (Breslow and Day 1987, vol. II, section 2.3).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pv_service.analytics.persontime import DAYS_PER_YEAR, EVENT


def garwood(events, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact limits of a Poisson mean given the observed count(s)."""
    k = np.asarray(events, dtype=float)
    a = 1.0 - level
    lower = np.where(k > 0, stats.chi2.ppf(a / 2, 2 * np.maximum(k, 1)) / 2, 0.0)
    upper = stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2
    return lower, upper


def poisson_upper_p(observed, expected) -> np.ndarray:
    """One-sided exact p-value P(X >= O) for X ~ Poisson(E)."""
    o = np.asarray(observed, dtype=float)
    return np.where(o > 0, stats.poisson.sf(o - 1, np.asarray(expected, dtype=float)), 1.0)


def rate_table(frame: pd.DataFrame, by: list[str] | tuple[str, ...] = (), level: float = 0.95,
               per: float = 100.0) -> pd.DataFrame:
    """Events, person-years and the rate per ``per`` person-years with Garwood limits.

    ``frame``: one row per episode (``days``, ``status``) or per split piece (``days``,
    ``events``); ``by``: stratum columns (none: one overall row). Patients are rows of an
    episode frame (split pieces of one episode count once per stratum they touch).
    """
    f = frame
    events = f["events"] if "events" in f.columns else (f["status"] == EVENT).astype(np.int64)
    work = pd.DataFrame({"events": events.to_numpy(), "days": f["days"].to_numpy(dtype=float)}, index=f.index)
    for c in by:
        work[c] = f[c].to_numpy()
    if by:
        g = work.groupby(list(by), observed=True, dropna=False, sort=True)
        out = g.agg(patients=("days", "size"), events=("events", "sum"), days=("days", "sum")).reset_index()
    else:
        out = pd.DataFrame({"patients": [len(work)], "events": [int(work["events"].sum())],
                            "days": [float(work["days"].sum())]})
    py = out["days"].to_numpy() / DAYS_PER_YEAR
    k = out["events"].to_numpy()
    lo, hi = garwood(k, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["person_years"] = py
        out["rate"] = np.where(py > 0, per * k / py, np.nan)
        out["rate_lower"] = np.where(py > 0, per * lo / py, np.nan)
        out["rate_upper"] = np.where(py > 0, per * hi / py, np.nan)
    out["events"] = out["events"].astype(np.int64)
    return out.drop(columns="days")


def expected_events(pieces: pd.DataFrame, sex: np.ndarray, background) -> np.ndarray:
    """Expected events per split piece: its person-years x the background rate of its age band and sex.

    ``pieces``: ``attained_age_split`` output split on the background's own age bands;
    ``sex``: each piece's sex. A sex other than male or female gets the mean of the two.
    """
    male = np.asarray(background.male, float) / background.per
    female = np.asarray(background.female, float) / background.per
    band = pieces["band"].to_numpy()
    rate = np.where(sex == "male", male[band], np.where(sex == "female", female[band], (male[band] + female[band]) / 2))
    return pieces["days"].to_numpy(dtype=float) / DAYS_PER_YEAR * rate


def sir(observed: int, expected: float, level: float = 0.95) -> dict:
    """Standardised incidence ratio O/E with exact limits and the one-sided exact p-value P(X >= O | E)."""
    lo, hi = garwood([observed], level)
    if not expected > 0:
        return {"observed": int(observed), "expected": float(expected), "sir": None, "sir_lower": None,
                "sir_upper": None, "p_value": None}
    return {"observed": int(observed), "expected": float(expected), "sir": observed / expected,
            "sir_lower": float(lo[0]) / expected, "sir_upper": float(hi[0]) / expected,
            "p_value": float(poisson_upper_p([observed], [expected])[0])}


def accrued(piece_start, piece_days, rate_per_day, at) -> np.ndarray:
    """Expected events accrued by each day in ``at``: sum over pieces of rate x the part of
    [start, start + days] before that day. Sorted prefix sums, so any number of query days is cheap:
        E(d) = sum_{start <= d} r (d - start) - sum_{end <= d} r (d - end).
    All times in days on one axis (e.g. days since 1970)."""
    s = np.asarray(piece_start, dtype=float)
    e = s + np.asarray(piece_days, dtype=float)
    r = np.asarray(rate_per_day, dtype=float)
    q = np.asarray(at, dtype=float)
    out = np.zeros(q.shape)
    for edge, sign in ((s, 1.0), (e, -1.0)):
        order = np.argsort(edge, kind="stable")
        es, rs = edge[order], r[order]
        cr, cre = np.concatenate([[0.0], np.cumsum(rs)]), np.concatenate([[0.0], np.cumsum(rs * es)])
        i = np.searchsorted(es, q, side="right")
        out += sign * (q * cr[i] - cre[i])
    return out

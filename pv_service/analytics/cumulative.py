"""Cumulative incidence with death as a competing risk (Aalen-Johansen), and 1 - Kaplan-Meier
where there is no competing risk. Pure numpy/pandas.

Aalen-Johansen for the event of interest (status 1) with a competing event (status 2):
    F(t) = sum over times t_i <= t of S(t_i-) d1_i / n_i
with S the Kaplan-Meier estimate of being free of any event, n_i at risk just before t_i
(time >= t_i), d1_i events of interest at t_i. Ties between event types at one time are
handled exactly (lifelines' fitter instead jitters them apart). Variance: the Greenwood-type
delta-method formula (Collett, Modelling Survival Data in Medical Research, 3rd ed., p. 411,
the one lifelines uses); limits on the log(-log) scale, so they stay within (0, 1).

Ignoring the competing risk (1 - KM with deaths censored) overstates the risk: it counts the
dead as if they could still have the event.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pv_service.exports.survival import kaplan_meier, risk_table

CURVE_COLUMNS = ("time", "n_at_risk", "n_events", "n_competing", "n_censored", "estimate", "variance", "lower",
                 "upper")


def _loglog_limits(f: np.ndarray, var: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (f > 0) & (f < 1)
        g = np.log(-np.log(np.where(ok, f, 0.5)))
        se = np.sqrt(np.maximum(var, 0)) / (np.where(ok, f, 0.5) * np.abs(np.log(np.where(ok, f, 0.5))))
        lower = np.where(ok, np.exp(-np.exp(g + z * se)), np.where(f >= 1, 1.0, 0.0))
        upper = np.where(ok, np.exp(-np.exp(g - z * se)), np.where(f >= 1, 1.0, 0.0))
    return lower, upper


def aalen_johansen(durations, status, level: float = 0.95) -> pd.DataFrame:
    """One row per distinct time (events of either type or censorings): the cumulative incidence of
    status 1 just after that time, its variance and pointwise limits."""
    t = np.asarray(durations, dtype=float)
    s = np.asarray(status)
    table = risk_table(t, s == 1, s == 2)
    n = table["n_at_risk"].to_numpy(dtype=float)
    d1 = table["n_events"].to_numpy(dtype=float)
    d2 = table["n_competing"].to_numpy(dtype=float)
    d = d1 + d2
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n > 0, 1 - d / n, 1.0))
        lag = np.concatenate([[1.0], surv[:-1]])
        f = np.cumsum(np.where(n > 0, lag * d1 / n, 0.0))
        # Var F(t_j) = sum_i (F_j - F_i)^2 a_i + sum_i b_i - 2 sum_i (F_j - F_i) c_i, i <= j, with
        # a = d / (n (n - d)), b = S(t_i-)^2 d1 (n - d1) / n^3, c = S(t_i-) d1 / n^2 (Collett; lifelines)
        a = np.where((n > 0) & (n > d), d / (n * (n - d)), 0.0)
        b = np.where(n > 0, lag ** 2 * d1 * (n - d1) / n ** 3, 0.0)
        c = np.where(n > 0, lag * d1 / n ** 2, 0.0)
    sa, saf, saff = np.cumsum(a), np.cumsum(a * f), np.cumsum(a * f * f)
    sc, scf = np.cumsum(c), np.cumsum(c * f)
    var = f * f * sa - 2 * f * saf + saff + np.cumsum(b) - 2 * (f * sc - scf)
    var = np.maximum(var, 0.0)
    lower, upper = _loglog_limits(f, var, level)
    return pd.DataFrame({"time": table["time"], "n_at_risk": table["n_at_risk"], "n_events": table["n_events"],
                         "n_competing": table["n_competing"], "n_censored": table["n_censored"], "estimate": f,
                         "variance": var, "lower": lower, "upper": upper})


def km_incidence(durations, events, level: float = 0.95) -> pd.DataFrame:
    """1 - Kaplan-Meier (no competing risk), Greenwood variance, log(-log) limits of S mapped to 1 - S."""
    km = kaplan_meier(durations, events)
    n = km["n_at_risk"].to_numpy(dtype=float)
    d = km["n_events"].to_numpy(dtype=float)
    s = km["survival"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.cumsum(np.where((n > 0) & (n > d), d / (n * (n - d)), 0.0))
    var = s * s * g
    s_lo, s_hi = _loglog_limits(s, var, level)
    return pd.DataFrame({"time": km["time"], "n_at_risk": km["n_at_risk"], "n_events": km["n_events"],
                         "n_competing": 0, "n_censored": km["n_censored"], "estimate": 1 - s, "variance": var,
                         "lower": 1 - s_hi, "upper": 1 - s_lo})


def cumulative_incidence(durations, status, level: float = 0.95) -> tuple[str, pd.DataFrame]:
    """Aalen-Johansen when any competing event (status 2) occurred, else 1 - Kaplan-Meier; (method, curve)."""
    s = np.asarray(status)
    if (s == 2).any():
        return "aalen_johansen", aalen_johansen(durations, s, level)
    return "kaplan_meier", km_incidence(durations, s == 1, level)


def value_at(curve: pd.DataFrame, t: float) -> dict | None:
    """Estimate and limits at time t (0 before the first time); None past the last observed time."""
    if curve.empty or t > float(curve["time"].iloc[-1]):
        return None
    i = int(np.searchsorted(curve["time"].to_numpy(), t, side="right")) - 1
    if i < 0:
        return {"estimate": 0.0, "lower": 0.0, "upper": 0.0, "n_at_risk": int(curve["n_at_risk"].iloc[0])}
    row = curve.iloc[i]
    after = curve["n_at_risk"].to_numpy()[i + 1] if i + 1 < len(curve) else 0
    return {"estimate": float(row["estimate"]), "lower": float(row["lower"]), "upper": float(row["upper"]),
            "n_at_risk": int(after)}

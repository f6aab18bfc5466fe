"""Time to onset from infusion: median and IQR, distribution by period, and the Weibull shape
parameter with its profile-likelihood interval. Pure numpy/scipy.

The Weibull shape k says how the hazard moves with time since infusion (as in VigiBase's
time-to-onset analyses, Cornelius et al. 2012, Drug Saf 35:599): k < 1 falling (early risk),
k = 1 constant, k > 1 rising (late risk). The fit takes right-censored data (the cohort's
time at risk: patients without the event are censored at the end of their follow-up) or only
onsets (reported cases). Likelihood with d events among n times t_i (censored or not):
    l(k, s) = d log k - d k log s + (k - 1) sum_events log t - sum_all (t / s)^k
For fixed k the scale's MLE is s^k = sum_all t^k / d, which gives the profile
    l_p(k) = d log k - d log(sum_all t^k / d) + (k - 1) sum_events log t - d,
maximised over k; the interval is {k : 2 (l_p(k_hat) - l_p(k)) <= chi2_1(level)}.
Onsets on the day of infusion (0 days) are taken as half a day.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special, stats

ZERO_DAY = 0.5


def summary(days) -> dict:
    d = np.asarray(days, dtype=float)
    if d.size == 0:
        return {"n": 0, "median_days": None, "q1_days": None, "q3_days": None, "min_days": None, "max_days": None}
    q1, med, q3 = np.percentile(d, [25, 50, 75])
    return {"n": int(d.size), "median_days": float(med), "q1_days": float(q1), "q3_days": float(q3),
            "min_days": float(d.min()), "max_days": float(d.max())}


def by_period(days, periods) -> list[dict]:
    """Counts per period (``periods``: label and until_days, the last open-ended); each onset in the
    first period whose until_days it does not exceed."""
    d = np.asarray(days, dtype=float)
    bounds = [p.until_days for p in periods[:-1]]
    idx = np.searchsorted(np.asarray(bounds, dtype=float), d, side="left")
    counts = np.bincount(idx, minlength=len(periods)) if d.size else np.zeros(len(periods), np.int64)
    total = max(int(d.size), 1)
    out, lo = [], 0
    for p, n in zip(periods, counts):
        out.append({"period": p.label, "from_days": lo, "until_days": p.until_days, "n": int(n),
                    "pct": round(100 * int(n) / total, 1) if d.size else None})
        lo = (p.until_days or 0) + 1
    return out


def _profile(log_k, logt, observed, d):
    k = math.exp(log_k)
    # log(sum t^k) with logsumexp: times span orders of magnitude
    lse = special.logsumexp(k * logt)
    return d * log_k - d * (lse - math.log(d)) + (k - 1) * logt[observed].sum() - d


def weibull_shape(times, observed=None, level: float = 0.95) -> dict | None:
    """Shape k with its profile-likelihood interval, and the scale (same unit as ``times``).

    None with fewer than 2 events or when all event times are equal (no shape to estimate).
    """
    t = np.asarray(times, dtype=float)
    obs = np.ones(t.size, bool) if observed is None else np.asarray(observed, dtype=bool)
    t = np.where(t <= 0, ZERO_DAY, t)
    d = int(obs.sum())
    if d < 2 or np.ptp(t[obs]) == 0:
        return None
    logt = np.log(t / t.max())  # the shape is scale-free; this keeps t^k within range
    neg = lambda lk: -_profile(lk, logt, obs, d)  # noqa: E731
    res = optimize.minimize_scalar(neg, bounds=(math.log(1e-3), math.log(1e3)), method="bounded",
                                   options={"xatol": 1e-10})
    lk_hat = float(res.x)
    lmax = -float(res.fun)
    if not (math.log(1e-3) + 1e-6 < lk_hat < math.log(1e3) - 1e-6):
        return None  # the fit ran to a bound: no usable estimate
    cut = stats.chi2.ppf(level, 1) / 2
    g = lambda lk: lmax - _profile(lk, logt, obs, d) - cut  # noqa: E731
    lo = _root(g, lk_hat, -1)
    hi = _root(g, lk_hat, +1)
    k = math.exp(lk_hat)
    scale = math.exp((special.logsumexp(k * logt) - math.log(d)) / k) * t.max()
    lower, upper = (math.exp(lo) if lo is not None else None), (math.exp(hi) if hi is not None else None)
    if lower is not None and lower > 1:
        trend = "rising"
    elif upper is not None and upper < 1:
        trend = "falling"
    else:
        trend = "constant_or_unclear"  # the interval holds 1
    return {"shape": k, "shape_lower": lower, "shape_upper": upper, "scale_days": scale, "n_events": d,
            "n": int(t.size), "hazard": trend}


def _root(g, start: float, direction: int) -> float | None:
    step = 0.1
    x = start
    for _ in range(200):
        nxt = x + direction * step
        if abs(nxt) > math.log(1e4):
            return None
        if g(nxt) >= 0:
            a, b = sorted((x, nxt))
            return optimize.brentq(g, a, b, xtol=1e-10)
        x, step = nxt, step * 1.5
    return None

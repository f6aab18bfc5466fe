"""Poisson MaxSPRT (Kulldorff, Davis, Kolczak, Lewis, Lieu and Platt 2011, Sequential Analysis
30:58-78): continuous sequential monitoring of an observed count against its expected count
under the null. Pure numpy/scipy.

Log-likelihood ratio for c events when mu are expected (RR > 1 one-sided):
    LLR(c, mu) = c log(c / mu) - (c - mu)   if c > mu, else 0.
It jumps up at each event and falls between them, so the boundary can only be crossed at an
event: the k-th event signals when it comes while mu <= mu_k, the root below k of
LLR(k, mu) = CV (mu_k = -k W0(-exp(-1 - CV / k)), W0 the principal Lambert W). Surveillance
ends without a signal when mu reaches T (its length, in expected events); no signal on fewer
than M events (Kulldorff and Silva 2015 suggest M = 4).

Critical value: the smallest CV whose type I error is at most alpha. The error is exact,
from the distribution of the count at the boundary times b_k = min(mu_k, T), k = M, M+1, ...:
keeping P(N(b_k) = j, no signal yet) for j < k and moving between boundary times with Poisson
increments; what reaches k is a signal. Where no CV gives alpha exactly (the error jumps as
mu_k passes T), the result is conservative, as in R's Sequential::CV.Poisson.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import special, stats


def llr(observed, expected) -> np.ndarray:
    c = np.asarray(observed, dtype=float)
    mu = np.asarray(expected, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(c > mu, c * np.log(np.where(c > 0, c, 1) / np.where(mu > 0, mu, 1e-300)) - (c - mu), 0.0)
    return v


def boundary_expected(k, cv: float) -> np.ndarray:
    """mu_k: the largest expected count at which the k-th event still signals."""
    k = np.asarray(k, dtype=float)
    return np.real(-k * special.lambertw(-np.exp(-1.0 - cv / k), 0))


def type1_error(cv: float, T: float, M: int = 1) -> float:
    """Exact probability under the null of crossing CV before surveillance length T."""
    if cv <= 0:
        return 1.0
    k_max = int(max(M, 1) + 10 * T + 100)  # mu_k ~ k - sqrt(2 k CV): beyond this, mu_k > T surely
    ks = np.arange(max(M, 1), k_max + 1)
    mu = boundary_expected(ks, cv)
    last = int(np.searchsorted(mu, T, side="left"))  # first k with mu_k >= T: surveillance ends there
    ks, b = ks[: last + 1], np.minimum(mu[: last + 1], T)
    p = np.array([1.0])  # P(N = j, no signal) at the current time, j = 0 .. len(p) - 1
    t = 0.0
    for k, bk in zip(ks, b):
        dt = max(bk - t, 0.0)
        if dt > 0:
            # Poisson increments, truncated where the tail is negligible (states >= k are absorbed)
            width = int(min(k, dt + 12 * math.sqrt(dt) + 30))
            kern = stats.poisson.pmf(np.arange(width + 1), dt)
            p = np.convolve(p, kern)[:k]
        else:
            p = p[:k]
        if p.size < k:
            p = np.pad(p, (0, k - p.size))
        t = bk
    return float(max(0.0, 1.0 - p.sum()))


@lru_cache(maxsize=256)
def critical_value(T: float, alpha: float = 0.05, M: int = 1) -> float:
    """The smallest CV with type I error <= alpha for surveillance length T (expected events) and
    minimum count M. ValueError when even a single test at T cannot reach alpha with M events."""
    if not 0 < alpha < 1 or T <= 0 or M < 1:
        raise ValueError("need 0 < alpha < 1, T > 0 and M >= 1")
    if stats.poisson.sf(M - 1, T) < alpha:
        raise ValueError(f"with at least {M} events, surveillance length {T} cannot reach alpha {alpha}; "
                         "lengthen the surveillance or lower min_events")
    lo, hi = 1e-9, 1.0
    while type1_error(hi, T, M) > alpha:
        lo, hi = hi, hi * 2
    # bisection on the (non-increasing, possibly stepwise) error to a tight bracket; keep the side <= alpha
    for _ in range(80):
        mid = (lo + hi) / 2
        if type1_error(mid, T, M) > alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-11:
            break
    return hi


def monitor(event_expected, expected_now: float, observed_now: int, cv: float, T: float, M: int) -> dict:
    """The test as it stands: the LLR at every event (``event_expected``: the expected count accrued when
    each event happened, ascending) and now. Signalled when some k-th event (k >= M) came with
    LLR >= CV before the expected count reached T."""
    mu = np.asarray(event_expected, dtype=float)
    k = np.arange(1, mu.size + 1)
    path = llr(k, mu)
    crossing = np.flatnonzero((k >= M) & (path >= cv) & (mu <= T))
    first = int(crossing[0]) if crossing.size else None
    return {
        "observed": int(observed_now), "expected": float(expected_now),
        "llr": float(llr([observed_now], [expected_now])[0]),
        "max_llr": float(path.max()) if path.size else 0.0,
        "signalled": first is not None,
        "signal_event": None if first is None else first + 1,  # the count at which it crossed
        "surveillance_ended": first is None and expected_now >= T,
        "critical_value": float(cv),
    }

"""Lot clusters: observed versus expected events per manufacturing lot (or vector lot, or site). Pure.

Under the null every lot's patients have the same event rate, so given the product's N events
the count in a lot with a share p of the person-time is Binomial(N, p) (the conditional test of
Poisson counts; Breslow and Day 1987, vol. II, section 3.2). Expected = N p; one-sided exact
p-value P(X >= observed). Across the product's lots the p-values are adjusted (Holm's step-down,
family-wise error; or Benjamini-Hochberg, false discovery rate); a lot is flagged when its adjusted
p-value is below alpha with at least ``min_events`` events. For allogeneic products one lot treats
many patients and this is a primary safety signal; for autologous ones (one lot per patient) it
has no power and flags nothing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def holm(p) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values."""
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def adjust(p, method: str) -> np.ndarray:
    if method == "holm":
        return holm(p)
    if method == "benjamini_hochberg":
        p = np.asarray(p, dtype=float)
        return stats.false_discovery_control(p, method="bh") if p.size else p
    raise ValueError(f"unknown multiplicity method {method!r}")


def lot_excess(lots: pd.DataFrame, alpha: float = 0.05, method: str = "holm", min_events: int = 3) -> pd.DataFrame:
    """``lots``: lot, patients, events, days (time at risk). Adds share, expected, p_value,
    p_adjusted, flagged; sorted by p-value (NaN, not estimable, last)."""
    out = lots.copy()
    n = int(out["events"].sum())
    total = float(out["days"].sum())
    share = out["days"].to_numpy(dtype=float) / total if total > 0 else np.zeros(len(out))
    o = out["events"].to_numpy(dtype=np.int64)
    out["share"] = share
    out["expected"] = n * share
    p = np.where(o > 0, stats.binom.sf(o - 1, n, share), 1.0) if len(out) > 1 else np.ones(len(out))
    # events in no time at risk (on the day of infusion, the day's time not counted): the test's null
    # gives them probability 0, which says nothing of the lot. Not estimable (NaN), and left out of the
    # adjustment; such a lot sorted first as the strongest evidence before
    p = np.where((o > 0) & (share <= 0), np.nan, p)
    known = ~np.isnan(p)
    adjusted = np.full(len(out), np.nan)
    adjusted[known] = adjust(p[known], method)
    out["p_value"] = p
    out["p_adjusted"] = adjusted
    out["flagged"] = known & (adjusted < alpha) & (o >= min_events) & (len(out) > 1)
    return out.sort_values(["p_value", "lot"], kind="stable", na_position="last").reset_index(drop=True)

"""A pair's disproportionality by calendar quarter of first receipt, and the rules that let a listed
(labelled) event raise a signal (pure: pandas/numpy, no database).

Input: per (product, event, quarter) the interval counts a, n_product, n_event, n_total of the cases
first received in that quarter (quarter keys are integers year*10 + q, e.g. 20243 for 2024 Q3).
Cumulative counts at a quarter are the sums of the interval counts up to and including it, so the
cumulative measures at the data lock point's quarter are the (crude, unstratified) measures of the
whole run. Quarters with no case of the pair still count: a = 0 there, margins from the other pairs.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pv_service.rules.signal_rules import ListedEvents, RisingDisproportionality, SeverityShift
from pv_service.signals import measures as m


def quarter_key(day) -> int:
    return day.year * 10 + (day.month - 1) // 3 + 1


def quarter_label(key: int) -> str:
    return f"{key // 10}-Q{key % 10}"


def quarter_range(first: int, last: int) -> list[int]:
    out, k = [], first
    while k <= last:
        out.append(k)
        k = k + 1 if k % 10 < 4 else (k // 10 + 1) * 10 + 1
    return out


def _measures(a, n_product, n_event, n_total) -> dict[str, np.ndarray]:
    a_, b, c, d = m.two_by_two(a, n_product, n_event, n_total)
    p, r = m.prr(a_, b, c, d), m.ror(a_, b, c, d)
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty quarter: undefined measures
        ic = m.ic(a_, m.expected_count(n_product, n_event, n_total))
    return {"prr": p.estimate, "ror": r.estimate, "ror_lower": r.lower, "ic": ic.estimate, "ic025": ic.lower}


def quarterly(counts: pd.DataFrame, pairs: Iterable[tuple[str, str]], last_quarter: int,
              serious: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (wanted pair, quarter) from the product's first case to `last_quarter`:
    cumulative and interval counts and measures (columns as the signal_trend table). `serious`:
    optional rows (product, event, quarter, serious) counting the pair's serious cases per quarter."""
    cols = ["product", "event", "quarter", "a", "n_product", "n_event", "n_total"]
    pairs = sorted(set(pairs))
    if counts.empty or not pairs:
        return pd.DataFrame(columns=cols)
    c = counts.rename(columns={"report_quarter": "quarter"})
    c = c[c["quarter"] <= last_quarter]
    quarters = quarter_range(int(c["quarter"].min()), last_quarter)
    totals = c.groupby("quarter")["n_total"].first()
    prod = c.groupby(["product", "quarter"])["n_product"].first()
    evt = c.groupby(["event", "quarter"])["n_event"].first()
    cell = c.groupby(["product", "event", "quarter"])["a"].sum()
    sev = serious.set_index(["product", "event", "quarter"])["serious"] if serious is not None and len(serious) else None
    q = pd.Index(quarters, name="quarter")

    def by_quarter(series: pd.Series | None, key: tuple) -> pd.Series:
        if series is None:
            return pd.Series(0, index=q)
        try:
            part = series.xs(key, level=list(range(len(key))))
        except KeyError:
            return pd.Series(0, index=q)
        return part.reindex(q, fill_value=0)

    frames = []
    for product, event in pairs:
        f = pd.DataFrame({
            "interval_a": by_quarter(cell, (product, event)),
            "interval_n_product": by_quarter(prod, (product,)),
            "interval_n_event": by_quarter(evt, (event,)),
            "interval_n_total": totals.reindex(q, fill_value=0),
            "interval_serious": by_quarter(sev, (product, event)),
        }, index=q).astype("int64")
        for k in ("a", "n_product", "n_event", "n_total"):
            f[k] = f[f"interval_{k}"].cumsum()
        f = f.reset_index().assign(product=product, event=event)
        frames.append(f[f["n_product"] > 0])  # from the product's first case on
    out = pd.concat(frames, ignore_index=True)
    cum = _measures(out["a"], out["n_product"], out["n_event"], out["n_total"])
    inter = _measures(out["interval_a"], out["interval_n_product"], out["interval_n_event"], out["interval_n_total"])
    for k in ("prr", "ror", "ror_lower", "ic", "ic025"):
        out[k] = cum[k]
    for k in ("prr", "ror", "ror_lower", "ic025"):
        out[f"interval_{k}"] = inter[k]
    out["quarter"] = out["quarter"].map(quarter_label)
    return out


# ---- when a listed event signals

def rising(values: Sequence[float | None], rule: RisingDisproportionality) -> str | None:
    """Why the cumulative measure counts as rising over the last `rule.quarters` quarters, or None."""
    v = [float("nan") if x is None else float(x) for x in values][-(rule.quarters + 1):]
    if len(v) < rule.quarters + 1 or not all(np.isfinite(v)):
        return None
    if not all(later - earlier > rule.min_increase for earlier, later in zip(v, v[1:])):
        return None
    if rule.minimum is not None and v[-1] < rule.minimum:
        return None
    return (f"{rule.measure} rose in each of the last {rule.quarters} quarters "
            f"({' -> '.join(f'{x:.2f}' for x in v)})")


def severity_shift(cases: Sequence[int], serious: Sequence[int], rule: SeverityShift) -> str | None:
    """Why the serious share of recent cases counts as a shift, or None (cases/serious per quarter)."""
    k = rule.recent_quarters
    if len(cases) <= k:
        return None
    recent_n, recent_s = sum(cases[-k:]), sum(serious[-k:])
    before_n, before_s = sum(cases[:-k]), sum(serious[:-k])
    if recent_n < rule.min_recent_cases or before_n == 0:
        return None
    shift = recent_s / recent_n - before_s / before_n
    if shift < rule.min_increase:
        return None
    return (f"serious share {recent_s}/{recent_n} in the last {k} quarters against {before_s}/{before_n} "
            f"before (+{shift:.0%})")


def listed_reasons(trend: pd.DataFrame, rules: ListedEvents | None) -> list[str]:
    """For one pair's quarterly rows (oldest first): the reasons a listed event may raise a signal."""
    if rules is None or trend.empty:
        return []
    out = []
    if rules.rising_disproportionality is not None:
        why = rising(list(trend[rules.rising_disproportionality.measure]), rules.rising_disproportionality)
        out += [why] if why else []
    if rules.severity_shift is not None:
        why = severity_shift(list(trend["interval_a"]), list(trend["interval_serious"]), rules.severity_shift)
        out += [why] if why else []
    return out

"""Synthetic spontaneous-report data with planted signals, generated vectorised.

Each report names 1-3 products (P = 0.6, 0.3, 0.1) and 1-4 events (0.4, 0.3, 0.2, 0.1)
with Zipf-like popularity (weight of rank k proportional to 1/k^s); events follow a
log-normal tilt of that popularity specific to the indication class of the report's
first product (25 classes, sigma 0.6), so true reporting ratios vary between pairs as
in real data. A report contributes one row per (product, event) combination, as a
report in FAERS does. A set of planted (product, event) pairs gets a known relative risk RR:
a report naming the planted product gains the planted event with probability
q = (RR - 1) b / (1 - b), where b is the event's baseline probability of appearing in
a report, so P(event | product) = RR * b while P(event | other products) stays ~ b.
Each report also carries a sex (F/M/U) as a stratum column.

Usage: ``python bench/synth_reports.py 100000 --out bench/out/synth.csv``.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PRODUCTS_PER_REPORT = (np.array([1, 2, 3]), np.array([0.6, 0.3, 0.1]))
EVENTS_PER_REPORT = (np.array([1, 2, 3, 4]), np.array([0.4, 0.3, 0.2, 0.1]))
PLANTED_RR = (2.0, 3.0, 5.0, 10.0)


@dataclass(frozen=True)
class SyntheticReports:
    """Rows as integer codes (cheap to store and to rebuild as categoricals) and truth."""

    report: np.ndarray      # int64, one per row
    product: np.ndarray     # int32 code into product_names
    event: np.ndarray       # int32 code into event_names
    sex: np.ndarray         # int8 code into SEXES, one per row (constant within a report)
    product_names: np.ndarray
    event_names: np.ndarray
    truth: pd.DataFrame     # product, event, rr, base_rate

    SEXES = np.array(["F", "M", "U"])

    def frame(self) -> pd.DataFrame:
        """Rows as a DataFrame: report_id (int), product/event/sex categoricals."""
        return pd.DataFrame({
            "report_id": self.report,
            "product": pd.Categorical.from_codes(self.product, self.product_names),
            "event": pd.Categorical.from_codes(self.event, self.event_names),
            "sex": pd.Categorical.from_codes(self.sex, self.SEXES),
        })


def zipf_weights(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def default_sizes(n_reports: int) -> tuple[int, int]:
    """Vocabulary grows with the data: ~1,000 products at 1e5 reports, ~10,000 at 1e7."""
    n_products = int(round(1000 * np.sqrt(n_reports / 1e5)))
    return max(50, n_products), max(40, int(0.8 * n_products))


def _positions(counts: np.ndarray) -> np.ndarray:
    """0..k-1 within each of consecutive groups of sizes ``counts``."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def _draw_by_class(rng: np.random.Generator, weights: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """One draw per element from row ``cls`` of ``weights`` (inverse CDF, one search:
    each class's CDF is shifted by the class index so all rows form one sorted array)."""
    n_classes, n_items = weights.shape
    cdf = np.cumsum(weights, axis=1)
    cdf[:, -1] = 1.0
    flat = (cdf + np.arange(n_classes)[:, None]).ravel()
    idx = np.searchsorted(flat, rng.random(cls.shape[0]) + cls, side="right")
    return np.minimum(idx - cls * n_items, n_items - 1).astype(np.int32)


def generate(n_reports: int, *, seed: int = 20240601, n_products: int | None = None,
             n_events: int | None = None, n_signals: int = 100, zipf_s: float = 1.0,
             n_classes: int = 25, class_sigma: float = 0.6) -> SyntheticReports:
    rng = np.random.default_rng(seed)
    dp, de = default_sizes(n_reports)
    n_products = n_products or dp
    n_events = n_events or de
    w_prod = zipf_weights(n_products, zipf_s)
    w_event = zipf_weights(n_events, zipf_s)

    k_p = rng.choice(PRODUCTS_PER_REPORT[0], size=n_reports, p=PRODUCTS_PER_REPORT[1])
    k_e = rng.choice(EVENTS_PER_REPORT[0], size=n_reports, p=EVENTS_PER_REPORT[1])
    prod_report = np.repeat(np.arange(n_reports), k_p)
    prod_code = rng.choice(n_products, size=prod_report.shape[0], p=w_prod).astype(np.int32)

    # Background heterogeneity: each product belongs to an indication class, and each
    # class reports events with its own log-normal tilt of the overall popularity.
    # This gives the spread of true ratios that real data have (without it the MGPS
    # prior degenerates to a point mass at 1) and some confounding by indication.
    product_class = rng.integers(0, n_classes, n_products)
    tilt = np.exp(class_sigma * rng.standard_normal((n_classes, n_events)))
    w_class = w_event[None, :] * tilt
    w_class /= w_class.sum(axis=1, keepdims=True)
    first_slot = np.cumsum(k_p) - k_p
    report_class = product_class[prod_code[first_slot]]  # events follow the first product
    ev_report = np.repeat(np.arange(n_reports), k_e)
    ev_code = _draw_by_class(rng, w_class, report_class[ev_report])

    # planted signals: distinct products of middling popularity, events likewise
    n_signals = min(n_signals, n_products // 4, n_events // 4)
    sig_product = rng.choice(np.arange(5, max(6, min(n_products, 400))), n_signals, replace=False)
    sig_event = rng.choice(np.arange(10, max(11, min(n_events, 600))), n_signals, replace=True)
    sig_rr = np.resize(np.array(PLANTED_RR), n_signals)
    w_sig = w_class[product_class[sig_product], sig_event]
    base = 1.0 - np.sum(EVENTS_PER_REPORT[1][:, None]
                        * (1.0 - w_sig)[None, :] ** EVENTS_PER_REPORT[0][:, None], axis=0)
    q = (sig_rr - 1.0) * base / (1.0 - base)
    signal_of_product = np.full(n_products, -1)
    signal_of_product[sig_product] = np.arange(n_signals)
    sig = signal_of_product[prod_code]
    hit = np.flatnonzero(sig >= 0)
    add = hit[rng.random(hit.shape[0]) < q[sig[hit]]]
    ev_report = np.concatenate([ev_report, prod_report[add]])
    ev_code = np.concatenate([ev_code, sig_event[sig[add]].astype(np.int32)])
    order = np.argsort(ev_report, kind="stable")
    ev_report, ev_code = ev_report[order], ev_code[order]
    k_e = np.bincount(ev_report, minlength=n_reports)

    # one row per (product slot, event slot) of the same report
    per_slot = k_e[prod_report]
    row_report = np.repeat(prod_report, per_slot)
    row_product = np.repeat(prod_code, per_slot)
    ev_start = np.cumsum(k_e) - k_e
    row_event = ev_code[ev_start[row_report] + _positions(per_slot)]
    sex = rng.choice(3, size=n_reports, p=[0.55, 0.40, 0.05]).astype(np.int8)

    width = len(str(max(n_products, n_events)))
    truth = pd.DataFrame({
        "product": [f"P{i:0{width}d}" for i in sig_product],
        "event": [f"E{i:0{width}d}" for i in sig_event],
        "rr": sig_rr, "base_rate": base,
    })
    return SyntheticReports(
        report=row_report.astype(np.int64), product=row_product, event=row_event,
        sex=sex[row_report], product_names=np.array([f"P{i:0{width}d}" for i in range(n_products)]),
        event_names=np.array([f"E{i:0{width}d}" for i in range(n_events)]), truth=truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_reports", type=float)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, required=True, help="CSV of rows to write")
    parser.add_argument("--truth", type=Path, help="CSV of planted signals to write")
    args = parser.parse_args()
    data = generate(int(args.n_reports), seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data.frame().to_csv(args.out, index=False)
    if args.truth:
        data.truth.to_csv(args.truth, index=False)


if __name__ == "__main__":
    main()

"""Benchmark: full follow-up compliance scan over a synthetic cohort.

    .venv/bin/python bench/compliance.py --n 100000 1000000 [--repeat 3] [--seed 20250101]

Cohort (deterministic seed): infusions spread uniformly over the 15 years before the
as-of date (2026-01-01), 80% CAR-T (car_t_lifelong: 18 listed timepoints over 15 years,
then yearly for life) and 20% stem-cell (stem_cell_5y); about 10% of patients have two
treatments. For every timepoint whose window has opened: 82% visited in the window
(20% of those carry an explicit label), 6% visited in the grace period (late), 12% no
visit; 1 unscheduled visit per 10 treatments; 3% deaths, 2% withdrawals, 1% transfers
at a random date after infusion; 2% unreachable contacts. Generation is not timed; the
timed part is ``evaluate_compliance`` (grid, matching, statuses and the three output
tables).
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pv_service.followup.compliance import evaluate_compliance  # noqa: E402
from pv_service.followup.schedule import build_grid, days_to_datetime64, to_days  # noqa: E402
from pv_service.rules import load_rules  # noqa: E402

AS_OF = dt.date(2026, 1, 1)
KINDS = ["visit", "death", "withdrawal", "transfer", "unreachable"]


def make_cohort(n: int, rules, seed: int = 20250101) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    as_of = int(to_days(AS_OF))
    infusion = as_of - rng.integers(1, 15 * 365, n)
    plan = np.where(rng.random(n) < 0.8, "car_t_lifelong", "stem_cell_5y")
    # ~10% of patients get a second treatment: patient ids shared between neighbours
    patient = np.arange(n, dtype=np.int64)
    second = rng.random(n) < 0.1
    second[0] = False
    patient[second] = patient[np.flatnonzero(second) - 1]
    treatments = pd.DataFrame({
        "treatment_id": np.arange(1, n + 1, dtype=np.int64),
        "patient_id": patient + 1,
        "plan": pd.Categorical(plan),
        "infusion_date": days_to_datetime64(infusion),
    })
    fr = rules.followup
    grid = build_grid(fr, plan, infusion, as_of)
    opened = grid.open <= as_of
    tr, op, cl, ge = grid.tr[opened], grid.open[opened], grid.close[opened], grid.grace_end[opened]
    u = rng.random(tr.size)
    on_time = u < 0.82
    late = (u >= 0.82) & (u < 0.88)
    day = np.where(on_time, op + (rng.random(tr.size) * (cl - op + 1)).astype(np.int64),
                   cl + 1 + (rng.random(tr.size) * np.maximum(ge - cl, 1)).astype(np.int64))
    has = on_time | late
    v_tr, v_day = tr[has], day[has]
    v_label_code = np.where(rng.random(v_tr.size) < 0.2, grid.label_code[opened][has], -1)
    # unscheduled visits
    k = n // 10
    u_tr = rng.integers(0, n, k)
    u_day = infusion[u_tr] + rng.integers(1, 15 * 365, k)
    # stops and unreachable contacts
    s = rng.random(n)
    stop_kind = np.select([s < 0.03, s < 0.05, s < 0.06], [1, 2, 3], 0)
    s_tr = np.flatnonzero(stop_kind > 0)
    s_day = infusion[s_tr] + rng.integers(1, 15 * 365, s_tr.size)
    un_tr = np.flatnonzero(rng.random(n) < 0.02)
    un_day = infusion[un_tr] + rng.integers(1, 15 * 365, un_tr.size)
    c_tr = np.concatenate([v_tr, u_tr, s_tr, un_tr])
    c_day = np.concatenate([v_day, u_day, s_day, un_day])
    c_kind = np.concatenate([np.zeros(v_tr.size + k, np.int8), stop_kind[s_tr].astype(np.int8),
                             np.full(un_tr.size, 4, np.int8)])
    c_label = np.concatenate([v_label_code, np.full(c_tr.size - v_tr.size, -1)])
    contacts = pd.DataFrame({
        "contact_id": np.arange(1, c_tr.size + 1, dtype=np.int64),
        "treatment_id": c_tr.astype(np.int64) + 1,
        "kind": pd.Categorical.from_codes(c_kind, categories=KINDS),
        "contact_date": days_to_datetime64(c_day),
        "timepoint": pd.Categorical.from_codes(c_label.astype(np.int32), categories=grid.plans.labels),
    })
    return treatments, contacts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20250101)
    args = ap.parse_args()
    rules = load_rules(ROOT / "alerts")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}; as-of {AS_OF}")
    for n in args.n:
        t0 = time.perf_counter()
        treatments, contacts = make_cohort(n, rules, args.seed)
        gen = time.perf_counter() - t0
        times = []
        for _ in range(args.repeat):
            gc.collect()
            t0 = time.perf_counter()
            res = evaluate_compliance(treatments, contacts, rules, AS_OF)
            times.append(time.perf_counter() - t0)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        st = res.timepoints["status"].value_counts().to_dict()
        ps = res.patients["status"].value_counts().to_dict()
        print(f"n={n:,} treatments, {len(contacts):,} contacts, {len(res.timepoints):,} timepoint rows "
              f"(generated in {gen:.1f} s)")
        print(f"  evaluate_compliance: best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
              f"over {args.repeat} runs; peak RSS so far {rss:,.0f} MiB")
        print(f"  timepoints: {st}")
        print(f"  patients:   {ps}")
        del treatments, contacts, res
        gc.collect()


if __name__ == "__main__":
    main()

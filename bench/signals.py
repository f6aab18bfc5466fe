"""Benchmark of the disproportionality engine on synthetic reports.

For each size, one process generates the data (``bench/synth_reports.py``) and saves
integer codes; a fresh process loads them, builds the DataFrame and runs
``compute_signals`` (all measures for all pairs, MGPS fit included), so its peak RSS
(``ru_maxrss``) is data + engine and nothing else. Reported: wall time per stage, peak
memory, recall of planted signals and false-positive rate at the usual thresholds,
and what data squashing costs in accuracy (the squashed-data estimate before the
refinement on all data, against the final one).

    python bench/signals.py                 # 1e5 and 1e6 reports
    python bench/signals.py --with-10m      # also 1e7
    python bench/signals.py --sizes 1e6 --strata sex
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

THRESHOLDS = {
    "PRR>=2 & chi2>=4 & n>=3": lambda t: (t["prr"] >= 2) & (t["chi2"] >= 4) & (t["n"] >= 3),
    "ROR025>1 & n>=3": lambda t: (t["ror_lower"] > 1) & (t["n"] >= 3),
    "IC025>0": lambda t: t["ic025"] > 0,
    "EB05>=2": lambda t: t["eb05"] >= 2,
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def generate_step(n_reports: int, seed: int, path: Path) -> dict:
    from synth_reports import generate
    t0 = time.perf_counter()
    data = generate(n_reports, seed=seed)
    seconds = time.perf_counter() - t0
    np.savez(path, report=data.report, product=data.product, event=data.event, sex=data.sex,
             product_names=data.product_names, event_names=data.event_names)
    data.truth.to_csv(path.with_suffix(".truth.csv"), index=False)
    return {"generate_s": seconds, "rows": int(data.report.shape[0])}


def compute_step(path: Path, strata: list[str]) -> dict:
    from pv_service.signals import compute_signals
    from pv_service.signals.mgps import neg_log_likelihood, posterior_scores

    t0 = time.perf_counter()
    z = np.load(path)
    rows = pd.DataFrame({
        "report_id": z["report"],
        "product": pd.Categorical.from_codes(z["product"], z["product_names"]),
        "event": pd.Categorical.from_codes(z["event"], z["event_names"]),
        "sex": pd.Categorical.from_codes(z["sex"], np.array(["F", "M", "U"])),
    })
    load_s = time.perf_counter() - t0
    rss_before = _peak_rss_mb()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    table, fit, _ = compute_signals(rows, strata=strata, timings=timings, progress=False)
    total_s = time.perf_counter() - t0
    peak = _peak_rss_mb()

    truth = pd.read_csv(path.with_suffix(".truth.csv"))
    planted = set(zip(truth["product"], truth["event"]))
    is_planted = np.fromiter((k in planted for k in zip(table["product"], table["event"])),
                             dtype=bool, count=len(table))
    detection = {}
    for name, rule in THRESHOLDS.items():
        flagged = rule(table).to_numpy()
        by_rr = {}
        hits = set(zip(table["product"][flagged & is_planted], table["event"][flagged & is_planted]))
        for rr, grp in truth.groupby("rr"):
            keys = list(zip(grp["product"], grp["event"]))
            by_rr[f"{rr:g}"] = sum(k in hits for k in keys) / len(keys)
        detection[name] = {
            "recall": len(hits) / len(planted), "recall_by_rr": by_rr,
            "false_positive_rate": float((flagged & ~is_planted).sum() / max(1, (~is_planted).sum())),
            "flagged": int(flagged.sum()),
        }

    squash = None
    if fit.squashed:
        # accuracy of squashing: best estimate on squashed points vs final refined one
        accepted = [s for s in fit.starts if s.converged and s.in_bounds]
        sq = min(accepted, key=lambda s: s.neg_log_likelihood).estimate.canonical()
        n, e = table["n"].to_numpy(), table["expected"].to_numpy()
        ll_sq = -neg_log_likelihood(sq.as_array(), n, e, truncation=fit.truncation)
        _, eb05_sq, _ = posterior_scores(sq, n, e)
        rel = np.abs(eb05_sq / table["eb05"].to_numpy() - 1.0)
        flag_final = table["eb05"].to_numpy() >= 2
        flag_sq = eb05_sq >= 2
        squash = {"squashed_prior": sq.__dict__, "delta_loglik": fit.log_likelihood - ll_sq,
                  "eb05_max_rel_diff": float(rel.max()), "eb05_median_rel_diff": float(np.median(rel)),
                  "eb05_ge2_changed": int((flag_final != flag_sq).sum())}
    return {
        "load_s": load_s, "total_s": total_s, "stages_s": timings, "peak_rss_mb": peak,
        "rss_after_load_mb": rss_before, "pairs": len(table), "reports": int(table["n_total"].iloc[0]),
        "fit": {k: v for k, v in fit.to_dict().items() if k != "starts"},
        "detection": detection, "squash": squash,
    }


def run_size(n_reports: int, seed: int, strata: list[str], workdir: Path) -> dict:
    path = workdir / f"synth_{n_reports}_{seed}.npz"
    env = {**os.environ}
    gen = json.loads(subprocess.run(
        [sys.executable, __file__, "--child-generate", str(n_reports), "--seed", str(seed),
         "--path", str(path)], check=True, capture_output=True, text=True, env=env).stdout)
    cmd = [sys.executable, __file__, "--child-compute", "--path", str(path)]
    if strata:
        cmd += ["--strata", *strata]
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
    path.unlink(missing_ok=True)
    path.with_suffix(".truth.csv").unlink(missing_ok=True)
    return {"n_reports": n_reports, "strata": strata, **gen, **res}


def markdown(results: list[dict]) -> str:
    lines = ["| reports | rows | pairs | strata | total s | count s | frequentist s | MGPS fit s | posterior s | peak RSS MB |",
             "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        st = r["stages_s"]
        lines.append(f"| {r['n_reports']:,} | {r['rows']:,} | {r['pairs']:,} | {','.join(r['strata']) or '-'} "
                     f"| {r['total_s']:.1f} | {st.get('count', 0):.1f} | {st.get('frequentist', 0):.1f} "
                     f"| {st.get('mgps_fit', 0):.1f} | {st.get('posterior', 0):.1f} | {r['peak_rss_mb']:.0f} |")
    lines += ["", "| reports | rule | recall | recall RR=2/3/5/10 | FPR | flagged |", "|---:|---|---:|---|---:|---:|"]
    for r in results:
        for name, d in r["detection"].items():
            by = "/".join(f"{d['recall_by_rr'].get(k, float('nan')):.2f}" for k in ("2", "3", "5", "10"))
            lines.append(f"| {r['n_reports']:,} | {name} | {d['recall']:.2f} | {by} "
                         f"| {d['false_positive_rate']:.4f} | {d['flagged']:,} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the disproportionality engine.")
    parser.add_argument("--sizes", nargs="*", type=float, default=[1e5, 1e6])
    parser.add_argument("--with-10m", action="store_true", help="also run 1e7 reports")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--strata", nargs="*", default=[])
    parser.add_argument("--json-out", type=Path, default=HERE / "out" / "signals.json")
    parser.add_argument("--child-generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-compute", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_generate:
        print(json.dumps(generate_step(args.child_generate, args.seed, args.path)))
        return
    if args.child_compute:
        print(json.dumps(compute_step(args.path, args.strata)))
        return

    sizes = [int(s) for s in args.sizes] + ([10_000_000] if args.with_10m else [])
    workdir = HERE / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for n in sizes:
        print(f"running {n:,} reports ...", file=sys.stderr, flush=True)
        results.append(run_size(n, args.seed, list(args.strata), workdir))
        r = results[-1]
        print(f"  total {r['total_s']:.1f} s, peak {r['peak_rss_mb']:.0f} MB, fit: "
              f"{r['fit']['message']}", file=sys.stderr, flush=True)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2, default=float))
    print(markdown(results))
    for r in results:
        f = r["fit"]
        print(f"\n{r['n_reports']:,} reports: prior alpha1={f['alpha1']:.4g} beta1={f['beta1']:.4g} "
              f"alpha2={f['alpha2']:.4g} beta2={f['beta2']:.4g} p={f['p']:.4g}, logL={f['log_likelihood']:.2f}, "
              f"converged={f['converged']}, fit points={f['n_points']:,} (squashed={f['squashed']})")
        if r["squash"]:
            s = r["squash"]
            print(f"  squashing: logL gain of refinement {s['delta_loglik']:.3f}; EB05 rel. diff "
                  f"max {s['eb05_max_rel_diff']:.2e}, median {s['eb05_median_rel_diff']:.2e}; "
                  f"EB05>=2 decisions changed: {s['eb05_ge2_changed']}")


if __name__ == "__main__":
    main()

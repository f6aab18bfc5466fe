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
    python bench/signals.py --input parquet --sizes 1e6 1e7 3e7   # counted out of core by DuckDB
    python bench/signals.py --spread narrow ...   # relative risks narrowly spread around 1

``--input parquet`` writes the rows to a Parquet file (dictionary-encoded, as FAERS
extracts would be stored) and times ``signals compute``'s path: DuckDB counting over the
file, then the same measures; only pair counts come into numpy. CPU seconds (user +
system of the process, all threads) are reported beside wall time because the machine
is shared.

A kept input (``--keep-data``) is read once into the page cache before the timed process
starts, unless ``--cold``: these machines page out file cache unused for a minute (a DAMON
scheme, /sys/kernel/mm/damon), and the 1e7 file (175 MB) then took 11.4 s to read from
disk instead of 0.4 s, which is the disk, not the engine. A freshly generated input is in
the cache already.
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


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:  # resident pages now (Linux)
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


SPREADS = {"wide": 0.6, "narrow": 0.05}  # class_sigma of synth_reports


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def generate_step(n_reports: int, seed: int, path: Path, spread: str) -> dict:
    from synth_reports import generate
    t0 = time.perf_counter()
    data = generate(n_reports, seed=seed, class_sigma=SPREADS[spread])
    seconds = time.perf_counter() - t0
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        def dictionary(codes, names):
            return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(names.astype(str)))
        pq.write_table(pa.table({
            "report_id": pa.array(data.report, pa.int64()),
            "product": dictionary(data.product, data.product_names),
            "event": dictionary(data.event, data.event_names),
            "sex": dictionary(data.sex.astype(np.int32), data.SEXES),
        }), path, row_group_size=1 << 20)
    else:
        np.savez(path, report=data.report, product=data.product, event=data.event, sex=data.sex,
                 product_names=data.product_names, event_names=data.event_names)
    data.truth.to_csv(path.with_suffix(".truth.csv"), index=False)
    return {"generate_s": seconds, "rows": int(data.report.shape[0])}


def compute_step(path: Path, strata: list[str], memory_limit: str | None) -> dict:
    from pv_service.signals import compute_from_counts, compute_signals
    from pv_service.signals.files import count_file
    from pv_service.signals.mgps import neg_log_likelihood, posterior_scores

    timings: dict[str, float] = {}
    rss_count = None
    if path.suffix == ".parquet":
        load_s, rss_before = 0.0, _peak_rss_mb()
        t0, c0 = time.perf_counter(), _cpu_s()
        counts = count_file(path, strata=strata, memory_limit=memory_limit)
        timings["count"] = time.perf_counter() - t0
        timings["cpu:count"] = _cpu_s() - c0
        # where the peak is: counting's high-water mark, and what stays resident after it
        rss_count = {"peak_mb": _peak_rss_mb(), "after_mb": _rss_mb()}
        table, fit, choice = compute_from_counts(counts, timings=timings, progress=False)
        del counts
    else:
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
        t0, c0 = time.perf_counter(), _cpu_s()
        table, fit, choice = compute_signals(rows, strata=strata, timings=timings, progress=False)
    total_s = time.perf_counter() - t0
    cpu_s = _cpu_s() - c0
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
    if fit is not None and fit.squashed and not fit.prior.point_masses and choice.source == "fitted" \
            and any(s.converged and s.in_bounds for s in fit.starts):
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
        "load_s": load_s, "total_s": total_s, "cpu_s": cpu_s, "stages_s": timings, "peak_rss_mb": peak,
        "rss_count": rss_count,
        "rss_after_load_mb": rss_before, "pairs": len(table), "reports": int(table["n_total"].iloc[0]),
        "fit": {k: v for k, v in choice.to_dict().items() if k != "starts"},
        "detection": detection, "squash": squash,
    }


def _data_path(workdir: Path, n_reports: int, seed: int, spread: str, source: str) -> Path:
    return workdir / f"synth_{n_reports}_{seed}_{spread}.{'parquet' if source == 'parquet' else 'npz'}"


def generate_only(n_reports: int, seed: int, workdir: Path, source: str, spread: str) -> None:
    path = _data_path(workdir, n_reports, seed, spread, source)
    gen = json.loads(subprocess.run(
        [sys.executable, __file__, "--child-generate", str(n_reports), "--seed", str(seed),
         "--path", str(path), "--spread", spread], check=True, capture_output=True, text=True).stdout)
    path.with_suffix(".gen.json").write_text(json.dumps(gen))


def _into_page_cache(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def run_size(n_reports: int, seed: int, strata: list[str], workdir: Path, *, source: str = "memory",
             spread: str = "wide", memory_limit: str | None = None, keep: bool = False,
             cold: bool = False) -> dict:
    path = _data_path(workdir, n_reports, seed, spread, source)
    env = {**os.environ}
    meta = path.with_suffix(".gen.json")
    if keep and path.exists() and meta.exists():  # generated earlier with --keep-data
        gen = json.loads(meta.read_text())
    else:
        gen = json.loads(subprocess.run(
            [sys.executable, __file__, "--child-generate", str(n_reports), "--seed", str(seed),
             "--path", str(path), "--spread", spread], check=True, capture_output=True, text=True,
            env=env).stdout)
        meta.write_text(json.dumps(gen))
    if path.suffix == ".parquet":
        gen["file_mb"] = path.stat().st_size / 1e6
    if not cold:
        _into_page_cache(path)
    cmd = [sys.executable, __file__, "--child-compute", "--path", str(path)]
    if strata:
        cmd += ["--strata", *strata]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
    if not keep:
        for p in (path, path.with_suffix(".truth.csv"), meta):
            p.unlink(missing_ok=True)
    return {"n_reports": n_reports, "strata": strata, "input": source, "spread": spread, **gen, **res}


def markdown(results: list[dict]) -> str:
    lines = ["Stage columns: wall / CPU seconds (CPU: user + system, all threads).", "",
             "| reports | input | spread | rows | pairs | strata | total wall s | total CPU s | count | frequentist "
             "| MGPS fit | posterior | table | peak RSS MB | prior |",
             "|---:|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        st = r["stages_s"]

        def cell(name):
            return f"{st.get(name, 0):.2f} / {st.get('cpu:' + name, 0):.2f}"
        lines.append(f"| {r['n_reports']:,} | {r['input']} | {r['spread']} | {r['rows']:,} | {r['pairs']:,} "
                     f"| {','.join(r['strata']) or '-'} | {r['total_s']:.2f} | {r['cpu_s']:.2f} "
                     f"| {cell('count')} | {cell('frequentist')} | {cell('mgps_fit')} | {cell('posterior')} "
                     f"| {cell('table')} | {r['peak_rss_mb']:.0f} | {r['fit']['summary']} |")
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
    parser.add_argument("--input", choices=["memory", "parquet"], default="memory",
                        help="rows as a DataFrame in memory, or a Parquet file counted by DuckDB")
    parser.add_argument("--spread", choices=sorted(SPREADS), default="wide",
                        help="spread of true reporting ratios (narrow: around 1, sigma 0.05)")
    parser.add_argument("--memory-limit", help="DuckDB memory cap for --input parquet, e.g. 3GB")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep generated inputs in bench/out and reuse them on the next run")
    parser.add_argument("--generate-only", action="store_true", help="with --keep-data: only generate")
    parser.add_argument("--cold", action="store_true",
                        help="do not read a kept input into the page cache before timing")
    parser.add_argument("--json-out", type=Path, default=HERE / "out" / "signals.json")
    parser.add_argument("--child-generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-compute", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_generate:
        print(json.dumps(generate_step(args.child_generate, args.seed, args.path, args.spread)))
        return
    if args.child_compute:
        print(json.dumps(compute_step(args.path, args.strata, args.memory_limit)))
        return

    sizes = [int(s) for s in args.sizes] + ([10_000_000] if args.with_10m else [])
    workdir = HERE / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for n in sizes:
        print(f"running {n:,} reports ...", file=sys.stderr, flush=True)
        if args.generate_only:
            generate_only(n, args.seed, workdir, args.input, args.spread)
            continue
        results.append(run_size(n, args.seed, list(args.strata), workdir, source=args.input,
                                spread=args.spread, memory_limit=args.memory_limit, keep=args.keep_data,
                                cold=args.cold))
        r = results[-1]
        print(f"  total {r['total_s']:.1f} s, peak {r['peak_rss_mb']:.0f} MB, fit: "
              f"{r['fit']['summary']}", file=sys.stderr, flush=True)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2, default=float))
    print(markdown(results))
    for r in results:
        f = r["fit"]
        comps = ", ".join(f"{k}={f[k]:.4g}" if isinstance(f.get(k), float) else f"{k}={f.get(k)}"
                          for k in ("alpha1", "beta1", "alpha2", "beta2", "p", "mean1", "mean2"))
        ll = f.get("log_likelihood")
        fitinfo = f.get("fit") or {}
        print(f"\n{r['n_reports']:,} reports ({r['input']}, {r['spread']}): {f['summary']}; {comps}, "
              f"logL={ll if ll is None else round(ll, 2)}, fit points={fitinfo.get('n_points')} "
              f"(squashed={fitinfo.get('squashed')})")
        if r["squash"]:
            s = r["squash"]
            print(f"  squashing: logL gain of refinement {s['delta_loglik']:.3f}; EB05 rel. diff "
                  f"max {s['eb05_max_rel_diff']:.2e}, median {s['eb05_median_rel_diff']:.2e}; "
                  f"EB05>=2 decisions changed: {s['eb05_ge2_changed']}")


if __name__ == "__main__":
    main()

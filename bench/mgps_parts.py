"""The MGPS engine's parts, timed in one warm process on a kept benchmark input.

``bench/signals.py`` times whole fresh processes, whose figures drift by a third over minutes
on these machines; this times the pieces by the minimum of repeats, for comparing two
commits run one after the other (``PYTHONPATH=<tree> python bench/mgps_parts.py``):
one evaluation of the likelihood and its gradient on the starts' coarse squash (interior
and mean-shape form), collapse_ties, fit_prior and posterior_scores.

    python bench/signals.py --sizes 1e6 --input parquet --spread narrow --keep-data --generate-only
    python bench/mgps_parts.py --spread narrow
"""
from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spread", choices=["wide", "narrow"], default="narrow")
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    path = HERE / "out" / f"synth_{args.reports}_{args.seed}_{args.spread}.parquet"
    if not path.is_file():
        sys.exit(f"{path} not found: generate it with bench/signals.py --keep-data --generate-only")

    import numpy as np

    from pv_service.signals import compute, mgps
    from pv_service.signals.files import count_file

    counts = count_file(path, memory_limit="3GB")
    n = np.asarray(counts.a, dtype=np.float64)
    e = compute._expected_counts(counts.n_product, counts.n_event, counts.n_total)
    ties = mgps.collapse_ties(n, e)
    n_u, e_u, w_u, _ = ties
    coarse = mgps._Points.build(*mgps.squash(n_u, e_u, w_u, bins_per_count=mgps._COARSE_BINS,
                                             keep_top=mgps._COARSE_TOP, keep_bottom=mgps._COARSE_BOTTOM))
    start = mgps.DEFAULT_STARTS[0]
    start = start if isinstance(start, mgps.Prior) else mgps.Prior(*start)
    x, xc = mgps._to_x(start), mgps._closure_x(start)
    fit = mgps.fit_prior(n, e, ties=ties)

    def best(func, number: int) -> float:
        return min(timeit.repeat(func, number=number, repeat=args.repeat)) / number

    rows = [
        (f"objective, {coarse.n.size:,} coarse points", best(lambda: mgps._objective(x, coarse, "mixture"), 100)),
        ("mean-shape objective, same points", best(lambda: mgps._closure_eval(xc, coarse, "mixture", False), 100)),
        (f"collapse_ties, {n.size:,} pairs", best(lambda: mgps.collapse_ties(n, e), 1)),
        ("fit_prior", best(lambda: mgps.fit_prior(n, e, ties=ties), 1)),
        (f"posterior_scores, {n_u.size:,} points", best(lambda: mgps.posterior_scores(fit.prior, n, e, ties=ties), 1)),
    ]
    print(f"{path.name}: {fit.message}, logL {fit.log_likelihood:.10g}; minimum of {args.repeat} repeats")
    print("| part | ms |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1e3:.3f} |")


if __name__ == "__main__":
    main()

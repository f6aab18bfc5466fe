"""Train the linkage model on generated reports and write it into alerts/duplicates.yaml.

    python -m pv_service.duplicates.training [--reports 200000] [--seed 20261201] [--rules alerts]

u probabilities from random pairs of the generated reports, m probabilities by expectation
maximisation (unsupervised: the planted duplicates' labels are never used to fit; they are used
only to measure precision and recall, on a data set generated with another seed, in
bench/duplicates.py). The rest of duplicates.yaml (thresholds, guards) is kept as it is.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
from pathlib import Path

from pv_service.duplicates.linkage import model_settings, prepare
from pv_service.duplicates.synthetic import generate

MARKER = "# --- trained model (written by pv_service.duplicates.training; do not edit by hand) ---"


def train(n: int, seed: int) -> dict:
    from splink import DuckDBAPI, Linker, block_on

    records = prepare(generate(n, seed=seed))
    db = DuckDBAPI()
    linker = Linker(db.register(records), model_settings(), log_level=logging.WARNING)
    # Share of pairs that match: planted duplicates (5% of reports) over all pairs.
    linker._settings_obj._probability_two_random_records_match = 0.05 * n / (n * (n - 1) / 2)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e7, seed=seed)
    for rule in (block_on("onset_date", "product_first"), block_on("birth_year", "sex", "pt_first"),
                 block_on("batch")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, fix_u_probabilities=True)
    model = linker.misc.save_model_to_json()
    model["probability_two_random_records_match"] = linker._settings_obj._probability_two_random_records_match
    return model


def write(rules_dir: Path, model: dict, n: int, seed: int, now: dt.datetime) -> Path:
    path = rules_dir / "duplicates.yaml"
    head = path.read_text(encoding="utf-8").split(MARKER)[0].rstrip() + "\n\n"
    provenance = {"trained_at": now.replace(microsecond=0).isoformat(), "trained_by": "pv_service.duplicates.training",
                  "data": f"pv_service.duplicates.synthetic.generate(n={n}, seed={seed}): generated spontaneous "
                          "reports, 5% planted cross-sender duplicates with noise; no real data",
                  "method": "u by random sampling (2e7 pairs); m by expectation maximisation blocked on "
                            "(onset_date, product_first), (birth_year, sex, pt_first), (batch); labels unused",
                  "splink": _splink_version()}
    body = "provenance: " + json.dumps(provenance, indent=2) + "\nmodel: " + json.dumps(model, indent=2) + "\n"
    path.write_text(head + MARKER + "\n" + re.sub(r"\n", "\n", body), encoding="utf-8")
    return path


def _splink_version() -> str:
    import splink

    return splink.__version__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--rules", type=Path, default=Path("alerts"))
    args = parser.parse_args()
    model = train(args.reports, args.seed)
    print(write(args.rules, model, args.reports, args.seed, dt.datetime.now(dt.timezone.utc)))


if __name__ == "__main__":
    main()

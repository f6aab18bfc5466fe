"""Train the linkage model on generated reports and write it into alerts/duplicates.yaml.

    python -m pv_service.duplicates.training [--reports 200000] [--seed 20261201] [--rules alerts]

u probabilities from random pairs of the generated reports, m probabilities from the generated
truth (which report describes which clinical case: pairs of planted duplicates). Precision and
recall are measured on a data set generated with another seed, in bench/duplicates.py. The rest of duplicates.yaml (thresholds, guards) is kept as it is.
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

UNSEEN_M = 1e-3
UNSEEN_U = 1e-6
MARKER = "# --- trained model (written by pv_service.duplicates.training; do not edit by hand) ---"


def train(n: int, seed: int) -> dict:
    from splink import DuckDBAPI, Linker

    data = generate(n, seed=seed)
    records = prepare(data).assign(truth=data["truth"].to_numpy())
    db = DuckDBAPI()
    linker = Linker(db.register(records), model_settings(), log_level=logging.WARNING)
    # Share of pairs that match: planted duplicates (5% of reports) over all pairs.
    linker._settings_obj._probability_two_random_records_match = 0.05 * n / (n * (n - 1) / 2)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e7, seed=seed)
    # m from the generated truth: EM left the age comparison nearly uninformative (a year of birth 10
    # years apart weighed as much as the same year), which pairs unrelated patients of one clinic.
    linker.training.estimate_m_from_label_column("truth")
    model = linker.misc.save_model_to_json()
    for comp in model["comparisons"]:
        for level in comp["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            # A level no labelled duplicate pair reached (say, two sexes): rare among duplicates, not
            # impossible (a typo), so a small m rather than none.
            for p, floor in (("m_probability", UNSEEN_M), ("u_probability", UNSEEN_U)):
                if level.get(p) is None:
                    level[p] = floor
    model["probability_two_random_records_match"] = linker._settings_obj._probability_two_random_records_match
    return model


def write(rules_dir: Path, model: dict, n: int, seed: int, now: dt.datetime) -> Path:
    path = rules_dir / "duplicates.yaml"
    head = path.read_text(encoding="utf-8").split(MARKER)[0].rstrip() + "\n\n"
    provenance = {"trained_at": now.replace(microsecond=0).isoformat(), "trained_by": "pv_service.duplicates.training",
                  "data": f"pv_service.duplicates.synthetic.generate(n={n}, seed={seed}): generated spontaneous "
                          "reports, 5% planted cross-sender duplicates with noise; no real data",
                  "method": "u by random sampling (2e7 pairs); m from the generated truth labels "
                            "(estimate_m_from_label_column); levels no duplicate pair reached get m = 1e-3",
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
    print(write(args.rules, model, args.reports, args.seed, dt.datetime.now(dt.UTC)))


if __name__ == "__main__":
    main()

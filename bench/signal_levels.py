"""Benchmark: disproportionality counts at every MedDRA level over a full-size synthetic dictionary.

    .venv/bin/python bench/signal_levels.py [--cases 100000] [--repeat 3] [--db sqlite|postgresql]

A made-up dictionary of MedDRA's size (27 SOCs, 337 HLGTs, 1,737 HLTs, 26,000 PTs, 37,000
`mdhier` paths - 11,000 PTs multi-axial -, 85,000 LLTs, 220 SMQs with 200,000 content rows,
20 of them nested) is stored with the loader's `store`; then N cases (1-4 reactions each, PT
codes drawn Zipf-like, 40 products) are bulk-inserted. Neither is timed. Timed, best and
median of `--repeat`: `pair_counts` (the SQL that joins reactions' PT codes to the version and
counts distinct reports per product and term) at each level, and the whole stored run
(`run_signals`: counts, every measure, MGPS fit, storing the pairs). Reported beside wall time:
this process's CPU time (the database's own CPU is included on SQLite, which runs in-process;
on PostgreSQL it is the server's and not counted here).

PostgreSQL: uses PV_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
in a schema of its own, dropped at the end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PV_ENVIRONMENT", "test")  # audit-sealed inserts need keys; test makes local ones

import pv_service.models  # noqa: E402,F401
from pv_service.core.migrate import upgrade  # noqa: E402
from scratch_db import scratch_engine  # noqa: E402  (beside this script in bench/)
from pv_service.meddra.distribution import Distribution  # noqa: E402
from pv_service.meddra.loader import store  # noqa: E402

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
VERSION = "90.0"


def dictionary(seed: int) -> Distribution:
    """A synthetic distribution of MedDRA's size (codes 9xxxxxxx), already in the parser's shape."""
    rng = np.random.default_rng(seed)
    d = Distribution(version=VERSION, language="English")
    socs = [f"9900{i:04d}" for i in range(27)]
    hlgts = [f"9800{i:04d}" for i in range(337)]
    hlts = [f"970{i:05d}" for i in range(1737)]
    pts = [f"96{i:06d}" for i in range(26000)]
    hlgt_soc = {g: socs[i % 27] for i, g in enumerate(hlgts)}
    hlt_hlgt = {h: hlgts[i % 337] for i, h in enumerate(hlts)}
    d.terms += [("soc", c, f"SOC {c}", None, True, None, f"S{i}", i + 1) for i, c in enumerate(socs)]
    d.terms += [("hlgt", c, f"HLGT {c}", None, True, None, None, None) for c in hlgts]
    d.terms += [("hlt", c, f"HLT {c}", None, True, None, None, None) for c in hlts]
    primary = rng.integers(0, len(hlts), len(pts))
    for i, pt in enumerate(pts):
        hlt = hlts[primary[i]]
        d.paths.append((pt, hlt, hlt_hlgt[hlt], hlgt_soc[hlt_hlgt[hlt]], True))
        d.terms.append(("pt", pt, f"PT {pt}", pt, True, hlgt_soc[hlt_hlgt[hlt]], None, None))
    for i in rng.choice(len(pts), 11000, replace=False):  # secondary paths, in another SOC
        hlt = hlts[(primary[i] + 1 + int(rng.integers(0, 1700))) % len(hlts)]
        if hlgt_soc[hlt_hlgt[hlt]] != d.paths[i][3]:
            d.paths.append((pts[i], hlt, hlt_hlgt[hlt], hlgt_soc[hlt_hlgt[hlt]], False))
    llt_pt = rng.integers(0, len(pts), 85000 - len(pts))
    d.terms += [("llt", pt, f"PT {pt}", pt, True, None, None, None) for pt in pts]
    d.terms += [("llt", f"95{i:06d}", f"LLT {i}", pts[p], bool(i % 10), None, None, None)
                for i, p in enumerate(llt_pt)]
    smqs = [f"90{i:06d}" for i in range(220)]
    d.smqs += [(c, f"SMQ {c}", 1 if i < 200 else 2, "A", None, None) for i, c in enumerate(smqs)]
    per = 200000 // 220
    for i, smq in enumerate(smqs):
        chosen = rng.choice(len(pts), per, replace=False)
        for j, p in enumerate(chosen):
            d.smq_terms.append((smq, "pt", pts[p], pts[p], "narrow" if j % 3 == 0 else "broad", None))
    return d


def cases(engine, n: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    stamp = NOW.replace(tzinfo=None)
    n_products = 40
    pts = np.array([f"96{i:06d}" for i in range(26000)])
    weight = 1.0 / np.arange(1, pts.size + 1) ** 0.9
    weight /= weight.sum()
    with engine.begin() as conn:
        def bulk(table, rows):
            conn.execute(sa.table(table, *(sa.column(c) for c in rows[0])).insert(), rows)

        bulk("organization", [{"id": 1, "name": "Bench clinic", "kind": "clinic", "country": "CN", "created_at": stamp},
                              {"id": 2, "name": "Bench MAH", "kind": "mah", "country": "CN", "created_at": stamp}])
        bulk("app_user", [{"id": 1, "username": "bench", "role": "clinic", "organization_id": 1, "is_active": True,
                           "created_at": stamp}])
        bulk("product", [{"id": i + 1, "code": f"P{i:02d}", "inn": f"p{i}", "trade_name": f"P{i}",
                          "modality": "car_t", "mah_organization_id": 2, "created_at": stamp} for i in range(n_products)])
        ids = list(range(1, n + 1))
        product = rng.integers(1, n_products + 1, n)
        bulk("patient", [{"id": i, "clinic_id": 1, "pseudonym": f"{i:064x}", "sex": "female" if i % 2 else "male",
                          "birth_year": 1960, "created_at": stamp} for i in ids])
        bulk("treatment", [{"id": i, "patient_id": i, "product_id": int(product[i - 1]), "batch_number": "B",
                            "infusion_date": dt.date(2024, 1, 1), "created_at": stamp} for i in ids])
        bulk("safety_case", [{"id": i, "sender_id": 1, "sender_case_id": f"B{i}", "patient_id": i,
                              "first_received": dt.date(2025, 1, 1), "latest_version_id": i, "latest_version": 0,
                              "created_at": stamp} for i in ids])
        bulk("case_version", [{"id": i, "case_id": i, "version": 0, "content_hash": f"{i:064x}",
                               "report_type": "spontaneous", "received_date": dt.date(2025, 1, 1),
                               "latest_info_date": dt.date(2025, 1, 1), "reporter_qualification": "physician",
                               "reporter_country": "CN", "serious": True, "submitted_by": 1, "created_at": stamp}
                              for i in ids])
        bulk("case_drug", [{"id": i, "case_version_id": i, "treatment_id": i, "product_id": int(product[i - 1]),
                            "role": "suspect"} for i in ids])
        k = rng.integers(1, 5, n)
        version = np.repeat(np.arange(1, n + 1), k)
        code = rng.choice(pts, version.size, p=weight)
        bulk("case_reaction", [{"id": j + 1, "case_version_id": int(v), "pt_code": c, "pt_name": f"PT {c}",
                                "meddra_version": VERSION, "outcome": "recovered", "death": False,
                                "life_threatening": False, "hospitalisation": False, "disability": False,
                                "congenital_anomaly": False, "other_medically_important": False}
                               for j, (v, c) in enumerate(zip(version.tolist(), code.tolist()))])
    return int(version.size)


def timed(fn, repeat: int):
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return out, min(walls), statistics.median(walls), min(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()

    from sqlmodel import Session

    from pv_service.signals.dataset import pair_counts
    from pv_service.signals.levels import Level
    from pv_service.signals.runs import run_signals

    tmp = tempfile.TemporaryDirectory()
    with scratch_engine(args.db, Path(tmp.name), "levels") as engine:
        upgrade(engine)
        t = time.perf_counter()
        dist = dictionary(args.seed)
        with engine.begin() as conn:
            store(conn, dist, NOW)
        n_reactions = cases(engine, args.cases, args.seed)
        print(f"{args.db}: dictionary {dist.counts()} and {args.cases:,} cases / {n_reactions:,} reactions "
              f"stored in {time.perf_counter() - t:.1f} s (not timed)")
        levels = [Level("pt"), Level("hlt"), Level("hlgt"), Level("soc"), Level("soc", paths="all"),
                  Level("smq"), Level("smq", scope="broad")]
        with Session(engine) as session:
            for level in levels:
                frame, best, median, cpu = timed(
                    lambda level=level: pair_counts(session, level=level, meddra_version=VERSION), args.repeat)
                print(f"pair_counts {level.label:10s} best {best:6.2f} s  median {median:6.2f} s  "
                      f"cpu {cpu:6.2f} s  ({len(frame):,} pairs)")
            for level in (Level("pt"), Level("soc"), Level("smq")):
                run, best, median, cpu = timed(lambda level=level: run_signals(
                    session, NOW, level=level, meddra_version=VERSION), 1)
                print(f"run_signals {level.label:10s} wall {best:6.2f} s  cpu {cpu:6.2f} s  "
                      f"({run.n_pairs:,} pairs stored, MGPS converged: {run.hyperparameters.get('converged')})")
            session.rollback()


if __name__ == "__main__":
    main()

"""Duplicate detection: accuracy of the trained model and the cost of scoring, on generated reports.

    .venv/bin/python bench/duplicates.py [--reports 100000] [--increment 10000] [--seed 4242]
    .venv/bin/python bench/duplicates.py --intake [--n 300]      # the intake check's cost, before/after

Reports come from pv_service.duplicates.synthetic (spontaneous reports, 5% planted cross-sender
duplicates with typos in dates, ages sent as a group, a missing PT, another reporter, no batch), with
a seed other than the model's training seed. A pair is right when both reports describe the same
generated clinical case (`truth`); recall is over every pair of reports of one case.

Prints wall time beside process CPU time (user+sys; DuckDB's threads included) and peak memory
(max RSS of this process), and the load average, since the machine is shared.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pv_service.duplicates import linkage
from pv_service.duplicates.synthetic import generate
from pv_service.rules import load_rules


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu() - self.cpu

    def __str__(self) -> str:
        return f"wall {self.wall:.1f} s, CPU {self.cpu:.1f} s"


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def accuracy(pairs: pd.DataFrame, data: pd.DataFrame, thresholds) -> list[tuple[float, float, float, int]]:
    truth = data.set_index("case_id")["truth"]
    same = truth.loc[pairs["unique_id_l"]].to_numpy() == truth.loc[pairs["unique_id_r"]].to_numpy()
    sizes = data.groupby("truth").size()
    positives = int((sizes * (sizes - 1) // 2).sum())
    out = []
    for th in thresholds:
        sel = pairs["match_probability"].to_numpy() >= th
        tp = int((same & sel).sum())
        out.append((th, tp / max(int(sel.sum()), 1), tp / positives, int(sel.sum())))
    return out


def scoring(args) -> None:
    rules = load_rules(ROOT / "alerts").duplicates
    model, threshold = rules.model, rules.review_threshold
    print(f"load average {os.getloadavg()}, model trained {rules.provenance.trained_at}, threshold {threshold}")
    with Timer() as t:
        data = generate(args.reports + args.increment, seed=args.seed)
    print(f"generated {len(data):,} reports ({(data.groupby('truth').size() > 1).sum():,} planted duplicates): {t}")
    records = linkage.prepare(data)
    old, new = records.iloc[:args.reports], records.iloc[args.reports:]
    # The planted duplicates come last in the generated set; shuffle so the increment holds both kinds.
    order = np.random.default_rng(args.seed).permutation(len(records))
    records = records.iloc[order].reset_index(drop=True)
    old, new = records.iloc[:args.reports], records.iloc[args.reports:]
    with Timer() as t:
        pairs = linkage.score_within(model, old, threshold=min(0.5, threshold))
    print(f"scored {len(old):,} reports (every blocked pair): {t}; {len(pairs):,} pairs >= 0.5; "
          f"peak RSS {_peak_mb():,.0f} MB")
    sub = data[data["case_id"].isin(old["unique_id"])]
    for th, precision, recall, n in accuracy(pairs, sub, sorted({0.5, 0.8, threshold, 0.99})):
        print(f"  threshold {th:.2f}: precision {precision:.3f}, recall {recall:.3f} ({n:,} pairs)")
    if args.increment:
        with Timer() as t:
            inc = linkage.score_between(model, new, old, threshold)
        print(f"increment: {len(new):,} new reports against {len(old):,}: {t}; {len(inc):,} pairs; "
              f"peak RSS {_peak_mb():,.0f} MB")
        ids = set(new["unique_id"])
        touching = data[data["truth"].isin(data.loc[data["case_id"].isin(ids), "truth"])]
        truth = touching.set_index("case_id")["truth"]
        same = truth.reindex(inc["unique_id_l"]).to_numpy() == truth.reindex(inc["unique_id_r"]).to_numpy()
        sizes = touching.groupby("truth").size()
        new_truth = data.loc[data["case_id"].isin(ids)].groupby("truth").size()
        # Positives: pairs of one case with at least one report in the increment.
        old_truth = data.loc[data["case_id"].isin(old["unique_id"])].groupby("truth").size()
        pos = int(sum(n * (n - 1) // 2 + n * old_truth.get(k, 0) for k, n in new_truth.items()))
        print(f"  increment at {threshold:.2f}: precision {same.sum() / max(len(inc), 1):.3f}, "
              f"recall {same.sum() / max(pos, 1):.3f} ({len(sizes):,} cases touched)")


def intake(args) -> None:
    """POST /v1/reports in process (TestClient) with the duplicate check and with it replaced by a no-op."""
    import datetime as dt

    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from pv_service.app import create_app
    from pv_service.auth.models import Organization, User
    from pv_service.auth.security import create_access_token
    from pv_service.cases import router as cases_router
    from pv_service.core.db import make_engine
    from pv_service.core.migrate import upgrade
    from pv_service.core.settings import get_settings
    from pv_service.patients.models import Patient, Treatment
    from pv_service.patients.pseudonym import pseudonymize
    from pv_service.products.models import Product

    url = os.environ.get("PV_BENCH_DUPLICATES_URL", "sqlite:///" + str(Path("/tmp") / "bench_duplicates.db"))
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            import sqlalchemy as sa
            c.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    elif Path(url.removeprefix("sqlite:///")).exists():
        Path(url.removeprefix("sqlite:///")).unlink()
    upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as s:
        org = Organization(name="Bench clinic", kind="clinic", country="CN", created_at=now)
        mah = Organization(name="Bench MAH", kind="mah", country="CN", created_at=now)
        s.add_all([org, mah])
        s.flush()
        user = User(username="bench", role="clinic", organization_id=org.id, created_at=now)
        prod = Product(code="CART-B", inn="benchcabtagene", trade_name="Bench", modality="car_t",
                       mah_organization_id=mah.id, created_at=now)
        s.add_all([user, prod])
        s.flush()
        pts, trs = [], []
        for i in range(args.n * 2):
            p = Patient(clinic_id=org.id, pseudonym=pseudonymize(f"B-{i}", org.id, get_settings().pseudonym_key),
                        sex="female", birth_year=1950 + i % 50, created_at=now)
            s.add(p)
            pts.append(p)
        s.flush()
        for p in pts:
            t = Treatment(patient_id=p.id, product_id=prod.id, batch_number=f"L{p.id}",
                          infusion_date=dt.date(2026, 1, 1), created_at=now)
            s.add(t)
            trs.append(t)
        s.commit()
        pairs = [(p.id, t.id) for p, t in zip(pts, trs)]
        headers = {"Authorization": "Bearer " + create_access_token(user.id, "clinic", get_settings().secret_key,
                                                                     60, now)}
    original = cases_router._duplicate_check

    async def no_check(request, principal, subs):
        return {}

    results = {}
    with TestClient(create_app(engine=engine)) as client:
        for label, pair_slice, check in (("without the check", pairs[:args.n], no_check),
                                         ("with the check", pairs[args.n:], original)):
            cases_router._duplicate_check = check
            lat = []
            with Timer() as t:
                for i, (pid, tid) in enumerate(pair_slice):
                    body = {"sender_case_id": f"{label.replace(' ', '-')}-{i}", "version": 0, "received_date": "2026-06-01",
                            "reporter": {"qualification": "physician", "country": "CN"}, "patient": {"patient_id": pid},
                            "drugs": [{"treatment_id": tid, "role": "suspect"}],
                            "reactions": [{"pt_code": "100", "pt_name": "Neutropenia", "onset_date": "2026-05-01",
                                           "seriousness": {"hospitalisation": True}, "outcome": "recovered"}]}
                    start = time.perf_counter()
                    r = client.post("/v1/reports", json=body, headers=headers)
                    lat.append(time.perf_counter() - start)
                    assert r.status_code == 201, r.text
            results[label] = (t, np.array(lat) * 1000)
    cases_router._duplicate_check = original
    print(f"{engine.dialect.name}, {args.n} single reports each, one client in process; load {os.getloadavg()}")
    for label, (t, ms) in results.items():
        print(f"  {label}: {t}; per report median {np.median(ms):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, "
              f"CPU {t.cpu / len(ms) * 1000:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--increment", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--intake", action="store_true")
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    intake(args) if args.intake else scoring(args)


if __name__ == "__main__":
    main()

"""Benchmark: FHIR AdverseEvent intake over HTTP (in-process TestClient), SQLite and PostgreSQL.

    .venv/bin/python bench/fhir_intake.py [--db sqlite,postgresql] [--n 300]

Per database (SQLite in a temporary file; PostgreSQL in a schema of its own from
PV_BENCH_POSTGRES_URL, default the local `test` database), migrated: one clinic, one
registered patient treated with one product; then `--n` hand-built CAR-T Bundles (the CRS case
of tests/fhir/bundles.py, each under its own case id) posted as R5 JSON, R4 JSON and R5 XML (and, as
`r5-described` / `r4-described`, the bundles for an unregistered patient with drugs in their roles),
one after another, and each read back once (GET /fhir/AdverseEvent/{id}). Reports per request:
wall time (mean, p50, p99) and this process's CPU time (client and server share the process,
so CPU includes the TestClient's own work). Also the parse + validation step alone
(`pv_service.fhir.read.parse`), the part FHIR adds to JSON intake.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PV_ENVIRONMENT", "test")

import pv_service.models  # noqa: E402,F401
from fhir.resources.bundle import Bundle  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from scratch_db import bench_clinic, scratch_engine  # noqa: E402  (beside this script in bench/)

from pv_service.app import create_app  # noqa: E402
from pv_service.auth.security import create_access_token  # noqa: E402
from pv_service.core.migrate import upgrade  # noqa: E402
from pv_service.core.settings import get_settings  # noqa: E402
from pv_service.fhir import read  # noqa: E402
from tests.fhir import bundles  # noqa: E402


def _setup(engine, now):
    from sqlmodel import Session

    from pv_service.auth.models import Organization
    from pv_service.products.models import Product

    org, user = bench_clinic(engine, now)
    with Session(engine) as s:
        mah = Organization(name="Bench MAH", kind="mah", country="CN", created_at=now)
        s.add(mah)
        s.flush()
        s.add(Product(code="CART-1", inn="testcabtagene autoleucel", trade_name="Testkymr", modality="car_t",
                      mah_organization_id=mah.id, created_at=now))
        s.commit()
    token = create_access_token(user.id, user.role, get_settings().secret_key, 600, now)
    return {"Authorization": f"Bearer {token}"}


def _bodies(n: int, kind: str) -> list[tuple[bytes, str]]:
    out = []
    for i in range(n):
        b = {"r4-json": bundles.r4, "r5-described": bundles.r5_unregistered,
             "r4-described": bundles.r4_unregistered}.get(kind, bundles.r5)()
        ae = bundles.event(b)
        if kind.startswith("r4"):
            ae["identifier"]["value"] = f"BENCH-{kind}-{i}"
        else:
            ae["identifier"][0]["value"] = f"BENCH-{kind}-{i}"
        if kind == "r5-xml":
            out.append((Bundle.model_validate(b).model_dump_xml(), "application/fhir+xml"))
        else:
            out.append((json.dumps(b).encode(), "application/fhir+json"))
    return out


def _stats(walls: list[float], cpu: float) -> str:
    walls = sorted(walls)
    p99 = walls[min(len(walls) - 1, int(0.99 * len(walls)))]
    return (f"mean {statistics.mean(walls) * 1e3:.1f} ms, p50 {statistics.median(walls) * 1e3:.1f} ms, "
            f"p99 {p99 * 1e3:.1f} ms; CPU {cpu / len(walls) * 1e3:.1f} ms/request")


def run(kind_db: str, n: int, folder: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    with scratch_engine(kind_db, folder, "fhir") as engine:
        upgrade(engine)
        headers = _setup(engine, now)
        with TestClient(create_app(engine=engine)) as client:
            r = client.post("/v1/patients", json={"local_id": "P-001", "sex": "female", "birth_year": 1970}, headers=headers)
            pid = r.json()["id"]
            r = client.post("/v1/treatments", json={"patient_id": pid, "product_code": "CART-1", "batch_number": "LOT-1",
                                                    "infusion_date": "2025-01-10"}, headers=headers)
            assert r.status_code == 201, r.text
            # *-described: the patient is not registered (described, drugs as reported in their roles).
            for kind in ("r5-json", "r4-json", "r5-xml", "r5-described", "r4-described"):
                bodies = _bodies(n, kind)
                c0 = time.process_time()
                walls, ids = [], []
                for body, ctype in bodies:
                    w = time.perf_counter()
                    r = client.post("/fhir", content=body, headers={**headers, "Content-Type": ctype})
                    walls.append(time.perf_counter() - w)
                    assert r.status_code == 201, r.text
                    ids.append(r.headers["Location"].split("/")[3])
                print(f"{kind_db} POST /fhir {kind}: {n} bundles; {_stats(walls, time.process_time() - c0)}")
                fmt = "xml" if kind == "r5-xml" else "json"
                c0 = time.process_time()
                parse_walls = []
                for body, _ in bodies:
                    w = time.perf_counter()
                    read.parse(body, fmt, None, ("Bundle",))
                    parse_walls.append(time.perf_counter() - w)
                print(f"{kind_db}   parse + validate alone: {_stats(parse_walls, time.process_time() - c0)}")
            c0 = time.process_time()
            walls = []
            for cid in ids:
                w = time.perf_counter()
                assert client.get(f"/fhir/AdverseEvent/{cid}", headers=headers).status_code == 200
                walls.append(time.perf_counter() - w)
            print(f"{kind_db} GET /fhir/AdverseEvent/{{id}}: {len(ids)} reads; {_stats(walls, time.process_time() - c0)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="sqlite,postgresql")
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.db.split(","):
            run(kind, args.n, Path(tmp))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

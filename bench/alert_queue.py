"""Benchmark: the queue and case-series pages with 100,000 open alerts and a 5,000-case series.

    .venv/bin/python bench/alert_queue.py [--alerts 100000] [--cases 5000] [--repeat 5] [--db sqlite|postgresql]

Synthesises (not timed) into a scratch database migrated with Alembic (SQLite in a temporary
folder, or a schema of its own at PV_BENCH_POSTGRES_URL): one CAR-T product, 100,000 open alerts
(2% signals, 5% reporting clocks, 3% deadlines, 1% data quality, the rest follow-up items; a tenth
of them assigned), and one signal alert whose 5,000 cases (one patient and treatment each, the
product suspect, the alert's PT plus another reaction, a narrative) make its case series. Then
times, in process through the FastAPI TestClient as a signed-in safety officer (cookie session:
authentication, the reads, the rendering), each page --repeat times: wall time (median, best) and
this process's CPU time (user+sys) per request; on PostgreSQL also the CPU time of the server's
backends for this database (read from /proc: the server must run on this machine; 10 ms ticks).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PV_ENVIRONMENT", "test")

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402

import pv_service.models  # noqa: E402,F401
from bench.scratch_db import scratch_engine  # noqa: E402
from pv_service.alerting.models import Alert  # noqa: E402
from pv_service.auth.models import Organization, User  # noqa: E402
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion  # noqa: E402
from pv_service.core.migrate import upgrade  # noqa: E402
from pv_service.patients.models import Patient, Treatment  # noqa: E402
from pv_service.products.models import Product  # noqa: E402

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
PT, OTHER = "90000101", "90000102"


def _insert(conn, model, rows: list[dict]) -> None:
    for start in range(0, len(rows), 20000):
        conn.execute(sa.insert(model.__table__), rows[start:start + 20000])


def synthesise(engine, n_alerts: int, n_cases: int, seed: int = 20261123) -> int:
    """The signal alert's id."""
    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        _insert(conn, Organization, [{"id": 1, "name": "Bench clinic", "kind": "clinic", "country": "CN", "created_at": NOW},
                                     {"id": 2, "name": "Bench operator", "kind": "operator", "country": None,
                                      "created_at": NOW},
                                     {"id": 3, "name": "Bench MAH", "kind": "mah", "country": "CN", "created_at": NOW}])
        _insert(conn, User, [{"id": 1, "username": "bench-clinic", "role": "clinic", "organization_id": 1,
                              "created_at": NOW},
                             {"id": 2, "username": "bench-safety", "role": "safety_officer", "organization_id": 2,
                              "created_at": NOW}])
        _insert(conn, Product, [{"id": 1, "code": "BENCH-1", "inn": "benchcabtagene", "trade_name": "Benchkymr",
                                 "modality": "car_t", "target": "CD19", "mah_organization_id": 3,
                                 "created_at": NOW}])
        kinds = rng.choice(["signal", "reporting_clock", "deadline", "data_quality", "followup"], size=n_alerts,
                           p=[0.02, 0.05, 0.03, 0.01, 0.89])
        alerts = []
        for i, kind in enumerate(kinds, start=1):
            alerts.append({
                "id": i, "key": f"{kind}:{i}", "type": "job_failed" if kind == "data_quality" else kind,
                "status": "new" if kind == "signal" else "open", "severity": "medium",
                "priority": float(rng.uniform(0, 100)), "title": f"{kind} alert {i}", "subject_type": "pair",
                "subject_id": None, "product_id": 1, "detail": {"n": int(rng.integers(1, 50))},
                "assignee_id": 2 if i % 10 == 0 else None, "first_raised_at": NOW, "last_seen_at": NOW})
        signal_id = n_alerts + 1
        alerts.append({"id": signal_id, "key": f"signal:pt:BENCH-1:{PT}", "type": "signal", "status": "new",
                       "severity": "high", "priority": 99.0, "title": "Bench event after BENCH-1",
                       "subject_type": "pair", "subject_id": None, "product_id": 1,
                       "detail": {"product": "BENCH-1", "event": PT, "pt_codes": [PT], "terms": ["Bench event"],
                                  "n": n_cases, "level": "pt", "rule": "statistical", "criteria_met": ["prr"],
                                  "serious_fraction": 0.6, "measures": {}},
                       "assignee_id": None, "first_raised_at": NOW, "last_seen_at": NOW})
        _insert(conn, Alert, alerts)
        base = dt.date(2020, 1, 1)
        infusion = [base + dt.timedelta(days=int(d)) for d in rng.integers(0, 2000, n_cases)]
        onset = [d + dt.timedelta(days=int(x)) for d, x in zip(infusion, rng.integers(1, 700, n_cases))]
        _insert(conn, Patient, [{"id": i, "clinic_id": 1, "pseudonym": f"{i:064x}", "sex": "female" if i % 2 else "male",
                                 "birth_year": int(1940 + i % 50), "created_at": NOW} for i in range(1, n_cases + 1)])
        _insert(conn, Treatment, [{"id": i, "patient_id": i, "product_id": 1, "batch_number": f"LOT-{i % 40}",
                                   "infusion_date": infusion[i - 1], "created_at": NOW} for i in range(1, n_cases + 1)])
        _insert(conn, Case, [{"id": i, "sender_id": 1, "sender_case_id": f"C-{i}", "patient_id": i,
                              "first_received": onset[i - 1] + dt.timedelta(days=5), "latest_version_id": i,
                              "latest_version": 0, "created_at": NOW} for i in range(1, n_cases + 1)])
        _insert(conn, CaseVersion, [{"id": i, "case_id": i, "version": 0, "content_hash": f"{i:064x}",
                                     "report_type": "spontaneous", "received_date": onset[i - 1] + dt.timedelta(days=5),
                                     "latest_info_date": onset[i - 1] + dt.timedelta(days=5),
                                     "reporter_qualification": "physician", "reporter_country": ("CN", "US")[i % 2],
                                     "serious": bool(i % 5 < 3), "narrative": f"Case {i}: event on day x. " * 8,
                                     "submitted_by": 1, "created_at": NOW} for i in range(1, n_cases + 1)])
        _insert(conn, CaseDrug, [{"id": i, "case_version_id": i, "treatment_id": i, "product_id": 1, "role": "suspect"}
                                 for i in range(1, n_cases + 1)])
        reactions = []
        for i in range(1, n_cases + 1):
            for j, (code, name) in enumerate(((PT, "Bench event"), (OTHER, "Other event"))):
                reactions.append({"id": 2 * i - 1 + j, "case_version_id": i, "pt_code": code, "pt_name": name,
                                  "onset_date": onset[i - 1], "outcome": ("recovered", "fatal", "unknown")[i % 3],
                                  "hospitalisation": bool(i % 2), "death": i % 3 == 1})
        _insert(conn, CaseReaction, reactions)
    return signal_id


_PROBES: dict = {}


def server_cpu(engine) -> float:
    """PostgreSQL on this machine: CPU seconds (user+sys, /proc) of the backends serving this database."""
    if engine.dialect.name != "postgresql":
        return 0.0
    # A connection of its own (not one of the app's pool, which it would then leave out).
    probe = _PROBES.setdefault(id(engine), sa.create_engine(engine.url, poolclass=sa.pool.NullPool))
    with probe.connect() as conn:
        pids = [r[0] for r in conn.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))]
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def measure(client, engine, url: str, repeat: int) -> dict:
    walls, cpus, server = [], [], []
    client.get(url)  # warm: templates compiled, caches filled
    for _ in range(repeat):
        s0 = server_cpu(engine)
        c0, w0 = time.process_time(), time.perf_counter()
        r = client.get(url)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        server.append(server_cpu(engine) - s0)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return {"url": url, "wall_median_ms": 1000 * statistics.median(walls), "wall_best_ms": 1000 * min(walls),
            "cpu_median_ms": 1000 * statistics.median(cpus), "server_cpu_median_ms": 1000 * statistics.median(server),
            "bytes": len(r.content)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--cases", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    from pv_service.app import create_app
    from pv_service.auth.security import create_access_token
    from pv_service.core.settings import get_settings
    from pv_service.web.auth import SESSION_COOKIE

    with tempfile.TemporaryDirectory() as folder, scratch_engine(args.db, Path(folder), "queue") as engine:
        upgrade(engine)
        t0 = time.perf_counter()
        signal_id = synthesise(engine, args.alerts, args.cases)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
        print(f"synthesised {args.alerts:,} alerts and {args.cases:,} cases in {time.perf_counter() - t0:.1f} s")
        app = create_app(clock=lambda: NOW, engine=engine)
        with TestClient(app) as client:
            client.cookies.set(SESSION_COOKIE, create_access_token(2, "safety_officer", get_settings().secret_key, 600, NOW))
            pages = ["/ui/alerts", "/ui/alerts?view=signals", "/ui/alerts?view=followup&page=200",
                     "/ui/alerts?mine=1", f"/ui/alerts/{signal_id}/cases",
                     f"/ui/alerts/{signal_id}/cases?sort=days_to_onset&order=asc&page=20",
                     f"/ui/alerts/{signal_id}/cases?q=fatal&country=US&serious=yes",
                     f"/ui/alerts/{signal_id}/cases.csv", f"/ui/alerts/{signal_id}/cases.xlsx"]
            print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
            print(f"{'page':70} {'wall median':>12} {'wall best':>10} {'CPU median':>11} {'PG CPU median':>14}")
            for url in pages:
                m = measure(client, engine, url, args.repeat)
                print(f"{url:70} {m['wall_median_ms']:10.0f} ms {m['wall_best_ms']:7.0f} ms {m['cpu_median_ms']:8.0f} ms"
                      f" {m['server_cpu_median_ms']:11.0f} ms")
            print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()

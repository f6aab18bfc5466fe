"""Intake throughput on PostgreSQL: single-report POST at 1, 8 and 32 clients, batch import,
and a trivial FastAPI endpoint under the same server settings.

    make bench-intake        # or: .venv/bin/python bench/intake.py [--duration 10] [--workers 2]

Needs wrk, psutil and httpx (make bench-deps) and PostgreSQL (PV_BENCH_POSTGRES_URL, default the local
server's `pv_bench` database, created and emptied by this script).

Besides rates and latencies it reports the CPU time the server processes and the PostgreSQL
processes spent per report: throughput depends on how fast and how busy the machine is, the
CPU cost per report much less.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import signal
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import sqlalchemy as sa
from sqlalchemy import insert
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pv_service.auth.models import Organization, User  # noqa: E402
from pv_service.auth.security import hash_password  # noqa: E402
from pv_service.core.db import make_engine  # noqa: E402
from pv_service.core.migrate import upgrade  # noqa: E402
from pv_service.patients.models import Patient, Treatment  # noqa: E402
from pv_service.products.models import Product  # noqa: E402

BASE_PG = os.environ.get("PV_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/pv_bench")
NOW = dt.datetime.now(dt.timezone.utc)


def seed_history(engine, clinic_id: int, pairs: list[tuple[int, int]], n: int) -> None:
    """Reports already received, so the run measures a service in use rather than empty tables."""
    from pv_service.auth.principal import Principal
    from pv_service.cases.intake_sql import submit_many
    from pv_service.cases.schemas import ReportIn
    from pv_service.common.vocab import Role

    with Session(engine) as s:
        user_id = s.execute(sa.select(User.id).where(User.username == "bench")).scalar_one()
        principal = Principal(user_id, "bench", Role.clinic, clinic_id, "CN")
        for start in range(0, n, 1000):
            reports = [ReportIn.model_validate({
                "sender_case_id": f"HIST-{i}", "received_date": "2025-02-01", "reporter": {"qualification": "physician"},
                "patient": {"patient_id": pairs[i % len(pairs)][0]}, "drugs": [{"treatment_id": pairs[i % len(pairs)][1]}],
                "reactions": [{"pt_code": "LOCAL-0002", "pt_name": "Pyrexia", "onset_date": "2025-01-11"}],
            }) for i in range(start, min(n, start + 1000))]
            assert all(o.error is None for o in submit_many(s, principal, reports, NOW))
            s.commit()


def prepare_database(url: str, n_patients: int, n_history: int = 0) -> list[tuple[int, int]]:
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    dbname = url.rsplit("/", 1)[1]
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
    admin.dispose()
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s:
        clinic = Organization(name="Bench clinic", kind="clinic", country="CN", created_at=NOW)
        mah = Organization(name="Bench MAH", kind="mah", country="CN", created_at=NOW)
        s.add_all([clinic, mah])
        s.flush()
        s.add(User(username="bench", password_hash=hash_password("bench-password"), role="clinic",
                   organization_id=clinic.id, created_at=NOW))
        product = Product(code="BENCH-CART", inn="benchcabtagene", trade_name="Bench", modality="car_t",
                          mah_organization_id=mah.id, created_at=NOW)
        s.add(product)
        s.flush()
        s.execute(insert(Patient), [{"clinic_id": clinic.id, "pseudonym": f"{i:064x}", "sex": "female",
                                     "birth_year": 1960, "created_at": NOW} for i in range(n_patients)])
        ids = [r[0] for r in s.execute(sa.select(Patient.id).order_by(Patient.id))]
        s.execute(insert(Treatment), [{"patient_id": pid, "product_id": product.id, "batch_number": "B1",
                                       "infusion_date": dt.date(2025, 1, 10), "created_at": NOW} for pid in ids])
        pairs = [(r[0], r[1]) for r in s.execute(sa.select(Treatment.patient_id, Treatment.id).order_by(Treatment.id))]
        clinic_id = clinic.id
        s.commit()
    seed_history(engine, clinic_id, pairs, n_history)
    # As autovacuum would have on a live database: planner statistics for the seeded tables.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    return pairs


def stored_versions(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT COUNT(*) FROM case_version")).scalar_one()
    engine.dispose()
    return int(n)


class CpuMeter:
    """CPU seconds (user + system) spent by the server's process tree and by PostgreSQL's processes.

    With `database` (a URL), PostgreSQL's processes are only those serving that database and the
    shared background ones (WAL writer, checkpointer, ...): other work on the same PostgreSQL,
    such as other test runs, is left out.
    """

    def __init__(self, server: subprocess.Popen | None, database: str | None = None):
        self.server = psutil.Process(server.pid) if server is not None else None
        self.engine = make_engine(database) if database else None

    def _postgres_pids(self) -> set[int] | None:
        if self.engine is None:
            return None
        with self.engine.connect() as conn:
            return set(conn.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR datname IS NULL")).scalars())

    def _groups(self) -> dict[str, list[psutil.Process]]:
        server = [self.server, *self.server.children(recursive=True)] if self.server else []
        ours = self._postgres_pids()
        postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"
                    and (ours is None or p.pid in ours)]
        return {"server": server, "postgres": postgres}

    def snapshot(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for group, procs in self._groups().items():
            out[group] = {}
            for p in procs:
                try:
                    t = p.cpu_times()
                    out[group][p.pid] = t.user + t.system
                except psutil.NoSuchProcess:
                    pass
        return out

    @staticmethod
    def spent(before: dict, after: dict) -> dict[str, float]:
        """Seconds per group between two snapshots (a process started in between counts whole)."""
        return {g: sum(t - before[g].get(pid, 0.0) for pid, t in after[g].items()) for g in after}


class StatementCounter:
    """Statements and round trips to PostgreSQL per report, counted inside the server's workers
    (bench/counting/sitecustomize.py, on the workers' PYTHONPATH): a count, so other work on the
    machine cannot distort it."""

    def __init__(self, server: subprocess.Popen, directory: str):
        self.server, self.dir = psutil.Process(server.pid), Path(directory)

    def collect(self) -> collections.Counter:
        """The counts since the last call, summed over the workers (each is asked to write and reset them)."""
        for f in self.dir.glob("*.json"):
            f.unlink()
        workers = self.server.children(recursive=True)
        for w in workers:
            w.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while len(list(self.dir.glob("*.json"))) < len(workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        total: collections.Counter = collections.Counter()
        for f in self.dir.glob("*.json"):
            total.update(json.loads(f.read_text()))
        return total


def start_server(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    # The server's log goes to a file: an unread pipe fills up and stalls the server.
    log = open(Path(tempfile.gettempdir()) / f"pv-bench-server-{port}.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health" if "pv_service" in " ".join(cmd) else f"http://127.0.0.1:{port}/docs", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not start; see {log.name}")


def parse_wrk(out: str) -> dict:
    def to_ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
        return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]

    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": total, "p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else ""}


def wrk(url: str, script: str, clients: int, duration: int, env: dict, meter: CpuMeter | None = None) -> dict:
    threads = min(clients, 2)
    before = meter.snapshot() if meter else None
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{clients}", f"-d{duration}s", "--latency", "-s", script, url],
                         env=env, capture_output=True, text=True, check=True).stdout
    result = parse_wrk(out)
    if meter:
        result["cpu"] = meter.spent(before, meter.snapshot())
    return result


def per_request_ms(cpu: dict[str, float] | None, n: int, group: str) -> str:
    return f"{1000 * cpu[group] / n:.2f}" if cpu and n else "-"


def batch_rate(base: str, token: str, pairs: list[tuple[int, int]], batches: int, size: int, tag: str = "") -> float:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=120) as client:
        start = time.perf_counter()
        n = 0
        for b in range(batches):
            reports = [{
                "sender_case_id": f"BATCH{tag}-{b}-{i}", "received_date": "2025-02-01",
                "reporter": {"qualification": "physician"}, "patient": {"patient_id": pairs[i % len(pairs)][0]},
                "drugs": [{"treatment_id": pairs[i % len(pairs)][1]}],
                "reactions": [{"pt_code": "LOCAL-0001", "pt_name": "Cytokine release syndrome",
                               "onset_date": "2025-01-12", "seriousness": {"hospitalisation": True}}],
            } for i in range(size)]
            r = client.post(f"{base}/v1/reports/batch", json={"reports": reports}, headers=headers)
            r.raise_for_status()
            assert r.json()["created"] == size, r.json()["results"][:3]
            n += size
        return n / (time.perf_counter() - start)


def machine() -> str:
    """The CPU, so that figures from different machines are not compared unknowingly."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{psutil.cpu_count()} x {model}, {psutil.virtual_memory().total / 2**30:.0f} GiB"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--history", type=int, default=20000, help="reports stored before the run")
    ap.add_argument("--count-statements", action="store_true",
                    help="also count statements and round trips to PostgreSQL per report in the server's workers")
    ap.add_argument("--no-trivial", action="store_true", help="skip the trivial endpoint's runs")
    args = ap.parse_args()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    pairs = prepare_database(BASE_PG, args.patients, args.history)
    pairs_file = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    pairs_file.write("\n".join(f"{p} {t}" for p, t in pairs))
    pairs_file.close()
    # The trivial app runs under the same uvicorn settings, access log included.
    access_log = os.environ.get("PV_ACCESS_LOG", "true").lower() in ("1", "true", "yes")
    env = {**os.environ, "PV_DATABASE_URL": BASE_PG, "PV_WORKERS": str(args.workers)}
    port = int(os.environ.get("PV_BENCH_PORT", "8765"))  # another free port if several benches share a machine
    trivial_port = port + 1
    count_dir = tempfile.mkdtemp(prefix="pv-bench-counts-") if args.count_statements else None
    server_env = env if count_dir is None else {
        **env, "PV_BENCH_COUNT_DIR": count_dir,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "bench/counting"), env.get("PYTHONPATH")]))}
    server = start_server([str(ROOT / ".venv/bin/pv-service"), "serve", "--port", str(port)], server_env, port)
    counter = StatementCounter(server, count_dir) if count_dir else None
    rows, counted = [], []
    try:
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(f"{base}/v1/auth/token", data={"username": "bench", "password": "bench-password"}).json()["access_token"]
        wenv = {**env, "TOKEN": token, "PAIRS_FILE": pairs_file.name}
        meter = CpuMeter(server, BASE_PG)
        wrk(base, str(ROOT / "bench/wrk_report.lua"), 8, 3, wenv)  # warm-up
        for clients in args.clients:
            before = stored_versions(BASE_PG)
            if counter:
                counter.collect()
            r = wrk(base, str(ROOT / "bench/wrk_report.lua"), clients, args.duration, wenv, meter)
            if counter:
                counted.append((clients, r["requests"], counter.collect()))
            # Every 201 is a new case version; a resent id would be a 200 and store nothing.
            r["stored"] = stored_versions(BASE_PG) - before
            rows.append(("POST /v1/reports", clients, r))
        cpu_before = meter.snapshot()
        batch = batch_rate(base, token, pairs, batches=20, size=500)
        batch_cpu = meter.spent(cpu_before, meter.snapshot())
        # Two clients importing at once (each its own batches): both workers busy.
        from concurrent.futures import ThreadPoolExecutor

        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda t: batch_rate(base, token, pairs, batches=10, size=500, tag=t), ["-A", "-B"]))
        batch_parallel = 2 * 10 * 500 / (time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait()
    if args.no_trivial:
        return report(args, rows, batch, batch_cpu, batch_parallel, counted, load_before)
    trivial = start_server([str(ROOT / ".venv/bin/uvicorn"), "bench.trivial_app:app", "--port", str(trivial_port),
                            "--workers", str(args.workers), "--log-level", "info",
                            "--access-log" if access_log else "--no-access-log"], {**env, "PYTHONPATH": str(ROOT)}, trivial_port)
    try:
        for clients in args.clients:
            r = wrk(f"http://127.0.0.1:{trivial_port}", str(ROOT / "bench/wrk_trivial.lua"), clients, args.duration, env,
                    CpuMeter(trivial))
            rows.append(("trivial POST /echo", clients, r))
    finally:
        trivial.terminate()
        trivial.wait()
    report(args, rows, batch, batch_cpu, batch_parallel, counted, load_before)


def report(args, rows, batch, batch_cpu, batch_parallel, counted, load_before) -> None:
    print("| endpoint | clients | requests/s | p50 ms | p99 ms | non-2xx | requests | new versions stored "
          "| server CPU ms/request | PostgreSQL CPU ms/request |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, clients, r in rows:
        print(f"| {name} | {clients} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['non2xx']} "
              f"| {r['requests']} | {r.get('stored', '-')} | {per_request_ms(r['cpu'], r['requests'], 'server')} "
              f"| {per_request_ms(r['cpu'], r['requests'], 'postgres')} |")
    print(f"\nbatch import (20 calls x 500 reports): {batch:.0f} reports/s; CPU per report: server "
          f"{per_request_ms(batch_cpu, 20 * 500, 'server')} ms, PostgreSQL {per_request_ms(batch_cpu, 20 * 500, 'postgres')} ms")
    print(f"batch import, 2 clients at once (10 calls x 500 reports each): {batch_parallel:.0f} reports/s")
    print(f"server: uvicorn, {args.workers} workers, PostgreSQL; {args.duration}s per wrk run")
    print(f"machine: {machine()}; load average before the run: {load_before}")
    for clients, n, counts in counted:
        top = ", ".join(f"{k.split(': ', 1)[1]!r} {v / n:.2f}" for k, v in counts.most_common() if k.startswith("statement: "))
        print(f"\nPostgreSQL per report at {clients} clients ({n} requests): {counts['statements'] / n:.2f} statements, "
              f"{counts['round trips'] / n:.2f} round trips; by statement: {top}")


if __name__ == "__main__":
    main()

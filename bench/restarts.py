"""Intake durability: no acknowledged report lost, none stored twice, across PostgreSQL restarts
(fast and immediate, i.e. a crash) and a worker killed with SIGKILL.

    .venv/bin/python bench/restarts.py [--clients 8] [--workers 2] [--events fast,immediate,kill]

Run by hand, as root (it restarts the local PostgreSQL cluster with pg_ctlcluster: every other
user of that server loses its connections for about a second per restart). Needs the bench
extras (make bench-deps) and PostgreSQL (PV_BENCH_RESTARTS_URL, default the local server's
`pv_bench_restarts` database, created and emptied by this script). Results go to
docs/benchmarks.md.

Clients send single reports (POST /v1/reports), each with a sender case id of its own, and
resend the same report until it is acknowledged (201 created, or 200: the same version was
already stored, i.e. an earlier attempt was committed but its answer was lost). They retry
every 0.1 s rather than after Retry-After, so that the figures show how long the service
keeps failing. At the end every acknowledged id must be stored exactly once (one case, one
version) and nothing may be stored that was not acknowledged.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake import machine, prepare_database, start_server  # noqa: E402
from pv_service.core.db import make_engine  # noqa: E402

URL = os.environ.get("PV_BENCH_RESTARTS_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/pv_bench_restarts")
REQUEST_TIMEOUT = 30.0  # a request that takes longer counts as hung


@dataclass
class Attempt:
    start: float
    seconds: float
    status: int | None  # None: no HTTP answer (connection refused or reset, timeout)
    error: str = ""


@dataclass
class Sender:
    """One client thread: sends report after report, each until it is acknowledged."""
    index: int
    base: str
    token: str
    pairs: list[tuple[int, int]]
    stop: threading.Event
    attempts: list[Attempt] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)  # sender case id -> final status
    refused: dict[str, str] = field(default_factory=dict)  # a 4xx: a bug, reported

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, timeout=REQUEST_TIMEOUT) as client:
            n = 0
            while not self.stop.is_set():
                case_id = f"R-{self.index}-{n}"
                patient, treatment = self.pairs[(self.index * 1000 + n) % len(self.pairs)]
                self._deliver(client, headers, case_id, patient, treatment)
                n += 1

    def _deliver(self, client: httpx.Client, headers: dict, case_id: str, patient: int, treatment: int) -> None:
        body = {"sender_case_id": case_id, "version": 0, "received_date": "2025-02-01",
                "reporter": {"qualification": "physician", "country": "CN"}, "patient": {"patient_id": patient},
                "drugs": [{"treatment_id": treatment, "role": "suspect"}],
                "reactions": [{"pt_code": "LOCAL-0001", "pt_name": "Cytokine release syndrome",
                               "onset_date": "2025-01-12", "seriousness": {"hospitalisation": True}}]}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            start = time.monotonic()
            try:
                r = client.post("/v1/reports", json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.attempts.append(Attempt(start, time.monotonic() - start, None, type(exc).__name__))
                time.sleep(0.1)
                continue
            self.attempts.append(Attempt(start, time.monotonic() - start, r.status_code))
            if r.status_code in (200, 201):
                self.acked[case_id] = r.status_code
                return
            if r.status_code < 500 and r.status_code != 429:
                self.refused[case_id] = f"{r.status_code} {r.text[:200]}"
                return
            time.sleep(0.1)
        self.refused[case_id] = "not acknowledged within 300 s"


def wait_for_database(url: str, limit: float = 120) -> float:
    """Seconds until the database accepts a connection again."""
    conninfo = make_engine(url).url.set(drivername="postgresql").render_as_string(hide_password=False)
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            psycopg.connect(conninfo, connect_timeout=2).close()
            return time.monotonic()
        except psycopg.OperationalError:
            time.sleep(0.05)
    raise SystemExit("PostgreSQL did not come back; start it: pg_ctlcluster --skip-systemctl-redirect "
                     f"{cluster_version()} main start")


def cluster_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def restart_postgres(mode: str) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "-m", mode, cluster_version(), "main", "restart"],
                   check=True, capture_output=True)


def kill_a_worker(server: subprocess.Popen) -> int:
    workers = [p for p in psutil.Process(server.pid).children(recursive=True)
               if "spawn_main" in " ".join(p.cmdline())]
    if not workers:
        raise SystemExit("no uvicorn worker found to kill (run with --workers 2 or more)")
    os.kill(workers[0].pid, signal.SIGKILL)
    return workers[0].pid


@dataclass
class Event:
    name: str
    start: float
    back: float  # the database accepts connections again (or, for a kill, the kill itself)


def window_figures(event: Event, attempts: list[Attempt], until: float) -> dict:
    """Failures while the database was away and after it was back; the longest attempt."""
    during = [a for a in attempts if event.start <= a.start < event.back]
    after = [a for a in attempts if event.back <= a.start < until]
    failed_after = [a for a in after if a.status not in (200, 201)]
    window = during + after
    statuses: dict[str, int] = {}
    for a in window:
        if a.status not in (200, 201):
            key = str(a.status) if a.status is not None else a.error
            statuses[key] = statuses.get(key, 0) + 1
    return {
        "outage_s": event.back - event.start,
        "failed_during": sum(a.status not in (200, 201) for a in during),
        "failed_after": len(failed_after),
        "last_failure_after_s": max((a.start + a.seconds - event.back for a in failed_after), default=0.0),
        "slowest_s": max((a.seconds for a in window), default=0.0),
        "statuses": statuses,
    }


def stored_counts(url: str) -> dict[str, tuple[int, int]]:
    """sender case id -> (cases, versions) as stored."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT c.sender_case_id, COUNT(DISTINCT c.id), COUNT(v.id) FROM safety_case c "
            "LEFT JOIN case_version v ON v.case_id = c.id WHERE c.sender_case_id LIKE 'R-%' "
            "GROUP BY c.sender_case_id")).all()
    engine.dispose()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--settle", type=float, default=8.0, help="seconds of traffic between events")
    ap.add_argument("--events", default="fast,immediate,kill",
                    help="comma-separated: fast (restart), immediate (crash restart), kill (SIGKILL a worker)")
    args = ap.parse_args()
    events_wanted = [e.strip() for e in args.events.split(",") if e.strip()]
    if not set(events_wanted) <= {"fast", "immediate", "kill"}:
        raise SystemExit("--events: fast, immediate, kill")
    pairs = prepare_database(URL, args.patients)
    port = 8775
    env = {**os.environ, "PV_DATABASE_URL": URL, "PV_WORKERS": str(args.workers), "PV_ACCESS_LOG": "false"}
    server = start_server([str(ROOT / ".venv/bin/pv-service"), "serve", "--port", str(port)], env, port)
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    senders: list[Sender] = []
    events: list[Event] = []
    try:
        token = httpx.post(f"{base}/v1/auth/token",
                           data={"username": "bench", "password": "bench-password"}).json()["access_token"]
        senders = [Sender(i, base, token, pairs, stop) for i in range(args.clients)]
        threads = [threading.Thread(target=s.run, daemon=True) for s in senders]
        for t in threads:
            t.start()
        time.sleep(args.settle)
        for name in events_wanted:
            start = time.monotonic()
            if name == "kill":
                pid = kill_a_worker(server)
                print(f"killed worker {pid}", file=sys.stderr)
                events.append(Event("SIGKILL one of the workers", start, time.monotonic()))
            else:
                restart_postgres(name)
                back = wait_for_database(URL)
                label = {"fast": "PostgreSQL restart (fast)", "immediate": "PostgreSQL crash restart (-m immediate)"}
                events.append(Event(label[name], start, back))
                print(f"{name} restart: database back after {back - start:.2f} s", file=sys.stderr)
            time.sleep(args.settle)
        stop.set()
        for t in threads:
            t.join(REQUEST_TIMEOUT + 330)
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    end = time.monotonic()
    attempts = sorted((a for s in senders for a in s.attempts), key=lambda a: a.start)
    acked: dict[str, int] = {k: v for s in senders for k, v in s.acked.items()}
    refused = {k: v for s in senders for k, v in s.refused.items()}
    stored = stored_counts(URL)
    lost = sorted(set(acked) - set(stored))
    twice = sorted(k for k, (cases, versions) in stored.items() if cases != 1 or versions != 1)
    unacknowledged = sorted(set(stored) - set(acked))

    print("| event | database away s | failed while away | failed after it was back "
          "| last failure after it was back s | slowest request s | failures by kind |")
    print("|---|---|---|---|---|---|---|")
    for i, ev in enumerate(events):
        until = events[i + 1].start if i + 1 < len(events) else end
        f = window_figures(ev, attempts, until)
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(f["statuses"].items())) or "-"
        away = f"{f['outage_s']:.2f}" if "kill" not in ev.name.lower() else "-"
        print(f"| {ev.name} | {away} | {f['failed_during']} | {f['failed_after']} "
              f"| {f['last_failure_after_s']:.2f} | {f['slowest_s']:.2f} | {kinds} |")
    print(f"\nreports acknowledged: {len(acked)} ({sum(v == 200 for v in acked.values())} of them on a resend "
          f"that found the report already stored); attempts: {len(attempts)}")
    print(f"acknowledged but not stored (lost): {len(lost)} {lost[:5]}")
    print(f"stored more than once: {len(twice)} {twice[:5]}")
    print(f"stored but never acknowledged: {len(unacknowledged)} {unacknowledged[:5]}")
    print(f"refused (4xx, or not acknowledged in 300 s): {len(refused)} {list(refused.items())[:3]}")
    print(f"server: uvicorn, {args.workers} workers, PostgreSQL; {args.clients} clients, {args.settle:.0f} s between events")
    print(f"machine: {machine()}")
    if lost or twice or refused:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Benchmark: importing and exporting E2B(R3) batches built from FDA's FAERS 2022 instances.

    .venv/bin/python bench/e2b.py [--n 1000] [--db sqlite|postgresql] [--bad-at K] [--no-export] [--readers K]
                                  [--schemas ../shared/data/interop/e2b/ich_xsd]

Writes one MCCI_IN200100UV01 batch file of N messages by repeating the messages of FDA's eight
scenarios with unique message ids and C.1.1/C.1.8.1 (not timed; `--bad-at K` puts an element
the schema refuses into message K, counted from 1), into a migrated scratch database (SQLite in
a temporary folder, or a schema of its own in PV_BENCH_POSTGRES_URL: bench/scratch_db.py). Then,
in this process: the import of the file as the CLI does it (`e2b.service.receive` on the open
file: streamed parse, ICH schema, business rules, mapping, store, ACK) and the export of all N
cases (`e2b.service.export_cases`, ICH profile), each as wall time and this process's CPU time,
with the peak resident memory of the process after each. A large batch is read by reader
processes (e2b/worker.py): their CPU is given beside this process's, and the peak of the RSS of
all of them together, sampled (`--readers K` sets importer.READERS; 0 reads in this process).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PV_ENVIRONMENT", "test")


import pv_service.models  # noqa: E402,F401
from pv_service.auth.principal import Principal  # noqa: E402
from pv_service.common.vocab import Role  # noqa: E402
from pv_service.core.db import session_scope  # noqa: E402
from pv_service.core.migrate import upgrade  # noqa: E402
from pv_service.core.settings import get_settings  # noqa: E402
from pv_service.e2b import importer, service  # noqa: E402
from scratch_db import bench_clinic, scratch_engine  # noqa: E402  (beside this script in bench/)

FDA = ROOT / ".." / "shared" / "data" / "interop" / "e2b" / "fda_faers2022"
MESSAGE = re.compile(rb"<PORR_IN049016UV>.*?</PORR_IN049016UV>", re.S)


BOGUS = b'<statusCode code="active"/><bogus/>'


def lines(data: bytes) -> int:
    """Line ends as XML counts them: CR LF, LF, and a lone CR (FDA's scenario 5 has lone CRs)."""
    return data.count(b"\n") + len(re.findall(rb"\r(?!\n)", data))


def write_batch(n: int, path: Path, bad_at: int | None = None) -> int | None:
    """The batch file, written message by message; the line of the bogus element of message `bad_at`."""
    files = sorted(FDA.glob("FAERS2022Scenario*.xml"))
    messages = [MESSAGE.search(f.read_bytes()).group(0) for f in files]
    head = files[0].read_bytes()
    start, end = head.index(b"<PORR_IN049016UV>"), head.index(b"</PORR_IN049016UV>") + len(b"</PORR_IN049016UV>")
    bad_line = None
    with path.open("wb") as out:
        out.write(head[:start])
        line = lines(head[:start]) + 1  # where the next message starts
        for i in range(n):
            m = messages[i % len(messages)]
            m = re.sub(rb'(<PORR_IN049016UV>\s*<id extension=")[^"]*', rb"\g<1>bench-%d" % i, m, count=1)
            m = re.sub(rb'extension="[^"]*"( root="2\.16\.840\.1\.113883\.3\.989\.2\.1\.3\.[12]")', rb'extension="BENCH-%d"\1' % i, m)
            if i:
                out.write(b"\n")
                line += 1
            if bad_at == i + 1:
                m = m.replace(b'<statusCode code="active"/>', BOGUS, 1)
                bad_line = line + lines(m[:m.index(BOGUS)])
            out.write(m)
            line += lines(m)
        out.write(head[end:])
    return bad_line


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_kb(pid: int | str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # ended meanwhile
        return 0
    m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(m.group(1)) if m else 0


def _is_reader(pid: str) -> bool:
    """Started as a reader: between fork and exec a child still has (and counts) this process's pages."""
    try:
        return b"pv_service.e2b.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class TotalPeak(threading.Thread):
    """The peak of this process's RSS plus its reader processes' (sampled every 50 ms from /proc:
    getrusage's figure for children counts the parent's pages they started with)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_kb, self.readers_kb, self._done = 0, 0, threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._done.wait(0.05):
            children = []
            for t in Path(f"/proc/{me}/task").iterdir():
                try:
                    children += (t / "children").read_text().split()
                except OSError:  # the thread has ended
                    pass
            readers = sum(_rss_kb(c) for c in children if _is_reader(c))
            self.readers_kb = max(self.readers_kb, readers)
            self.peak_kb = max(self.peak_kb, _rss_kb(me) + readers)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn):
    """(result, wall, CPU of this process, CPU of the reader processes it ran and waited for)."""
    w, c, k = time.perf_counter(), time.process_time(), _children_cpu()
    result = fn()
    return result, time.perf_counter() - w, time.process_time() - c, _children_cpu() - k


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--bad-at", type=int, default=None, help="a schema error in this message (from 1)")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--readers", type=int, default=None, help="reader processes (0: read in this process)")
    ap.add_argument("--schemas", type=Path, default=ROOT / ".." / "shared" / "data" / "interop" / "e2b" / "ich_xsd")
    args = ap.parse_args()
    os.environ["PV_E2B_SCHEMA_DIR"] = str(args.schemas)
    get_settings.cache_clear()
    settings = get_settings()
    if args.readers == 0:
        importer.WORKER_MIN_BYTES = 2**62
    elif args.readers is not None:
        importer.READERS = args.readers
    with tempfile.TemporaryDirectory() as tmp, scratch_engine(args.db, Path(tmp), "e2b") as engine:
        batch = Path(tmp) / "batch.xml"
        bad_line = write_batch(args.n, batch, args.bad_at)
        print(f"batch: {args.n} messages, {batch.stat().st_size / 1e6:.1f} MB ({args.db}); "
              f"peak RSS before import {peak_mb():.0f} MB")
        upgrade(engine)
        now = dt.datetime.now(dt.UTC)
        org, user = bench_clinic(engine, now, "US")
        principal = Principal(user.id, user.username, Role.clinic, org.id, "US")
        sampler = TotalPeak()
        sampler.start()
        with batch.open("rb") as stream:
            received, wall, cpu, readers_cpu = timed(lambda: service.receive(engine, settings, principal, stream, now))
        sampler.stop()
        codes = {m.outcome for m in received.result.messages}
        print(f"import: {received.result.code} {codes}; wall {wall:.1f} s, CPU {cpu:.1f} s here + {readers_cpu:.1f} s "
              f"in {importer.READERS if readers_cpu else 0} reader processes ({args.n / wall:.0f} ICSRs/s); "
              f"peak RSS {peak_mb():.0f} MB here, {sampler.readers_kb / 1024:.0f} MB readers, "
              f"{sampler.peak_kb / 1024:.0f} MB together; ACK {len(received.ack_xml) / 1e6:.1f} MB")
        if args.bad_at:
            m = received.result.messages[args.bad_at - 1]
            print(f"message {args.bad_at} ({m.message_id}): {'CA' if m.accepted else 'CR'}; bogus element at line "
                  f"{bad_line}; ACK says: {'; '.join(p.text() for p in m.problems)[:200]}")
        ids = [m.case_id for m in received.result.messages if m.accepted]
        received = None  # free the ACK and results before the export is measured
        if not args.no_export:
            with session_scope(engine) as session:
                xml, wall, cpu, _ = timed(lambda: service.export_cases(session, principal, ids, "ich", "BENCH", now))
            print(f"export: {len(ids)} cases, {len(xml) / 1e6:.1f} MB; wall {wall:.1f} s, CPU {cpu:.1f} s; "
                  f"peak RSS {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()

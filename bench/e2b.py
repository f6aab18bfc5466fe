"""Benchmark: importing and exporting E2B(R3) batches built from FDA's FAERS 2022 instances (SQLite).

    .venv/bin/python bench/e2b.py [--n 1000] [--schemas ../shared/data/interop/e2b/ich_xsd]

Builds one MCCI_IN200100UV01 batch of N messages by repeating the messages of FDA's eight
scenarios with unique message ids and C.1.1/C.1.8.1 (not timed), into a migrated SQLite
database in a temporary folder. Then, in this process: the import (`e2b.service.receive`:
parse, ICH schema, business rules, mapping, store, ACK) and the export of all N cases
(`e2b.service.export_cases`, ICH profile), each as wall time and this process's CPU time,
with the peak resident memory of the process after each.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PV_ENVIRONMENT", "test")


import pv_service.models  # noqa: E402,F401
from pv_service.auth.principal import Principal  # noqa: E402
from pv_service.common.vocab import Role  # noqa: E402
from pv_service.core.db import make_engine, session_scope  # noqa: E402
from pv_service.core.migrate import upgrade  # noqa: E402
from pv_service.core.settings import get_settings  # noqa: E402
from pv_service.e2b import service  # noqa: E402
from scratch_db import bench_clinic  # noqa: E402  (beside this script in bench/)

FDA = ROOT / ".." / "shared" / "data" / "interop" / "e2b" / "fda_faers2022"
MESSAGE = re.compile(rb"<PORR_IN049016UV>.*?</PORR_IN049016UV>", re.S)


def build_batch(n: int, offset: int = 0) -> bytes:
    files = sorted(FDA.glob("FAERS2022Scenario*.xml"))
    messages = [MESSAGE.search(f.read_bytes()).group(0) for f in files]
    out = []
    for i in range(offset, offset + n):
        m = messages[i % len(messages)]
        m = re.sub(rb'(<PORR_IN049016UV>\s*<id extension=")[^"]*', rb"\g<1>bench-%d" % i, m, count=1)
        m = re.sub(rb'extension="[^"]*"( root="2\.16\.840\.1\.113883\.3\.989\.2\.1\.3\.[12]")', rb'extension="BENCH-%d"\1' % i, m)
        out.append(m)
    head = files[0].read_bytes()
    start, end = head.index(b"<PORR_IN049016UV>"), head.index(b"</PORR_IN049016UV>") + len(b"</PORR_IN049016UV>")
    return head[:start] + b"\n".join(out) + head[end:]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=0,
                    help="import in batches of this many messages (bounds the import's memory when only the "
                         "export of many cases is measured); 0: one batch")
    ap.add_argument("--schemas", type=Path, default=ROOT / ".." / "shared" / "data" / "interop" / "e2b" / "ich_xsd")
    args = ap.parse_args()
    os.environ["PV_E2B_SCHEMA_DIR"] = str(args.schemas)
    os.environ["PV_E2B_MAX_BYTES"] = str(2 * 1024**3)
    get_settings.cache_clear()
    settings = get_settings()
    data = build_batch(args.chunk or args.n)
    print(f"batch: {args.chunk or args.n} messages, {len(data) / 1e6:.1f} MB; peak RSS before import {peak_mb():.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        now = dt.datetime.now(dt.UTC)
        org, user = bench_clinic(engine, now, "US")
        principal = Principal(user.id, user.username, Role.clinic, org.id, "US")
        ids = []
        for start in range(0, args.n, args.chunk or args.n):
            if args.chunk:
                data = build_batch(min(args.chunk, args.n - start), offset=start)
            received, wall, cpu = timed(lambda data=data: service.receive(engine, settings, principal, data, now))
            codes = {m.outcome for m in received.result.messages}
            print(f"import: {received.result.code} {codes}; wall {wall:.1f} s, CPU {cpu:.1f} s "
                  f"({len(received.result.messages) / wall:.0f} ICSRs/s); peak RSS {peak_mb():.0f} MB")
            ids += [m.case_id for m in received.result.messages]
            received = None  # free the ACK and results before the export is measured
        with session_scope(engine) as session:
            xml, wall, cpu = timed(lambda: service.export_cases(session, principal, ids, "ich", "BENCH", now))
        print(f"export: {len(ids)} cases, {len(xml) / 1e6:.1f} MB; wall {wall:.1f} s, CPU {cpu:.1f} s; "
              f"peak RSS {peak_mb():.0f} MB")
        engine.dispose()


if __name__ == "__main__":
    main()

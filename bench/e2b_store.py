"""Benchmark: the importing process's side of an E2B import alone (what it does with two readers).

    .venv/bin/python bench/e2b_store.py [--n 2000] [--db sqlite|postgresql] [--parts]

The readers' results for N of bench/e2b.py's messages are made once (checking.read_batch in this
process, not timed) and pickled as worker.py's frames of 20 into a file in the temporary folder;
then `importer.import_batch` runs with its reader replaced by unpickling those frames, into a
scratch database (bench/scratch_db.py). Printed: import_batch's CPU per ICSR (unpickling, mapping,
product matching, content hash, decisions, inserts, audit chain), which the load of the machine
moves far less than bench/e2b.py's wall time. `--parts`: CPU of the main steps inside it.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import pickle
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
from pv_service.core.db import session_scope  # noqa: E402
from pv_service.core.migrate import upgrade  # noqa: E402
from pv_service.e2b import business_rules, checking, importer, schema_set  # noqa: E402
from pv_service.jobs.definitions import current_rules  # noqa: E402
from e2b import write_batch  # noqa: E402  (beside this script in bench/)
from scratch_db import bench_clinic, scratch_engine  # noqa: E402

SCHEMAS = ROOT / ".." / "shared" / "data" / "interop" / "e2b" / "ich_xsd"
TIMES: collections.Counter = collections.Counter()


def _timed(owner, name: str) -> None:
    fn = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += time.process_time() - start
    setattr(owner, name, wrapper)


def write_frames(n: int, folder: Path, schemas, rules) -> Path:
    batch, frames = folder / "batch.xml", folder / "frames.pkl"
    write_batch(n, batch)
    with batch.open("rb") as stream:
        items = list(checking.read_batch(stream, schemas, rules))
    with frames.open("wb") as out:
        body = items[:-1]
        for i in range(0, len(body), 20):
            pickle.dump(("items", body[i:i + 20]), out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(("end", items[-1]), out, protocol=pickle.HIGHEST_PROTOCOL)
    return frames


class _Frames:
    """What worker.read_in_workers yields, from the frames file."""

    def __init__(self, path: Path):
        self.file = path.open("rb")

    def __iter__(self):
        while True:
            kind, payload = pickle.load(self.file)
            if kind != "items":
                yield payload
                return
            yield from payload

    def close(self) -> None:
        self.file.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--parts", action="store_true")
    args = ap.parse_args()
    schemas = schema_set.load(SCHEMAS)
    rules = current_rules().e2b
    if args.parts:
        _timed(importer, "_finish")
        _timed(importer, "content_hash")
        _timed(importer.mapping, "map_icsr")
        _timed(importer.intake_sql, "write_plan")
        _timed(importer.intake_sql.chain, "append")
    with tempfile.TemporaryDirectory() as tmp, scratch_engine(args.db, Path(tmp), "store") as engine:
        frames = write_frames(args.n, Path(tmp), schemas, business_rules.RuleSet.of(rules))
        importer._checked = lambda *a, **k: _Frames(frames)
        upgrade(engine)
        now = dt.datetime.now(dt.UTC)
        org, user = bench_clinic(engine, now, "US")
        principal = Principal(user.id, user.username, Role.clinic, org.id, "US")
        with session_scope(engine) as session:
            cpu, wall = time.process_time(), time.perf_counter()
            result = importer.import_batch(session, principal, b"", schemas, None, now, rules)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            session.commit()
    print(f"{args.db}, {args.n} ICSRs: import_batch CPU {cpu:.2f} s ({cpu / args.n * 1e3:.3f} ms per ICSR), "
          f"wall {wall:.2f} s; {result.code} {sorted({m.outcome for m in result.messages})}")
    for name, seconds in TIMES.most_common():
        print(f"  {name}: {seconds / args.n * 1e3:.3f} ms per ICSR")


if __name__ == "__main__":
    main()

"""Counts what each server process asks of PostgreSQL, for bench/intake.py --count-statements.

On PYTHONPATH, Python imports this module at start-up in the server and in every worker it
spawns. It counts, per process, the statements psycopg sends (each `execute` of a cursor,
the pool's empty connection checks included) and the round trips: a statement outside a
pipeline is one, a pipeline one per sync (and one more at its end, which syncs). On
SIGUSR1 it writes them to PV_BENCH_COUNT_DIR/<pid>.json and starts again from zero.
"""
import collections
import json
import os
import signal

_DIR = os.environ.get("PV_BENCH_COUNT_DIR")

if _DIR:
    import psycopg

    counts = collections.Counter()

    def _statement(query) -> str:
        text = query if isinstance(query, str) else getattr(query, "as_string", lambda _=None: str(query))()
        return " ".join(str(text).split())[:60] or "(empty: pool check)"

    def _counted_execute(original):
        def execute(self, query, *args, **kwargs):
            counts["statements"] += 1
            if self.connection._pipeline is None:
                counts["round trips"] += 1
            counts["statement: " + _statement(query)] += 1
            return original(self, query, *args, **kwargs)
        return execute

    def _counted_sync(original):
        def sync(self, *args, **kwargs):
            counts["round trips"] += 1
            return original(self, *args, **kwargs)
        return sync

    for cls in (psycopg.Cursor, psycopg.AsyncCursor):
        cls.execute = _counted_execute(cls.execute)
    for cls in (psycopg.Pipeline, psycopg.AsyncPipeline):
        cls.sync = _counted_sync(cls.sync)
    psycopg.Pipeline.__exit__ = _counted_sync(psycopg.Pipeline.__exit__)
    psycopg.AsyncPipeline.__aexit__ = _counted_sync(psycopg.AsyncPipeline.__aexit__)

    def _dump(*_) -> None:
        path = os.path.join(_DIR, f"{os.getpid()}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(dict(counts), f)
        os.replace(path + ".tmp", path)  # whole or not at all for the reader
        counts.clear()

    signal.signal(signal.SIGUSR1, _dump)

"""Expectedness assessment and the signal job with labels and quarterly trends, on a demo database.

    PV_ENVIRONMENT=development .venv/bin/python bench/rsi.py sqlite:///PATH/TO/demo.db

The database is the default demo (`pv-service demo --no-serve`, 3,000 patients). It is changed:
every stored assessment is deleted first so all reactions are assessed again, and each signal run
adds runs. Prints wall and CPU (process) seconds of each step and the load average.
"""
from __future__ import annotations

import argparse
import os
import time

import sqlalchemy as sa
from sqlmodel import Session

from pv_service.core.clock import utc_now
from pv_service.core.db import make_engine
from pv_service.rules import load_rules


def timed(label, fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    print(f"{label}: wall {time.perf_counter() - w:.2f} s, CPU {time.process_time() - c:.2f} s -> {out}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    args = ap.parse_args()
    from pv_service.rsi.service import assess_pending
    from pv_service.signals.job import signal_detection

    engine = make_engine(args.url)
    rules = load_rules("alerts")
    print("load average", os.getloadavg())
    with Session(engine) as s:
        s.execute(sa.text("DELETE FROM reaction_expectedness"))
        n = s.execute(sa.text("SELECT COUNT(*) FROM case_reaction")).scalar_one()
        print("reactions", n)
        timed("assess_pending (all reactions)", lambda: assess_pending(s, utc_now()))
        timed("assess_pending (nothing new)", lambda: assess_pending(s, utc_now()))
        s.commit()
    with Session(engine) as s:
        out = timed("signal_detection", lambda: signal_detection(s, utc_now(), rules))
        s.commit()
        print({k: out[k] for k in ("pairs", "flagged", "listed_not_raised", "trend_rows")})
    print("load average", os.getloadavg())


if __name__ == "__main__":
    main()

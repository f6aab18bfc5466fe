"""Micro-benchmark: the ICSR read (icsr.parse_message) and the business rules (business_rules.check)
per message, over the messages of FDA's eight FAERS 2022 scenarios, each repeated N times.

    .venv/bin/python bench/e2b_read.py [--n 500] [--step read|rules]

Prints, for each step, the CPU time of this process (time.process_time) and the wall time per
message, in ms. The messages are parsed once beforehand (not timed), as the import parses them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PV_ENVIRONMENT", "test")

from lxml import etree  # noqa: E402

from pv_service.e2b import business_rules, icsr  # noqa: E402

FDA = ROOT / ".." / "shared" / "data" / "interop" / "e2b" / "fda_faers2022"


def _messages() -> list:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True)
    out = []
    for f in sorted(FDA.glob("FAERS2022Scenario*.xml")):
        out += icsr.messages(etree.parse(str(f), parser))
    return out


def _timed(fn, messages, n: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        for m in messages:
            fn(m)
    count = n * len(messages)
    return (time.process_time() - cpu) * 1e3 / count, (time.perf_counter() - wall) * 1e3 / count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--step", choices=["read", "rules"], help="only this step (e.g. two runs under callgrind)")
    args = ap.parse_args()
    from pv_service.jobs.definitions import current_rules

    rules = business_rules.RuleSet.of(current_rules().e2b)
    messages = _messages()
    receivers = [icsr._attr(m, "h:receiver/h:device/h:id", "extension") for m in messages]
    by_message = dict(zip(map(id, messages), receivers))
    for name, fn in (("icsr.parse_message", icsr.parse_message),
                     ("business_rules.check", lambda m: business_rules.check(m, rules, by_message[id(m)]))):
        if args.step and name != {"read": "icsr.parse_message", "rules": "business_rules.check"}[args.step]:
            continue
        _timed(fn, messages, 2)  # warm the caches
        cpu, wall = _timed(fn, messages, args.n)
        print(f"{name:22s} {len(messages)} messages x {args.n}: CPU {cpu:.3f} ms/message, wall {wall:.3f} ms/message")


if __name__ == "__main__":
    main()

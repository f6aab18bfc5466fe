"""Fewer cyclic garbage collections while a long batch runs (the E2B import, from the CLI too).

A batch allocates millions of short-lived containers and few reference cycles; with Python's
default thresholds (700, 10, 10) the collector rescans the whole heap every few hundred
messages (a quarter of the importing process's CPU, docs/benchmarks.md). Inside `fewer_collections`
the thresholds are at least those the web app sets for good (app._tune_garbage_collector);
garbage is still collected. Thresholds are process-wide: the first of overlapping batches (threads)
raises them and the last puts back what it found.
"""
from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (20_000, 50, 100)

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None


def raised(current: tuple[int, ...], floor: tuple[int, ...] = THRESHOLDS) -> tuple[int, ...]:
    """Each threshold at least its floor (0 stays 0: collection switched off by threshold)."""
    return tuple(c if c == 0 else max(c, f) for c, f in zip(current, floor))


@contextmanager
def fewer_collections() -> Iterator[None]:
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*raised(_saved))
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved)
                _saved = None

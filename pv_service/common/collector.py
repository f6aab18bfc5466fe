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
from contextlib import AbstractContextManager

from .overrides import SharedOverride

THRESHOLDS = (20_000, 50, 100)


def raised(current: tuple[int, ...], floor: tuple[int, ...] = THRESHOLDS) -> tuple[int, ...]:
    """Each threshold at least its floor (0 stays 0: collection switched off by threshold)."""
    return tuple(c if c == 0 else max(c, f) for c, f in zip(current, floor))


def _raise_thresholds() -> tuple[int, ...]:
    saved = gc.get_threshold()
    gc.set_threshold(*raised(saved))
    return saved


_override = SharedOverride(_raise_thresholds, lambda saved: gc.set_threshold(*saved))


def fewer_collections() -> AbstractContextManager[None]:
    return _override.held()

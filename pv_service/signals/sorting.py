"""numpy's sorts, on two threads when the arrays are large.

numpy releases the GIL while it sorts, so two halves sort at once on two cores. It matters
most on AMD Zen 4 cores (this project's machines), where numpy's AVX-512 sort is slow, its
compress-stores being microcoded (numpy/numpy#32690): 2.9e6 uint32 keys took 113-136 ms on
one thread, 79-91 ms split (docs/benchmarks.md). The results are those of numpy's own calls.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_PARALLEL_SORT_MIN = 1 << 19  # elements from which a sort is split over two threads


def _split() -> bool:
    return _CPUS >= 2


def sort_in_place(values: np.ndarray) -> None:
    """``values.sort()`` (quicksort): a partition at the median (linear), then each side
    sorted on its own thread. The same array either way."""
    size = values.shape[0]
    if not _split() or size < _PARALLEL_SORT_MIN:
        values.sort()
        return
    mid = size // 2
    values.partition(mid)  # values[mid] in place, none greater before it, none less after
    with ThreadPoolExecutor(max_workers=1) as pool:
        upper = pool.submit(values[mid + 1:].sort)
        values[:mid].sort()
        upper.result()


def argsort(values: np.ndarray) -> np.ndarray:
    """An ordering of ``values`` (as ``np.argsort``; equal values in any order): each half
    argsorted on its own thread, then the two sorted runs merged by a stable sort, which
    (timsort) merges runs in linear time."""
    size = values.shape[0]
    if not _split() or size < _PARALLEL_SORT_MIN:
        return np.argsort(values)
    mid = size // 2
    with ThreadPoolExecutor(max_workers=1) as pool:
        upper = pool.submit(np.argsort, values[mid:])
        lower = np.argsort(values[:mid])
        order = np.concatenate([lower, upper.result() + mid])
    return order[np.argsort(values[order], kind="stable")]

"""Ordinary (4 KiB) pages for numpy's new arrays while a process's first burst of memory is filled.

numpy asks the kernel for transparent huge pages (madvise MADV_HUGEPAGE) on every array of
4 MiB or more. On a virtual machine that hands freed memory back to its host (virtio-balloon
free page reporting, as on this project's machines) a huge page the guest has reported must
be backed by the host again on first touch: 3.7-4.8 ms per 2 MiB page measured here, against
0.25-0.3 ms for a huge page reused at once and 0.85-1.0 ms per 2 MiB of small pages
(docs/benchmarks.md: touching 200 MB).
A process's first large arrays meet that cost: reading the rows of 1e6 reports from Parquet
spent 0.2-0.35 s of system time in it, 0.05-0.1 s with small pages, in runs back to back
(after idle minutes 0.24-0.30 s even with small pages: the host had taken those back too).

Only while the arrays stay within glibc's largest mmap threshold (32 MiB): freed, they go
back to malloc's heap and are reused whatever their pages. Larger arrays are mapped afresh
each time and reused only by the kernel, where huge pages freed whole come back as huge
pages, but freed small pages leave fragments: with small pages while counting 1e7 reports,
the next stage's huge pages had to come from fresh memory (0.6 -> 1.6-2.0 s). The setting is
process-wide: the first of overlapping users (threads) turns huge pages off and the last
restores what it found. Without numpy's switch this does nothing.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np

from .overrides import SharedOverride

#: glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
MMAP_THRESHOLD_MAX = 32 << 20


def _switch():
    # numpy's runtime form of NUMPY_MADVISE_HUGEPAGE=0 (numpy/_core/_add_newdocs.py); it
    # returns the previous setting
    return getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)


_SWITCH = _switch()
_override = None if _SWITCH is None else SharedOverride(lambda: bool(_SWITCH(False)), _SWITCH)


def small_pages(largest: int) -> AbstractContextManager[None]:
    """Small pages for the arrays made inside, if the ``largest`` of them (bytes) is at
    most :data:`MMAP_THRESHOLD_MAX`; otherwise numpy's own setting."""
    if _override is None or largest > MMAP_THRESHOLD_MAX:
        return nullcontext()
    return _override.held()

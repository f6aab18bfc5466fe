"""A process-wide setting changed while any of several overlapping users needs it.

The first user (of any thread) applies the change, keeping what it found; the others find it
applied; the last to leave puts back what the first found. Used for the garbage collector's
thresholds during a batch (:mod:`.collector`) and numpy's huge-page advice while rows are
counted (:mod:`.pages`).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class SharedOverride:
    def __init__(self, apply: Callable[[], Any], restore: Callable[[Any], None]):
        """``apply()`` changes the setting and returns what it was; ``restore(that)`` puts it back."""
        self._apply, self._restore = apply, restore
        self._lock = threading.Lock()
        self._active = 0
        self._saved: Any = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._saved = self._apply()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    self._restore(self._saved)
                    self._saved = None

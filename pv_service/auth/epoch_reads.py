"""Reads of the revocation epoch shared by the requests that wait for one at the same time,
without a request ever using a read sent before it arrived.

A request needs the epoch as of its own arrival: a revocation committed before it arrived
must be seen. A read already on its way may have been answered from before that commit, so
a request never joins it; it joins the next read, which is sent as soon as the one on its
way is back and is shared by every request that arrived meanwhile. Under load a worker thus
reads the epoch once per round trip instead of once per request; alone, a request reads it
at once, as before.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class EpochReads:
    """Per event loop (pv_service.core.per_loop): one read on its way at a time, the next one shared."""

    def __init__(self) -> None:
        self._next: asyncio.Future[int] | None = None  # the read not yet sent, with its waiters
        self._sender: asyncio.Task | None = None

    async def read(self, fetch: Callable[[], Awaitable[int]]) -> int:
        """The epoch from a read sent after this call began (`fetch` sends one and returns the value)."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        waiting = self._next
        if self._sender is None:
            self._sender = asyncio.create_task(self._send(fetch))
        # shield: a request given up (its client gone) must not cancel the read the others share
        return await asyncio.shield(waiting)

    async def _send(self, fetch: Callable[[], Awaitable[int]]) -> None:
        try:
            while self._next is not None:
                waiting, self._next = self._next, None  # who joins from here on waits for the next read
                try:
                    waiting.set_result(await fetch())
                except asyncio.CancelledError:  # the loop is closing
                    waiting.cancel()
                    raise
                except Exception as exc:  # every waiter gets the read's failure (a 503)
                    waiting.set_exception(exc)
        finally:
            self._sender = None
            if self._next is not None and not self._next.done():
                self._next.cancel()
                self._next = None

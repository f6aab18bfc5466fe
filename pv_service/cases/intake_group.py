"""Group commit: the single reports a worker receives from one sender at the same time are
stored together, in one transaction, with one hold of the audit trail's append lock.

Every report is still decided on its own, in the order it arrived (`intake.plan`, as for a
batch), and gets its own outcome: its own 201, 200, 409 or 422. The first report of a quiet
moment is stored at once; reports that arrive while it is being stored wait for it and go
together next. So a worker has at most one intake transaction on its way per sender, and
under load the round trips and the lock are shared by the group instead of paid per report.
If the database refuses the group's transaction for a reason that is not an outage (a value
it cannot hold), each report is stored again alone, so one report's error stays its own.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import exc as sa_exc

from pv_service.cases.intake import Outcome
from pv_service.cases.schemas import ReportIn

# The store's errors: psycopg's on PostgreSQL, SQLAlchemy's on SQLite; of these, the outages.
_DATABASE_ERRORS = (psycopg.Error, sa_exc.DBAPIError)
_OUTAGES = (psycopg.OperationalError, psycopg.InterfaceError, sa_exc.OperationalError, sa_exc.InterfaceError)

# (reports, now) -> each report's outcome, in order, stored in one transaction.
Store = Callable[[list[ReportIn], dt.datetime], Awaitable[list[Outcome]]]

MAX_GROUP = 100  # as a batch's chunk (intake_pg.CHUNK_SIZE): beyond, the transaction only grows


@dataclass
class _Sender:
    store: Store
    waiting: list[tuple[ReportIn, asyncio.Future]] = field(default_factory=list)
    task: asyncio.Task | None = None


class GroupCommit:
    """Per event loop (pv_service.core.per_loop); `key` is whatever makes reports storable
    together (the principal that sends them)."""

    def __init__(self, max_group: int = MAX_GROUP):
        self.max_group = max_group
        self._senders: dict[Hashable, _Sender] = {}

    async def submit(self, key: Hashable, report: ReportIn, store: Store, clock: Callable[[], dt.datetime]) -> Outcome:
        sender = self._senders.get(key)
        if sender is None:
            sender = self._senders[key] = _Sender(store)
        done = asyncio.get_running_loop().create_future()
        sender.waiting.append((report, done))
        if sender.task is None:
            sender.task = asyncio.create_task(self._drain(key, sender, clock))
        # shield: a request given up (its client gone) does not take the group's transaction with it
        return await asyncio.shield(done)

    async def _drain(self, key: Hashable, sender: _Sender, clock: Callable[[], dt.datetime]) -> None:
        try:
            while sender.waiting:
                group, sender.waiting = sender.waiting[:self.max_group], sender.waiting[self.max_group:]
                # "now" when the group is stored: on or after every one of its reports arrived
                await _settle(group, sender.store, clock())
        finally:
            sender.task = None
            for _, done in sender.waiting:  # left only if the loop is closing
                done.cancel()
            del self._senders[key]


async def _settle(group: list[tuple[ReportIn, asyncio.Future]], store: Store, now: dt.datetime) -> None:
    """Store `group` together and give each waiter its outcome (or the failure)."""
    try:
        outcomes = await store([r for r, _ in group], now)
    except _DATABASE_ERRORS as exc:
        if len(group) == 1 or isinstance(exc, _OUTAGES):
            _fail(group, exc)  # the database is away: every report gets the 503
            return
        for one in group:  # a value the database refused: find whose, alone
            await _settle([one], store, now)
        return
    except asyncio.CancelledError:
        for _, done in group:
            done.cancel()
        raise
    except Exception as exc:
        _fail(group, exc)
        return
    for (_, done), outcome in zip(group, outcomes):
        if not done.done():
            done.set_result(outcome)


def _fail(group: list[tuple[ReportIn, asyncio.Future]], exc: Exception) -> None:
    for _, done in group:
        if not done.done():
            done.set_exception(exc)

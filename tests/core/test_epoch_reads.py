"""Shared reads of the revocation epoch: never a read sent before the request arrived, so a
revocation committed before a request is always seen; fewer reads than requests under load."""
from __future__ import annotations

import asyncio

import pytest

from pv_service.auth.epoch_reads import EpochReads


class FakeDatabase:
    """The epoch as the database holds it; a read takes its snapshot when it is sent, answers later."""

    def __init__(self) -> None:
        self.epoch = 0
        self.reads = 0
        self.answer = asyncio.Event()
        self.fail_next = False

    async def fetch(self) -> int:
        self.reads += 1
        snapshot = self.epoch  # the statement runs as soon as it is received
        failing, self.fail_next = self.fail_next, False
        await self.answer.wait()  # ... and the answer comes back a round trip later
        if failing:
            raise ConnectionError("database gone")
        return snapshot


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_revocation_committed_while_a_read_is_on_its_way_is_seen_by_the_requests_after_it():
    async def scenario():
        db, reads = FakeDatabase(), EpochReads()
        first = asyncio.create_task(reads.read(db.fetch))
        await _settle()  # the first request's read is sent (epoch 0) and on its way
        db.epoch = 1  # an admin revokes a key: committed before the next requests arrive
        later = [asyncio.create_task(reads.read(db.fetch)) for _ in range(10)]
        await _settle()
        db.answer.set()
        return await first, await asyncio.gather(*later), db.reads

    first, later, reads = asyncio.run(scenario())
    assert first == 0  # sent before the revocation: may not see it
    assert later == [1] * 10  # every request that arrived after it sees it
    assert reads == 2  # and the ten shared one read


def test_requests_arriving_together_share_one_read():
    async def scenario():
        db, reads = FakeDatabase(), EpochReads()
        db.answer.set()
        values = await asyncio.gather(*(reads.read(db.fetch) for _ in range(20)))
        return values, db.reads

    values, n = asyncio.run(scenario())
    assert values == [0] * 20
    assert n == 1


def test_a_failed_read_fails_its_requests_and_the_next_read_is_made_afresh():
    async def scenario():
        db, reads = FakeDatabase(), EpochReads()
        db.fail_next = True
        waiting = [asyncio.create_task(reads.read(db.fetch)) for _ in range(3)]
        await _settle()
        db.answer.set()
        failed = await asyncio.gather(*waiting, return_exceptions=True)
        db.epoch = 7
        return failed, await reads.read(db.fetch)

    failed, after = asyncio.run(scenario())
    assert all(isinstance(f, ConnectionError) for f in failed)
    assert after == 7


def test_a_request_given_up_does_not_cancel_the_read_the_others_wait_for():
    async def scenario():
        db, reads = FakeDatabase(), EpochReads()
        gone, staying = (asyncio.create_task(reads.read(db.fetch)) for _ in range(2))
        await _settle()
        gone.cancel()
        await _settle()
        db.answer.set()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await staying

    assert asyncio.run(scenario()) == 0

"""Group commit of single reports (pv_service.cases.intake_group), with a store that records
what it is asked to store together: each report keeps its own outcome, in arrival order."""
from __future__ import annotations

import asyncio
import datetime as dt

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from pv_service.cases.intake import Outcome, Submission
from pv_service.cases.intake_group import GroupCommit

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


class FakeStore:
    """Stores a group when released; report "bad" is refused by the database, "gone" means an outage."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = asyncio.Event()

    async def __call__(self, reports: list[str], now: dt.datetime) -> list[Outcome]:
        self.groups.append(list(reports))
        await self.release.wait()
        if "gone" in reports:
            raise psycopg.OperationalError("server closed the connection")
        if "locked" in reports:  # SQLite's outage, through SQLAlchemy
            raise sa_exc.OperationalError("INSERT", {}, Exception("database is locked"))
        if "bad" in reports:
            raise psycopg.DataError("a value the database cannot hold")
        if "bad-sqlite" in reports:
            raise sa_exc.DataError("INSERT", {}, Exception("a value the database cannot hold"))
        return [Outcome(Submission(case_id=i, version=0, created=True)) for i, _ in enumerate(reports)]


async def _arrive(group: GroupCommit, store: FakeStore, reports: list[str], key="clinic-a") -> list[asyncio.Task]:
    tasks = []
    for r in reports:
        tasks.append(asyncio.create_task(group.submit(key, r, store, lambda: NOW)))
        await asyncio.sleep(0)
    return tasks


def test_the_first_report_goes_at_once_and_those_arriving_meanwhile_go_together_in_order():
    async def scenario():
        group, store = GroupCommit(), FakeStore()
        first = await _arrive(group, store, ["r0"])
        await asyncio.sleep(0)
        assert store.groups == [["r0"]]  # not held back waiting for company
        rest = await _arrive(group, store, [f"r{i}" for i in range(1, 6)])
        store.release.set()
        return store.groups, await asyncio.gather(*first, *rest)

    groups, outcomes = asyncio.run(scenario())
    assert groups == [["r0"], ["r1", "r2", "r3", "r4", "r5"]]
    # each request got its own report's outcome (the fake numbers them by place in the group)
    assert [o.submission.case_id for o in outcomes] == [0, 0, 1, 2, 3, 4]


def test_groups_are_bounded_and_senders_are_never_mixed():
    async def scenario():
        group, store = GroupCommit(max_group=2), FakeStore()
        tasks = await _arrive(group, store, ["a0"])
        tasks += await _arrive(group, store, ["a1", "a2", "a3"])
        tasks += await _arrive(group, store, ["b0", "b1"], key="clinic-b")
        store.release.set()
        await asyncio.gather(*tasks)
        return store.groups

    groups = asyncio.run(scenario())
    assert sorted(groups) == [["a0"], ["a1", "a2"], ["a3"], ["b0"], ["b1"]]


def test_a_report_the_database_refuses_fails_alone_and_an_outage_fails_all():
    async def scenario(reports):
        group, store = GroupCommit(), FakeStore()
        tasks = await _arrive(group, store, ["r0"])
        tasks += await _arrive(group, store, reports)
        store.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True), store.groups

    results, groups = asyncio.run(scenario(["r1", "bad", "r3"]))
    assert [type(r).__name__ for r in results] == ["Outcome", "Outcome", "DataError", "Outcome"]
    assert groups == [["r0"], ["r1", "bad", "r3"], ["r1"], ["bad"], ["r3"]]  # then each alone

    results, _ = asyncio.run(scenario(["r1", "gone"]))
    assert [type(r).__name__ for r in results] == ["Outcome", "OperationalError", "OperationalError"]

    results, groups = asyncio.run(scenario(["r1", "bad-sqlite"]))
    assert [type(r).__name__ for r in results] == ["Outcome", "Outcome", "DataError"]
    results, _ = asyncio.run(scenario(["r1", "locked"]))
    assert [type(r).__name__ for r in results] == ["Outcome", "OperationalError", "OperationalError"]


def test_a_request_given_up_leaves_its_group_stored():
    async def scenario():
        group, store = GroupCommit(), FakeStore()
        tasks = await _arrive(group, store, ["r0"])
        tasks += await _arrive(group, store, ["r1", "r2"])
        tasks[1].cancel()  # the client of r1 went away
        store.release.set()
        with pytest.raises(asyncio.CancelledError):
            await tasks[1]
        return await tasks[2], store.groups

    outcome, groups = asyncio.run(scenario())
    assert outcome.submission.case_id == 1 and groups == [["r0"], ["r1", "r2"]]

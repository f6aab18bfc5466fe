"""Splitting a large set of reports into chunks that can be stored independently."""
from __future__ import annotations

from pv_service.cases.intake_pg import chunks_by_case


def _reports(keys):
    return list(keys)


def test_chunks_keep_every_report_of_a_case_together_and_in_order():
    keys = ["a", "b", "c", "a", "d", "e", "b", "f", "a"]
    chunks = chunks_by_case(_reports(keys), 2)
    assert sorted(i for c in chunks for i in c) == list(range(len(keys)))
    for chunk in chunks:
        assert chunk == sorted(chunk)
    owner = {keys[i]: n for n, c in enumerate(chunks) for i in c}
    assert all(owner[keys[i]] == n for n, c in enumerate(chunks) for i in c)
    assert chunks == [[0, 1, 3, 6, 8], [2, 4], [5, 7]]


def test_a_set_smaller_than_a_chunk_is_one_chunk():
    assert chunks_by_case(_reports(["x", "y"]), 100) == [[0, 1]]
    assert chunks_by_case([], 100) == []

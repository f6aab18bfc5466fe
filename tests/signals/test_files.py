"""Counting from CSV and Parquet files with DuckDB: the same PairCounts (hence the same
measures) as counting the rows in memory, and the same input errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pv_service.signals import compute_from_counts, compute_signals, count_pairs
from pv_service.signals.cli import app
from pv_service.signals.counts import SignalInputError
from pv_service.signals.files import count_file
from pv_service.signals.mgps import Prior

PRIOR = Prior(2.0, 0.5, 5.0, 5.0, 0.1)


@pytest.fixture(scope="module")
def caers_files(tmp_path_factory, caers_rows):
    d = tmp_path_factory.mktemp("files")
    caers_rows.to_csv(d / "caers.csv", index=False)
    caers_rows.to_parquet(d / "caers.parquet", index=False)
    return d


def _same_counts(got, ref):
    assert list(got.products) == list(ref.products) and list(got.events) == list(ref.events)
    for f in ("pair_product", "pair_event", "a", "product_margin", "event_margin", "stratum_total",
              "cell_pair", "cell_stratum", "cell_a"):
        np.testing.assert_array_equal(getattr(got, f), getattr(ref, f), err_msg=f)


@pytest.mark.parametrize("name", ["caers.csv", "caers.parquet"])
@pytest.mark.parametrize("strata", [[], ["sex"]])
def test_file_counts_equal_in_memory_counts(caers_files, caers_rows, name, strata):
    got = count_file(caers_files / name, strata=strata)
    ref = count_pairs(caers_rows["report_id"], caers_rows["product"], caers_rows["event"],
                      caers_rows[strata] if strata else None)
    _same_counts(got, ref)
    if strata:
        assert got.strata.equals(ref.strata)


def test_groups_and_comparator_in_the_file_path(caers_files, caers_rows):
    groups = {"DYSPNOEA": ["Breathing"], "CHOKING": ["Breathing", "Airway"]}
    comparator = ["REUMOFAN PLUS", "HYDROXYCUT CAPSULES", "HYDROXYCUT REGULAR RAPID RELEASE CAPLETS"]
    for unmapped in ("keep", "drop"):
        ref = compute_signals(caers_rows, groups=groups, comparator=comparator, unmapped=unmapped, prior=PRIOR)
        got = compute_from_counts(count_file(caers_files / "caers.parquet", groups=groups,
                                             comparator=comparator, unmapped=unmapped), prior=PRIOR)
        pd.testing.assert_frame_equal(got.table, ref.table, rtol=1e-13)


def test_typed_parquet_columns_are_labels(tmp_path):
    rows = pd.DataFrame({"report_id": [1, 1, 2, 3], "product": [10, 10, 10, 20], "event": ["e", "f", "e", "e"],
                         "year": [2024, 2024, 2025, 2025]})
    rows.to_parquet(tmp_path / "typed.parquet")
    got = count_file(tmp_path / "typed.parquet", strata=["year"])
    assert list(got.products) == ["10", "20"] and list(got.strata["year"]) == ["2024", "2025"]
    assert got.a.tolist() == [2, 1, 1]  # (10, e): reports 1, 2; (10, f): 1; (20, e): 3


@pytest.mark.parametrize("frame, strata, message", [
    (pd.DataFrame({"report_id": [1], "product": ["A"]}), [], "lacks column(s) event"),
    (pd.DataFrame({"report_id": [1, 2], "product": ["A", None], "event": ["e", "e"]}), [], "'product' is empty on 1"),
    (pd.DataFrame({"report_id": [1, 1], "product": ["A", "A"], "event": ["e", "f"], "sex": ["F", "M"]}), ["sex"],
     "1 report(s) have rows in different strata"),
    (pd.DataFrame({"report_id": [], "product": [], "event": []}), [], "no rows"),
])
def test_parquet_input_errors(tmp_path, frame, strata, message):
    frame.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(SignalInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        count_file(tmp_path / "bad.parquet", strata=strata)


def test_not_a_parquet_file_is_an_input_error(tmp_path):
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SignalInputError, match="cannot read"):
        count_file(tmp_path / "junk.parquet")


def test_cli_reads_parquet_writes_parquet_under_a_memory_cap(tmp_path, caers_files):
    out = tmp_path / "out.parquet"
    r = CliRunner().invoke(app, ["compute", str(caers_files / "caers.parquet"), "-o", str(out),
                                 "--memory-limit", "200MB", "--no-progress"])
    assert r.exit_code == 0, r.stderr
    via_csv = tmp_path / "out.csv"
    r = CliRunner().invoke(app, ["compute", str(caers_files / "caers.csv"), "-o", str(via_csv), "--no-progress"])
    assert r.exit_code == 0, r.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_csv(via_csv, keep_default_na=False,
                                                                     na_values=[""]), rtol=1e-12,
                                  check_dtype=False)


def test_too_small_a_memory_limit_is_a_clear_error(caers_files):
    with pytest.raises(SignalInputError, match=r"ran out of memory \(limit 1MB\): give a larger --memory-limit"):
        count_file(caers_files / "caers.parquet", memory_limit="1MB")
    with pytest.raises(SignalInputError, match="memory limit 'lots' not understood"):
        count_file(caers_files / "caers.parquet", memory_limit="lots")


def _generated_rows(seed: int, n_rows: int = 20_000) -> pd.DataFrame:
    """Rows with repeated (report, product, event) triples, reports naming several
    products and events, and a report-level stratum."""
    rng = np.random.default_rng(seed)
    report = rng.integers(0, n_rows // 4, n_rows) * 7 + 1_000_003  # sparse, offset ids
    rows = pd.DataFrame({"report_id": report,
                         "product": [f"P{i}" for i in rng.zipf(1.5, n_rows) % 60],
                         "event": [f"E{i}" for i in rng.zipf(1.3, n_rows) % 300]})
    rows["sex"] = np.array(["F", "M", "U"])[(report // 7) % 3]
    return pd.concat([rows, rows.sample(frac=0.2, random_state=seed)], ignore_index=True)  # duplicates


@pytest.mark.parametrize("strata", [[], ["sex"]])
@pytest.mark.parametrize("ids", ["int", "text", "integer text"])
def test_numpy_route_counts_exactly_what_duckdb_counts(tmp_path, strata, ids):
    rows = _generated_rows(7)
    if ids == "text":
        rows["report_id"] = "R-" + rows["report_id"].astype(str)
    elif ids == "integer text":  # a CSV's ids: 007 and 7 are different reports
        rows["report_id"] = rows["report_id"].astype(str)
        rows.loc[rows.index % 11 == 0, "report_id"] = "00" + rows["report_id"]
    path = tmp_path / "rows.parquet"
    rows.to_parquet(path, index=False)
    in_numpy = count_file(path, strata=strata, in_memory=True)
    in_duckdb = count_file(path, strata=strata, in_memory=False)
    _same_counts(in_numpy, in_duckdb)
    _same_counts(in_numpy, count_pairs(rows["report_id"], rows["product"], rows["event"],
                                       rows[strata] if strata else None))
    assert in_numpy.a.sum() < len(rows)  # the duplicates were there and counted once


def test_numpy_route_with_groups_comparator_and_csv(tmp_path):
    rows = _generated_rows(11)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    groups = {"E1": ["G1"], "E2": ["G1", "G2"], "E3": "G2"}
    comparator = [f"P{i}" for i in range(0, 60, 2)]
    for unmapped in ("keep", "drop"):
        kw = dict(strata=["sex"], groups=groups, comparator=comparator, unmapped=unmapped)
        _same_counts(count_file(tmp_path / "rows.csv", in_memory=True, **kw),
                     count_file(tmp_path / "rows.csv", in_memory=False, **kw))


@pytest.mark.parametrize("in_memory", [True, False])
def test_both_routes_reject_a_report_in_two_strata(tmp_path, in_memory):
    rows = pd.DataFrame({"report_id": [5, 5, 5, 6, 9, 9], "product": ["A", "A", "B", "A", "A", "B"],
                         "event": ["e", "f", "e", "e", "e", "e"], "sex": ["F", "M", "U", "F", "M", "F"]})
    rows.to_parquet(tmp_path / "mixed.parquet")
    with pytest.raises(SignalInputError, match=r"^2 report\(s\) have rows in different strata"):
        count_file(tmp_path / "mixed.parquet", strata=["sex"], in_memory=in_memory)


def test_route_follows_the_memory_limit():
    import duckdb

    from pv_service.signals.files import BYTES_PER_ROW, _fits_in_memory
    con = duckdb.connect(config={"memory_limit": "10MB"})  # DuckDB shows it as 9.5 MiB
    limit = 9.5 * 2**20
    assert _fits_in_memory(con, int(limit * 0.99) // BYTES_PER_ROW)
    assert not _fits_in_memory(con, int(limit * 1.01) // BYTES_PER_ROW + 1)

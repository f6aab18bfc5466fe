"""The pyarrow reader of Parquet files (parquet_codes): exactly the counts of DuckDB's
reader and of counting the rows in memory, whatever the files' encodings; everything it
does not read goes to DuckDB, with DuckDB's errors."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pv_service.signals import count_pairs
from pv_service.signals.counts import SignalInputError
from pv_service.signals.files import count_file, limit_bytes
from pv_service.signals.parquet_codes import drop_unused

FIELDS = ("pair_product", "pair_event", "a", "product_margin", "event_margin", "stratum_total",
          "cell_pair", "cell_stratum", "cell_a")


def _same_counts(got, ref):
    assert list(got.products) == list(ref.products) and list(got.events) == list(ref.events)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(got, f), getattr(ref, f), err_msg=f)
    pd.testing.assert_frame_equal(got.strata, ref.strata)


def _rows(seed: int, n_rows: int = 12_000) -> pd.DataFrame:
    """Rows with repeated triples, reports naming several products and events, sparse
    offset ids, two report-level strata (one an integer whose text order is not its
    numeric order)."""
    rng = np.random.default_rng(seed)
    report = rng.integers(0, n_rows // 4, n_rows) * 5 + 70_001
    rows = pd.DataFrame({"report_id": report,
                         "product": [f"P{i}" for i in rng.zipf(1.5, n_rows) % 40],
                         "event": [f"é{i}" if i % 7 == 0 else f"E{i}" for i in rng.zipf(1.3, n_rows) % 200]})
    rows["sex"] = np.array(["F", "M", "U"])[(report // 5) % 3]
    rows["band"] = np.array([9, 10, 65, 100])[(report // 15) % 4]
    rows = pd.concat([rows, rows.sample(frac=0.2, random_state=seed)], ignore_index=True)
    return rows.sort_values("report_id", kind="stable", ignore_index=True) if seed % 2 else rows


def _dictionary(values: pd.Series, extra: list[str], order: str) -> pa.DictionaryArray:
    """A dictionary array naming ``values`` over a dictionary with unused ``extra`` labels,
    in label order or shuffled."""
    labels = np.array(sorted(set(values.astype(str)) | set(extra)), dtype=object)
    if order == "shuffled":
        labels = labels[np.random.default_rng(3).permutation(labels.size)]
    index = pd.Index(labels).get_indexer(values.astype(str))
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(labels, pa.string()))


def _write(rows: pd.DataFrame, path, encoding: str, row_group_size: int = 2_500):
    if encoding == "plain":  # pandas' way: text columns, each row group its own dictionary
        table = pa.Table.from_pandas(rows, preserve_index=False)
    else:  # one dictionary array per column, with unused labels
        order = "sorted" if encoding == "dictionary sorted" else "shuffled"
        table = pa.table({
            "report_id": pa.array(rows["report_id"], pa.uint32()),
            "product": _dictionary(rows["product"], ["P-unused", "A-unused"], order),
            "event": _dictionary(rows["event"], ["Z-unused"], order),
            "sex": _dictionary(rows["sex"], ["X"], order),
            "band": pa.array(rows["band"], pa.int16()),
        })
    pq.write_table(table, path, row_group_size=row_group_size)


@pytest.mark.parametrize("encoding", ["plain", "dictionary sorted", "dictionary shuffled"])
@pytest.mark.parametrize("strata", [[], ["sex"], ["band", "sex"]])
def test_arrow_reader_counts_exactly_what_duckdb_counts(tmp_path, encoding, strata):
    rows = _rows(len(strata) + len(encoding))
    path = tmp_path / "rows.parquet"
    _write(rows, path, encoding)
    assert pq.ParquetFile(path).num_row_groups > 3
    got = count_file(path, strata=strata, reader="arrow")
    _same_counts(got, count_file(path, strata=strata, reader="duckdb", in_memory=True))
    _same_counts(got, count_file(path, strata=strata, in_memory=False))
    if len(strata) < 2:  # count_pairs orders combinations of several strata by the last column first
        ref = count_pairs(rows["report_id"], rows["product"], rows["event"],
                          rows[strata].astype(str) if strata else None)
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(got, f), getattr(ref, f), err_msg=f)
    assert "P-unused" not in set(got.products) and got.a.sum() < len(rows)
    if "band" in strata:  # levels as text, in text order, as DuckDB's reader gives them
        assert list(got.strata["band"].unique()) == ["10", "100", "65", "9"]


@pytest.mark.parametrize("encoding", ["plain", "dictionary shuffled"])
def test_arrow_reader_with_a_comparator(tmp_path, encoding):
    rows = _rows(5)
    path = tmp_path / "rows.parquet"
    _write(rows, path, encoding)
    comparator = [f"P{i}" for i in range(0, 40, 3)] + ["not in the file"]
    got = count_file(path, strata=["sex"], comparator=comparator, reader="arrow")
    _same_counts(got, count_file(path, strata=["sex"], comparator=comparator, reader="duckdb"))
    _same_counts(got, count_file(path, strata=["sex"], comparator=comparator, in_memory=False))
    with pytest.raises(SignalInputError, match="no rows name a comparator product"):
        count_file(path, comparator=["not in the file"], reader="arrow")


def test_integer_labels_are_text(tmp_path):
    rows = pd.DataFrame({"report_id": np.array([1, 1, 2, 3], dtype=np.int8),
                         "product": np.array([10, 10, 9, 100], dtype=np.int64), "event": ["e", "f", "e", "e"]})
    rows.to_parquet(tmp_path / "typed.parquet")
    got = count_file(tmp_path / "typed.parquet", reader="arrow")
    assert list(got.products) == ["10", "100", "9"]
    _same_counts(got, count_file(tmp_path / "typed.parquet", reader="duckdb"))


@pytest.mark.parametrize("frame, strata, message", [
    # text report ids: DuckDB numbers them
    (pd.DataFrame({"report_id": ["a", "b"], "product": ["A", "B"], "event": ["e", "e"]}), [], None),
    (pd.DataFrame({"report_id": [1, 2], "product": ["A", ""], "event": ["e", "e"]}), [], "'product' is empty on 1"),
    (pd.DataFrame({"report_id": [1, 2], "product": ["A", "B"], "event": ["e", None]}), [], "'event' is empty on 1"),
    (pd.DataFrame({"report_id": [1, None], "product": ["A", "B"], "event": ["e", "e"]}), [], "'report_id' is empty"),
    (pd.DataFrame({"report_id": [1, 2, 3], "product": ["A"] * 3, "event": ["e"] * 3, "age": ["1", "2", "3"]}),
     ["age"], "'age' has 3 levels"),
    (pd.DataFrame({"report_id": [1, 2], "product": ["A", "B"], "event": ["e", "e"], "w": [0.5, 1.5]}), ["w"], None),
])
def test_what_the_arrow_reader_leaves_to_duckdb(tmp_path, frame, strata, message):
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path)
    with pytest.raises(ValueError, match="arrow reader cannot read"):
        count_file(path, strata=strata, reader="arrow", max_stratum_levels=2)
    if message is None:  # DuckDB reads it
        _same_counts(count_file(path, strata=strata), count_file(path, strata=strata, reader="duckdb"))
    else:  # with DuckDB's wording
        with pytest.raises(SignalInputError, match=message):
            count_file(path, strata=strata, max_stratum_levels=2)


def test_an_empty_label_on_a_row_outside_the_comparator_is_still_an_error(tmp_path):
    # DuckDB checks every row of the file, not only the comparator's
    pd.DataFrame({"report_id": [1, 2], "product": ["A", "B"], "event": ["e", ""]}).to_parquet(tmp_path / "r.parquet")
    with pytest.raises(SignalInputError, match="'event' is empty on 1"):
        count_file(tmp_path / "r.parquet", comparator=["A"])


def test_unused_dictionary_labels_do_not_count(tmp_path):
    # an empty label in the dictionary that no row names is no error, and no label
    table = pa.table({"report_id": pa.array([1, 2, 2], pa.int64()),
                      "product": pa.DictionaryArray.from_arrays(pa.array([2, 1, 2], pa.int32()),
                                                                pa.array(["", "B", "A"])),
                      "event": pa.array(["e", "e", "f"])})
    pq.write_table(table, tmp_path / "r.parquet")
    got = count_file(tmp_path / "r.parquet", reader="arrow")
    assert list(got.products) == ["A", "B"] and got.a.tolist() == [1, 1, 1]  # (A, e), (A, f), (B, e)
    assert got.product_margin[:, 0].tolist() == [2, 1]


def test_drop_unused_renumbers_cells_in_order():
    products, events = np.array(["A", "B", "C"], dtype=object), np.array(["e", "f", "g", "h"], dtype=object)
    # products B, events e and g unused
    cell_pe = np.array([0 * 4 + 1, 0 * 4 + 3, 2 * 4 + 1, 2 * 4 + 3])
    pm, em = np.array([[3], [0], [2]]), np.array([[0], [4], [0], [1]])
    p, e, pe, pm2, em2 = drop_unused(products, events, cell_pe, pm, em)
    assert list(p) == ["A", "C"] and list(e) == ["f", "h"]
    assert pe.tolist() == [0, 1, 2, 3] and pm2[:, 0].tolist() == [3, 2] and em2[:, 0].tolist() == [4, 1]


def test_the_arrow_route_does_not_load_duckdb(tmp_path):
    path = tmp_path / "rows.parquet"
    _write(_rows(1), path, "plain")
    code = ("import sys; from pv_service.signals.files import count_file; "
            f"c = count_file({str(path)!r}, memory_limit='1GB'); "
            "print(int(c.a.sum()), 'duckdb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "False" and int(out[0]) == int(count_file(path, reader="duckdb").a.sum())


def test_route_by_size_and_limit(tmp_path, monkeypatch):
    import pv_service.signals.parquet_codes as pc_mod
    path = tmp_path / "rows.parquet"
    _write(_rows(2), path, "plain")
    calls = []
    real = pc_mod.read_codes
    monkeypatch.setattr("pv_service.signals.files.read_codes", lambda *a, **k: calls.append(1) or real(*a, **k))
    _same_counts(count_file(path, memory_limit="64.5MB"), count_file(path, reader="duckdb"))
    assert calls == []  # 64 MB of reader overhead + 48 bytes a row > 64.5 MB: DuckDB's route
    count_file(path, memory_limit="100 MB")
    assert calls == [1]
    assert limit_bytes("3GB") == 3e9 and limit_bytes("1.5 GiB") == 1.5 * 2**30 and limit_bytes("lots") is None

"""Pair counts straight from a CSV or Parquet file of report rows (pyarrow or DuckDB, numpy).

The file is never loaded into pandas: DuckDB scans it and codes labels as integers - or,
for a Parquet file on the in-memory route, pyarrow (:mod:`.parquet_codes`: the same codes
from the dictionary indices, DuckDB not loaded; what it does not read, DuckDB does). When
the coded rows fit the memory limit, they come into numpy in batches and
:func:`~pv_service.signals.counts.count_codes` counts them (sorts of packed keys, the
first nearly free when rows come grouped by report: several times less CPU than
DuckDB's distinct aggregates, measured in docs/benchmarks.md). Otherwise DuckDB deduplicates (report, product, event) into a
table and aggregates that table, spilling beyond ``memory_limit`` to a scratch directory
instead of running out of memory. Only the results come into the measures: one row per
observed (product, event, stratum) cell and the per-stratum margins - the same
:class:`~pv_service.signals.counts.PairCounts` that
:func:`~pv_service.signals.counts.count_pairs` builds from rows in memory, with the same
rules (text labels, missing values and inconsistent strata rejected, at most
``max_stratum_levels`` levels per stratum column).

DuckDB rather than chunked pandas for the out-of-core route: counting distinct reports
per product and per event needs a global distinct, which DuckDB's aggregates do in
parallel with spilling, while a chunked reader would have to re-implement exactly that.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..common.pages import small_pages
from .counts import PairCounts, SignalInputError, count_codes, counts_from_sorted_cells
from .options import MAX_STRATUM_LEVELS, PARQUET_SUFFIXES
from .parquet_codes import CodedRows, drop_unused, read_codes

REQUIRED_COLUMNS = ("report_id", "product", "event")


#: Peak bytes per input row of the in-memory route: the coded columns (report 8, product
#: and event 4 each, stratum 1), DuckDB's result chunks of them, and one int64 sort key
#: with its deduplicated copy (measured: see docs/benchmarks.md, issue 18).
BYTES_PER_ROW = 48
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_NEVER_EMPTY_TYPES = _INTEGER_TYPES + ("UBIGINT", "HUGEINT", "FLOAT", "DOUBLE", "BOOLEAN", "DATE",
                                       "TIMESTAMP", "TIMESTAMP WITH TIME ZONE")
_UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
          "KIB": 2 ** 10, "MIB": 2 ** 20, "GIB": 2 ** 30, "TIB": 2 ** 40}


#: Reader buffers (one row group's columns), labels and interpreter on the pyarrow route,
#: beyond :data:`BYTES_PER_ROW`: so that a tiny limit still goes to DuckDB, which enforces it.
ARROW_OVERHEAD = 64e6
READERS = ("arrow", "duckdb")


def limit_bytes(memory_limit: str | None) -> float | None:
    """Bytes of a memory limit as DuckDB reads it ("3GB", "500 MiB"); without one DuckDB's
    default, 80% of physical memory. None when not understood (DuckDB then says so)."""
    if memory_limit is None:
        return 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", memory_limit)
    if not m or (m.group(2).upper() or "B") not in _UNITS:
        return None
    return float(m.group(1)) * _UNITS[m.group(2).upper() or "B"]


def _parquet_rows(path: Path) -> int | None:
    import pyarrow.parquet as pq
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # noqa: BLE001 - any unreadable file: DuckDB's reader words the error
        return None


def _fits_in_memory(con, n_rows: int) -> bool:
    """Whether the in-memory route's working set fits DuckDB's memory limit."""
    text = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    number, _, unit = text.strip().partition(" ")
    try:
        limit = float(number) * _UNITS[unit.upper() or "B"]
    except (ValueError, KeyError):
        return False  # an unknown form: stay on the route that spills
    return n_rows * BYTES_PER_ROW <= limit


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_sql(path: Path) -> str:
    """A DuckDB table function reading the file; CSV as text only, so report ids such
    as 007 keep their zeros and a product called NA stays a name (empty = missing)."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return f"read_parquet({_quote_str(str(path))})"
    return (f"read_csv({_quote_str(str(path))}, header = true, all_varchar = true, "
            "auto_detect = true, nullstr = '')")


def count_file(path: Path, *, strata: Sequence[str] = (),
               groups: Mapping[str, str | Collection[str]] | None = None, unmapped: str = "keep",
               comparator: Collection[str] | None = None,
               max_stratum_levels: int = MAX_STRATUM_LEVELS, memory_limit: str | None = None,
               threads: int | None = None, in_memory: bool | None = None,
               reader: str | None = None) -> PairCounts:
    """Count every observed product-event pair of the file (CSV, or Parquet by suffix
    ``.parquet``/``.pq``) with columns report_id, product, event and the ``strata``.

    ``groups`` maps event terms to group name(s) and ``comparator`` restricts the
    background, as in :func:`~pv_service.signals.compute.compute_signals`.
    ``memory_limit`` (e.g. ``"3GB"``) caps DuckDB's memory; beyond it, it spills.

    Two routes give the same counts. When the coded rows fit in the memory limit
    (DuckDB's default limit without one; estimated at :data:`BYTES_PER_ROW` a row),
    DuckDB only reads, filters and codes the rows and numpy counts them
    (:func:`~pv_service.signals.counts.count_codes`: sorts of packed keys, several
    times less CPU than DuckDB's distinct aggregates). Otherwise DuckDB deduplicates and aggregates, out of
    core. ``in_memory`` forces one route.

    On the in-memory route a Parquet file without ``groups`` is read by pyarrow
    (:mod:`.parquet_codes`: dictionary indices as codes, DuckDB not loaded) when its
    columns allow, else by DuckDB; ``reader`` ("arrow" or "duckdb") forces one reader
    ("arrow" raises ValueError for a file it cannot read).
    """
    path = Path(path)
    if not path.is_file():
        raise SignalInputError(f"input file not found: {path}")
    if path.stat().st_size == 0:
        raise SignalInputError(f"input file is empty: {path}")
    if unmapped not in ("keep", "drop"):
        raise ValueError("unmapped must be 'keep' or 'drop'")
    if reader not in (None, *READERS):
        raise ValueError(f"reader must be one of {READERS}")
    if reader == "arrow" or (reader is None and in_memory is not False and groups is None
                             and path.suffix.lower() in PARQUET_SUFFIXES):
        if reader == "arrow" and (groups is not None or in_memory is False):
            raise ValueError("the arrow reader counts in memory and maps no event groups")
        n_rows = _parquet_rows(path)
        if reader == "arrow" or in_memory or _arrow_fits(n_rows, memory_limit):
            # the rows are a process's first large arrays (int64 report ids the largest)
            with small_pages(8 * (n_rows or 0)):
                coded = read_codes(path, strata, comparator, max_stratum_levels, threads=threads)
                if coded is not None:
                    return _count_coded(coded, "no rows name a comparator product"
                                        if comparator is not None else "no rows to analyse")
        if reader == "arrow":
            raise ValueError(f"the arrow reader cannot read {path}: use DuckDB's")
    return _count_with_duckdb(path, strata, groups, unmapped, comparator, max_stratum_levels,
                              memory_limit, threads, in_memory)


def _arrow_fits(n_rows: int | None, memory_limit: str | None) -> bool:
    """Whether the in-memory route's working set for ``n_rows`` rows (None: not known) fits
    the memory limit (as DuckDB's route judges it, plus the reader's fixed overhead)."""
    limit = limit_bytes(memory_limit)
    return limit is not None and n_rows is not None and n_rows * BYTES_PER_ROW + ARROW_OVERHEAD <= limit


def _count_coded(coded: CodedRows, empty: str) -> PairCounts:
    if coded.report.shape[0] == 0:
        raise SignalInputError(empty)
    n_strata = len(coded.strata_frame)
    cell_pe, cell_stratum, cell_a, product_margin, event_margin, stratum_total = count_codes(
        coded.report, coded.product, coded.event, coded.stratum, len(coded.products), len(coded.events),
        n_strata, scratch=coded.scratch)
    products, events, cell_pe, product_margin, event_margin = drop_unused(
        coded.products, coded.events, cell_pe, product_margin, event_margin)
    return counts_from_sorted_cells(products, events, coded.strata_frame, cell_pe, cell_stratum,
                                    cell_a, product_margin, event_margin, stratum_total)


def _count_with_duckdb(path: Path, strata: Sequence[str], groups, unmapped: str, comparator,
                       max_stratum_levels: int, memory_limit: str | None, threads: int | None,
                       in_memory: bool | None) -> PairCounts:
    import duckdb  # here: the pyarrow route never loads it (~50 MB of resident code pages)

    scratch = Path(tempfile.mkdtemp(prefix="pv-signals-"))
    # insertion order is never relied on (every result that needs an order says ORDER BY);
    # not keeping it lets DuckDB build the large tables with less memory
    config = {"temp_directory": str(scratch / "spill"), "preserve_insertion_order": False}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    try:
        # Without a limit an in-memory database (fastest). With one, a scratch database
        # file, so that the deduplicated table itself can leave memory: in an in-memory
        # database only intermediates spill, and 3e7 reports under 2 GB ran out of memory.
        try:
            con = duckdb.connect(str(scratch / "count.duckdb") if memory_limit else ":memory:",
                                 config=config)
        except duckdb.Error as exc:
            raise SignalInputError(f"memory limit {memory_limit!r} not understood (e.g. 3GB, 500MB): "
                                   f"{str(exc).splitlines()[0]}") from None
        try:
            return _count(con, path, list(strata), groups, unmapped, comparator, max_stratum_levels,
                          in_memory)
        finally:
            con.close()
    except duckdb.OutOfMemoryException as exc:
        raise SignalInputError(f"counting {path} ran out of memory"
                               f"{f' (limit {memory_limit})' if memory_limit else ''}: give a larger "
                               f"--memory-limit; {str(exc).splitlines()[0]}") from None
    except duckdb.Error as exc:
        raise SignalInputError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _count(con, path: Path, strata: list[str], groups, unmapped: str, comparator,
           max_levels: int, in_memory: bool | None) -> PairCounts:
    con.execute(f"CREATE VIEW src AS SELECT * FROM {_source_sql(path)}")
    described = con.execute("DESCRIBE src").fetchall()
    columns = [row[0] for row in described]
    missing = [c for c in (*REQUIRED_COLUMNS, *strata) if c not in columns]
    if missing:
        raise SignalInputError(
            f"{path} lacks column(s) {', '.join(missing)} (has: {', '.join(columns)})")
    cols = [*REQUIRED_COLUMNS, *strata]
    q = {c: _quote_ident(c) for c in cols}
    # one pass for the row count, empty values and stratum levels
    types = {row[0]: row[1] for row in described}

    def empty(c):  # only text can be empty: casting numbers to text for the test cost ~0.1 s per 3e6 rows
        if types[c] in _NEVER_EMPTY_TYPES or types[c].startswith("DECIMAL"):
            return f"{q[c]} IS NULL"
        if types[c] == "VARCHAR":
            return f"{q[c]} IS NULL OR {q[c]} = ''"
        return f"{q[c]} IS NULL OR CAST({q[c]} AS VARCHAR) = ''"
    checks = ["count(*)"] + [f"count(*) FILTER (WHERE {empty(c)})" for c in cols] \
        + [f"count(DISTINCT {q[c]})" for c in strata]
    report_type = next(row[1] for row in described if row[0] == "report_id")
    if report_type == "VARCHAR":  # text ids that are canonical integers (a CSV's) count as integers
        rid = q["report_id"]
        checks.append(f"count(*) FILTER (WHERE TRY_CAST({rid} AS BIGINT) IS NULL "
                      f"OR CAST(TRY_CAST({rid} AS BIGINT) AS VARCHAR) <> {rid})")
    found = con.execute(f"SELECT {', '.join(checks)} FROM src").fetchall()[0]
    if report_type == "VARCHAR" and found[-1] == 0:
        report_type = "integer text"
    if found[0] == 0:
        raise SignalInputError(f"{path} has a header but no rows")
    for c, n_missing in zip(cols, found[1:1 + len(cols)]):
        if n_missing and c in REQUIRED_COLUMNS:
            raise SignalInputError(f"column '{c}' is empty on {n_missing} row(s)")
        if n_missing:
            raise SignalInputError(
                f"stratum column '{c}' is empty on {n_missing} row(s); code unknown values "
                "explicitly (e.g. 'unknown') or drop the column")
    for c, levels in zip(strata, found[1 + len(cols):1 + len(cols) + len(strata)]):
        if levels > max_levels:
            raise SignalInputError(f"stratum column '{c}' has {levels} levels (more than {max_levels}); "
                                   "band it into a few categories first")

    s_sel = "".join(f", CAST({q[c]} AS VARCHAR) AS {q[c]}" for c in strata)
    in_memory = _fits_in_memory(con, found[0]) if in_memory is None else in_memory
    rid = (f"CAST({q['report_id']} AS BIGINT)" if in_memory and report_type in _INTEGER_TYPES + ("integer text",)
           else q["report_id"])
    rows = (f"SELECT {rid} AS report_id, CAST({q['product']} AS VARCHAR) AS product, "
            f"CAST({q['event']} AS VARCHAR) AS event{s_sel} FROM src")
    if comparator is not None:
        wanted = sorted({str(p) for p in comparator})
        if not wanted:
            raise SignalInputError("the comparator product set is empty")
        con.register("comparator_products", pd.DataFrame({"product": wanted}))
        rows = f"SELECT * FROM ({rows}) WHERE product IN (SELECT product FROM comparator_products)"
    if groups is not None:
        pairs = [(str(t), str(g)) for t, gs in groups.items()
                 for g in ([gs] if isinstance(gs, str) else list(gs))]
        if not pairs:
            raise SignalInputError("the event group mapping is empty")
        con.register("event_groups", pd.DataFrame(pairs, columns=["term", "grp"]).drop_duplicates())
        join = "LEFT JOIN" if unmapped == "keep" else "JOIN"
        s_cols = "".join(f", r.{q[c]}" for c in strata)
        rows = (f"SELECT r.report_id, r.product, COALESCE(g.grp, r.event) AS event{s_cols} "
                f"FROM ({rows}) r {join} event_groups g ON g.term = r.event")
    con.execute(f"CREATE VIEW r AS {rows}")
    # labels -> codes first (small tables, labels sorted as factorize_column sorts them),
    # so the deduplicated table and every aggregate work on integers
    con.execute("CREATE TABLE prod AS SELECT product, (row_number() OVER (ORDER BY product)) - 1 AS pc "
                "FROM (SELECT DISTINCT product FROM r)")
    con.execute("CREATE TABLE ev AS SELECT event, (row_number() OVER (ORDER BY event)) - 1 AS ec "
                "FROM (SELECT DISTINCT event FROM r)")
    if strata:
        order = ", ".join(q[c] for c in strata)
        con.execute(f"CREATE TABLE st AS SELECT {order}, (row_number() OVER (ORDER BY {order})) - 1 AS sc "
                    f"FROM (SELECT DISTINCT {order} FROM r)")
        st_join, sc = f" JOIN st USING ({order})", "sc"
    else:
        st_join, sc = "", "0 AS sc"
    coded = (f"SELECT report_id, pc, ec, {sc} FROM r JOIN prod USING (product) JOIN ev USING (event)"
             f"{st_join}")
    empty = ("no rows name a comparator product" if comparator is not None and groups is None
             else "no rows left after mapping events to groups" if groups is not None else "no rows to analyse")
    if in_memory:
        # nothing filtered: the coded rows are as many as the file's, so their arrays can
        # be allocated once and filled batch by batch
        known = found[0] if comparator is None and groups is None else None
        return _count_in_memory(con, coded, report_type, strata, q, empty, known)
    con.execute(f"CREATE TABLE tri AS {coded.replace('SELECT', 'SELECT DISTINCT', 1)}")
    if con.execute("SELECT count(*) FROM tri").fetchall()[0][0] == 0:
        raise SignalInputError(empty)
    if strata:
        bad = con.execute("SELECT count(*) FROM (SELECT report_id FROM tri GROUP BY report_id "
                          "HAVING count(DISTINCT sc) > 1)").fetchall()[0][0]
        if bad:
            raise SignalInputError(f"{bad} report(s) have rows in different strata; "
                                   "a stratum must be a property of the whole report")
    return _pair_counts(con, strata, q)


def _labels(con, strata: list[str], q: dict[str, str]) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Products, events and stratum level combinations by code."""
    if strata:
        strata_frame = con.execute(f"SELECT {', '.join(q[c] for c in strata)} FROM st ORDER BY sc").df()
        strata_frame.columns = strata
    else:
        strata_frame = pd.DataFrame(index=pd.RangeIndex(1))
    products = np.asarray(con.execute("SELECT product FROM prod ORDER BY pc").fetchnumpy()["product"], dtype=object)
    events = np.asarray(con.execute("SELECT event FROM ev ORDER BY ec").fetchnumpy()["event"], dtype=object)
    return products, events, strata_frame


def _count_in_memory(con, coded: str, report_type: str, strata: list[str], q: dict[str, str],
                     empty: str, n_rows: int | None = None) -> PairCounts:
    """DuckDB codes the rows (streamed in batches, so no second copy of the whole result);
    numpy counts them. With ``n_rows`` (the number of coded rows, when known) the batches
    go straight into arrays of that size: no list of chunks joined afterwards (a copy of
    every column, 17 bytes a row at the peak)."""
    if report_type not in _INTEGER_TYPES + ("integer text",):
        # other ids (text, dates, ...): number the distinct ids first
        con.execute("CREATE TABLE rep AS SELECT report_id, (row_number() OVER ()) - 1 AS rc "
                    f"FROM (SELECT DISTINCT report_id FROM ({coded}))")
        coded = f"SELECT rc AS report_id, pc, ec, sc FROM ({coded}) JOIN rep USING (report_id)"
    products, events, strata_frame = _labels(con, strata, q)
    n_prod, n_ev, n_strata = len(products), len(events), len(strata_frame)
    kinds = {"report_id": np.int64, "pc": np.int32, "ec": np.int32}
    if strata:  # without strata sc is the constant 0: not streamed
        kinds["sc"] = np.int8 if n_strata <= 127 else np.int32
    sql = f"SELECT {', '.join(f'{k}::{_SQL_INT[t]} AS {k}' for k, t in kinds.items())} FROM ({coded})"
    batches = con.sql(sql).to_arrow_reader(1 << 20)
    if n_rows is not None:
        columns = {name: np.empty(n_rows, dtype=t) for name, t in kinds.items()}
        at = 0
        for batch in batches:
            if at + batch.num_rows > n_rows:
                raise RuntimeError("more coded rows than rows in the file")
            for name, column in zip(batch.schema.names, batch.columns):
                columns[name][at:at + batch.num_rows] = column.to_numpy()
            at += batch.num_rows
        if at != n_rows:
            raise RuntimeError(f"{at} coded rows of {n_rows} in the file")
    else:
        chunks: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
        for batch in batches:
            for name, column in zip(batch.schema.names, batch.columns):
                chunks[name].append(column.to_numpy())
        columns = {}
        for name in kinds:  # one column at a time: its chunks are freed as it is joined
            columns[name] = np.concatenate(chunks.pop(name)) if chunks[name] else np.zeros(0, kinds[name])
    if columns["report_id"].shape[0] == 0:
        raise SignalInputError(empty)
    cell_pe, cell_stratum, cell_a, product_margin, event_margin, stratum_total = count_codes(
        columns.pop("report_id"), columns.pop("pc"), columns.pop("ec"),
        columns.pop("sc") if strata else None, n_prod, n_ev, n_strata)
    return counts_from_sorted_cells(products, events, strata_frame, cell_pe, cell_stratum, cell_a,
                                    product_margin, event_margin, stratum_total)


_SQL_INT = {np.int64: "BIGINT", np.int32: "INTEGER", np.int8: "TINYINT"}


def _pair_counts(con, strata: list[str], q: dict[str, str]) -> PairCounts:
    """PairCounts from the coded, deduplicated table ``tri`` (report_id, pc, ec, sc)."""
    products, events, strata_frame = _labels(con, strata, q)
    n_prod, n_ev, n_strata = len(products), len(events), len(strata_frame)
    cells = con.execute("SELECT pc, ec, sc, count(*) AS a FROM tri GROUP BY ALL ORDER BY pc, ec, sc").fetchnumpy()

    def margin(code: str, size: int) -> np.ndarray:
        # distinct reports per (item, stratum): a distinct subquery is faster than count(DISTINCT)
        got = con.execute(f"SELECT {code}, sc, count(*) AS n FROM (SELECT DISTINCT report_id, {code}, sc "
                          "FROM tri) GROUP BY ALL").fetchnumpy()
        out = np.zeros((size, n_strata), dtype=np.int64)
        out[np.asarray(got[code], dtype=np.int64), np.asarray(got["sc"], dtype=np.int64)] = got["n"]
        return out

    product_margin = margin("pc", n_prod)
    event_margin = margin("ec", n_ev)
    tot = con.execute("SELECT sc, count(*) AS n FROM (SELECT DISTINCT report_id, sc FROM tri) "
                      "GROUP BY ALL").fetchnumpy()
    stratum_total = np.zeros(n_strata, dtype=np.int64)
    stratum_total[np.asarray(tot["sc"], dtype=np.int64)] = tot["n"]

    cell_pe = np.asarray(cells["pc"], dtype=np.int64) * n_ev + np.asarray(cells["ec"], dtype=np.int64)
    return counts_from_sorted_cells(products, events, strata_frame, cell_pe, cells["sc"], cells["a"],
                                    product_margin, event_margin, stratum_total)

"""Integer-coded rows straight from a Parquet file with pyarrow, for in-memory counting.

The codes are those DuckDB's reader in :mod:`.files` gives - labels as text, sorted (binary
order of UTF-8, which is code-point order), numbered from 0; stratum level combinations
sorted column by column - so both readers yield the same
:class:`~pv_service.signals.counts.PairCounts`. Parquet stores text columns
dictionary-encoded: the row group's dictionary indices are the codes up to one lookup per
distinct dictionary, so no label is hashed or joined per row (DuckDB's reader joins every
row's labels to their codes: most of counting's time at 1e7 reports) and DuckDB is not
loaded at all (its code pages alone are ~50 MB of resident memory).

Only the plain case is read here; :func:`read_codes` returns None for anything else and the
caller uses DuckDB, which also words the input errors: report ids that are not integers,
label or stratum columns of other types than text or integers, missing or empty values,
too many stratum levels, an empty file, a file pyarrow cannot read.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

_BLOCK = 1 << 18  # rows per block of the code lookups: the temporaries stay in cache
#: From this many rows pyarrow decodes a row group's columns in its threads. Below, one
#: thread: the threads' allocator heaps keep ~20 MB of freed row groups (measured at 1e6
#: reports: 371 against 391 MB peak for the whole computation), while the time they save
#: (a fraction of 0.2 s there) matters only for large files.
THREADS_MIN_ROWS = 1 << 23


@dataclass
class CodedRows:
    """One element per kept row: ``report`` (int64 ids), ``product``/``event`` (int32
    codes into ``products``/``events``), ``stratum`` (codes into the rows of
    ``strata_frame``; None without strata). ``products``/``events`` are every label of the
    file's dictionaries, sorted: some may name no kept row (:func:`drop_unused` removes
    them after counting, where their margins are 0)."""

    report: np.ndarray
    product: np.ndarray
    event: np.ndarray
    stratum: np.ndarray | None
    products: np.ndarray
    events: np.ndarray
    strata_frame: pd.DataFrame
    #: the memory of ``product`` and ``event`` as one int64 buffer of the file's row count,
    #: for counting to reuse once it has read them (``count_codes``' scratch)
    scratch: np.ndarray | None = None


def _is_report_type(t: pa.DataType) -> bool:
    # DuckDB's reader takes these as BIGINT ids; UBIGINT and text ids it numbers itself
    return pa.types.is_signed_integer(t) or t in (pa.uint8(), pa.uint16(), pa.uint32())


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_label_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return _is_text(t) or pa.types.is_integer(t)


class _Fallback(Exception):
    """The file needs DuckDB's reader (or its wording of an input error)."""


class _Dictionary:
    """One distinct dictionary of a label column: its labels as text, where its rows went
    and, when tracked, which entries any row names."""

    def __init__(self, dictionary: pa.Array, track_seen: bool):
        if dictionary.null_count:
            raise _Fallback
        self.arrow = dictionary
        text = dictionary if not pa.types.is_integer(dictionary.type) else pc.cast(dictionary, pa.string())
        self.values = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
        empty = np.flatnonzero(self.values == "")
        self.empty_at = int(empty[0]) if empty.size else -1
        self.seen = np.zeros(self.values.shape[0], dtype=bool) if track_seen else None
        self.spans: list[tuple[int, int]] = []
        self.in_set: np.ndarray | None = None


class _Labels:
    """One label column: per kept row its index into its chunk's dictionary, then its code.

    Chunks usually share one dictionary (a file written from one dictionary array), so
    each distinct dictionary is converted, checked and looked up once; no pass over the
    rows but the copy, and the lookup when a dictionary is not in label order."""

    def __init__(self, out: np.ndarray, track_seen: bool = False):
        self.out = out
        self.track_seen = track_seen
        self.dictionaries: list[_Dictionary] = []

    def encode(self, chunk: pa.Array) -> tuple[np.ndarray, _Dictionary]:
        if chunk.null_count:
            raise _Fallback
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        if self.dictionaries and chunk.dictionary.equals(self.dictionaries[-1].arrow):
            entry = self.dictionaries[-1]
        else:
            entry = _Dictionary(chunk.dictionary, self.track_seen)
            self.dictionaries.append(entry)
        index = chunk.indices.to_numpy()
        if entry.empty_at >= 0 and bool((index == entry.empty_at).any()):
            raise _Fallback  # an empty label on some row: DuckDB's check words it
        if entry.seen is not None:
            entry.seen[index] = True
        return index, entry

    def store(self, index: np.ndarray, entry: _Dictionary, lo: int, keep: np.ndarray | None) -> None:
        kept = index if keep is None else index[keep]
        entry.spans.append((lo, lo + kept.shape[0]))
        self.out[lo:lo + kept.shape[0]] = kept

    def n_seen(self) -> int:
        """Distinct labels named by any row (tracked columns only)."""
        return int(np.unique(np.concatenate([d.values[d.seen] for d in self.dictionaries])).size)

    def code(self, size: int) -> np.ndarray:
        """Every dictionary label, sorted; dictionary indices -> codes into them, in place
        over out[:size]. Sorted codes of all labels, used or not, keep the codes of the
        used ones in label order, so dropping the unused later moves no cell."""
        labels = np.unique(np.concatenate([d.values for d in self.dictionaries]))
        for d in self.dictionaries:
            lookup = np.searchsorted(labels, d.values).astype(self.out.dtype)
            if np.array_equal(lookup, np.arange(lookup.shape[0])):
                continue  # the dictionary is all the labels, in order: indices are codes
            for lo, hi in d.spans:
                for start in range(lo, min(hi, size), _BLOCK):
                    sl = slice(start, min(hi, start + _BLOCK))
                    self.out[sl] = lookup[self.out[sl]]
        return labels


def read_codes(path: Path, strata: Sequence[str], comparator: Collection[str] | None,
               max_levels: int, threads: int | None = None) -> CodedRows | None:
    """Coded rows of the Parquet file (rows of products outside ``comparator`` dropped),
    or None when the file needs DuckDB's reader (see the module's docstring). ``threads``:
    1 for none, more for pyarrow's, None to decide by size (:data:`THREADS_MIN_ROWS`)."""
    try:
        return _read(path, list(strata), comparator, max_levels, threads)
    except (_Fallback, pa.ArrowException, OSError):
        return None
    finally:
        # pyarrow's allocator keeps the freed row groups for reuse: 70 MB at 1e6 reports that
        # numpy could not use (the measures' arrays are allocated after this)
        pa.default_memory_pool().release_unused()


def _read(path: Path, strata: list[str], comparator, max_levels: int, threads: int | None) -> CodedRows:
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    cols = ["report_id", "product", "event", *strata]
    if len(set(cols)) < len(cols) or any(schema.get_field_index(c) < 0 for c in cols):
        raise _Fallback
    if not _is_report_type(schema.field("report_id").type) or \
            not all(_is_label_type(schema.field(c).type) for c in cols[1:]):
        raise _Fallback
    n_rows = pf.metadata.num_rows
    if n_rows == 0:
        raise _Fallback
    use_threads = n_rows >= THREADS_MIN_ROWS if threads is None else threads > 1
    # text columns stored plain in the schema still come as dictionary indices
    text = [c for c in cols[1:] if _is_text(schema.field(c).type)]
    if text:
        pf = pq.ParquetFile(path, read_dictionary=text)
    # Filled from the front; with a comparator fewer rows are kept and the tail is never
    # written, so it never becomes resident.
    report = np.empty(n_rows, dtype=np.int64)
    pair_codes = np.empty(2 * n_rows, dtype=np.int32)  # product codes, then event codes
    labels = {c: _Labels(np.empty(n_rows, dtype=np.int32), track_seen=c in strata) for c in strata}
    labels = {"product": _Labels(pair_codes[:n_rows]), "event": _Labels(pair_codes[n_rows:]), **labels}
    wanted = None if comparator is None else {str(p) for p in comparator}
    at = 0
    for i in range(pf.num_row_groups):
        for batch in pf.read_row_group(i, columns=cols, use_threads=use_threads).to_batches():
            rid = batch.column(0)
            if rid.null_count:
                raise _Fallback
            encoded = {c: labels[c].encode(batch.column(k + 1)) for k, c in enumerate(cols[1:])}
            keep = None
            if wanted is not None:
                index, entry = encoded["product"]
                if entry.in_set is None:
                    entry.in_set = np.fromiter((v in wanted for v in entry.values), dtype=bool,
                                               count=entry.values.shape[0])
                keep = entry.in_set[index]
            ids = rid.to_numpy()
            kept = ids.shape[0] if keep is None else int(np.count_nonzero(keep))
            report[at:at + kept] = ids if keep is None else ids[keep]
            for c, (index, entry) in encoded.items():
                labels[c].store(index, entry, at, keep)
            at += kept
    if any(labels[c].n_seen() > max_levels for c in strata):
        raise _Fallback  # DuckDB's check words the error
    products, events = labels["product"].code(at), labels["event"].code(at)
    if strata:
        codes, strata_frame = _strata_codes([labels[c] for c in strata], strata, at)
    else:
        codes, strata_frame = None, pd.DataFrame(index=pd.RangeIndex(1))
    return CodedRows(report[:at], labels["product"].out[:at], labels["event"].out[:at], codes,
                     products, events, strata_frame, scratch=pair_codes.view(np.int64))


def drop_unused(products: np.ndarray, events: np.ndarray, cell_pe: np.ndarray,
                product_margin: np.ndarray, event_margin: np.ndarray):
    """Remove the labels no row names (margin 0) and renumber the cells' pair codes
    ``product * len(events) + event``; the codes keep their order, so the cells stay sorted."""
    used_p, used_e = product_margin.any(axis=1), event_margin.any(axis=1)
    if used_p.all() and used_e.all():
        return products, events, cell_pe, product_margin, event_margin
    new_p = np.cumsum(used_p) - 1
    new_e = np.cumsum(used_e) - 1
    n_e = len(events)
    cell_pe = new_p[cell_pe // n_e] * int(used_e.sum()) + new_e[cell_pe % n_e]
    return products[used_p], events[used_e], cell_pe, product_margin[used_p], event_margin[used_e]


def _strata_codes(columns: list[_Labels], names: list[str], size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """One code per row for the observed level combinations, sorted by the first column,
    then the next (as DuckDB's ORDER BY of the stratum columns)."""
    labels = [c.code(size) for c in columns]
    radix = [max(1, len(lab)) for lab in labels]
    space = int(np.prod([float(r) for r in radix]))
    if space > 1 << 22:
        raise _Fallback  # dictionaries of many unused levels: DuckDB's route handles them
    present = np.zeros(space, dtype=bool)
    for start in range(0, size, _BLOCK):
        present[_combined(columns, radix, slice(start, min(size, start + _BLOCK)))] = True
    combos = np.flatnonzero(present)
    lookup = np.zeros(space, dtype=np.int64)
    lookup[combos] = np.arange(combos.size)
    out = np.empty(size, dtype=np.int8 if combos.size <= 127 else np.int32)
    for start in range(0, size, _BLOCK):
        sl = slice(start, min(size, start + _BLOCK))
        out[sl] = lookup[_combined(columns, radix, sl)]
    frame, rest = {}, combos
    for name, lab, r in zip(reversed(names), reversed(labels), reversed(radix)):
        frame[name] = lab[rest % r]
        rest = rest // r
    return out, pd.DataFrame({name: frame[name] for name in names})


def _combined(columns: list[_Labels], radix: list[int], sl: slice) -> np.ndarray:
    key = np.zeros(sl.stop - sl.start, dtype=np.int64)
    for col, r in zip(columns, radix):
        key *= r
        key += col.out[sl]
    return key

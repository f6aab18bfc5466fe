"""Orchestration: report rows (or pre-aggregated counts) -> one table of all measures.

Two entry points give the same table:

* :func:`compute_signals` takes report-product-event rows (the analyst CLI, tests);
* :func:`compute_from_stratum_counts` takes counts aggregated elsewhere, e.g. by SQL
  ``GROUP BY`` in the service's database path; :func:`compute_from_counts` takes a
  :class:`~pv_service.signals.counts.PairCounts` directly.

Choices (documented here because they change numbers):

* Without strata, PRR/ROR/chi2 are the crude 2x2 statistics (chi2 with Yates'
  correction, Evans 2001). With strata they are the Mantel-Haenszel risk ratio
  (Greenland-Robins interval), the Mantel-Haenszel odds ratio (Robins-Breslow-Greenland
  interval) and the continuity-corrected Cochran-Mantel-Haenszel chi-square, and
  ``expected`` (used by IC and MGPS) is the stratified sum of per-stratum E. The
  ``n_product``, ``n_event`` and ``n_total`` columns are always the overall counts.
* The MGPS prior is fitted on *all* observed pairs (n >= 1), whatever ``min_count``:
  the zero-truncated likelihood assumes every non-zero cell is in the data, as in
  openEBGM with N_star = 1. ``min_count`` only filters the output table.
* The MGPS prior follows the fallback order of :mod:`.priors` (supplied, fitted -
  inside the parameter space or on its boundary -, configured, one-component gamma,
  none); with none, ``ebgm``/``eb05``/``eb95`` are NaN and ``prior.reason`` says why;
  the other measures are unaffected.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator, NamedTuple

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import measures as m
from .counts import (
    MAX_STRATUM_LEVELS,
    PairCounts,
    SignalInputError,
    _chunks,
    count_pairs,
    counts_from_stratum_table,
    map_event_groups,
    restrict_to_comparator,
)
from .mgps import MGPSFit, Prior, collapse_ties, posterior_scores
from .priors import PriorChoice, choose_prior

OUTPUT_COLUMNS: tuple[str, ...] = (
    "product", "event", "n", "n_product", "n_event", "n_total", "expected",
    "prr", "prr_lower", "prr_upper", "chi2", "ror", "ror_lower", "ror_upper",
    "ic", "ic025", "ic975", "ebgm", "eb05", "eb95",
)


class SignalResult(NamedTuple):
    """The measures table (columns :data:`OUTPUT_COLUMNS`), the two-component MGPS fit
    (None when a prior was supplied or the pairs were too few) and the prior the EB
    scores used, with where it came from (:class:`~pv_service.signals.priors.PriorChoice`)."""

    table: pd.DataFrame
    fit: MGPSFit | None
    prior: PriorChoice | None = None


class _Stages:
    """Stage timer feeding a tqdm bar on stderr and an optional timings dict."""

    def __init__(self, names: Sequence[str], progress: bool | None, timings: dict | None):
        self.timings = timings
        # disable=None lets tqdm hide itself when stderr is not a terminal
        self.bar = tqdm(total=len(names), desc="signals", unit="stage", file=sys.stderr,
                        disable=None if progress is None else not progress, leave=False)

    @contextmanager
    def stage(self, name: str, count: bool = True) -> Iterator[None]:
        """Time a stage; ``count=False``: more time for a stage already counted on the bar."""
        self.bar.set_postfix_str(name, refresh=True)
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        if self.timings is not None:  # wall seconds, and CPU seconds (all threads) as "cpu:<stage>"
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
            key = f"cpu:{name}"
            self.timings[key] = self.timings.get(key, 0.0) + time.process_time() - c0
        if count:
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def compute_signals(rows: pd.DataFrame, *, report_col: str = "report_id",
                    product_col: str = "product", event_col: str = "event",
                    strata: Sequence[str] = (),
                    groups: Mapping[str, str | Iterable[str]] | None = None,
                    unmapped: str = "keep", comparator: Collection[str] | None = None,
                    min_count: int = 1, prior: Prior | None = None,
                    prior_origin: str | None = None, fallback_prior: Prior | None = None,
                    fallback_origin: str | None = None,
                    truncation: str = "mixture", squash: bool | None = None,
                    max_stratum_levels: int = MAX_STRATUM_LEVELS,
                    progress: bool | None = False, timings: dict | None = None) -> SignalResult:
    """All disproportionality measures for every product-event pair in ``rows``.

    ``rows`` has one row per (report, product, event), duplicates allowed, plus any
    ``strata`` columns (report-level categorical variables such as sex or age band).
    ``groups`` maps event terms to group name(s) (see
    :func:`~pv_service.signals.counts.map_event_groups`; ``unmapped`` as there);
    ``comparator`` restricts the background to reports of those products (rows of
    other products are dropped before counting). ``prior`` skips the MGPS fit
    (``prior_origin`` says where it came from); ``fallback_prior`` is used only when the
    fit is not identifiable (see :mod:`.priors`).
    ``timings``, when given, receives seconds per stage.
    """
    strata = list(strata)
    required = [report_col, product_col, event_col]
    missing = [c for c in required + strata if c not in rows.columns]
    if missing:
        raise SignalInputError(f"missing column(s): {', '.join(missing)}")
    if len(rows) == 0:
        raise SignalInputError("no rows to analyse")
    stages = _Stages(["prepare", "count"] + _MEASURE_STAGES, progress, timings)
    try:
        with stages.stage("prepare"):
            if comparator is not None:
                rows = restrict_to_comparator(rows, comparator, product_col=product_col)
            if groups is not None:
                rows = map_event_groups(rows, groups, event_col=event_col, unmapped=unmapped)
                if len(rows) == 0:
                    raise SignalInputError("no rows left after mapping events to groups")
        with stages.stage("count"):
            counts = count_pairs(rows[report_col], rows[product_col], rows[event_col],
                                 rows[strata] if strata else None,
                                 max_stratum_levels=max_stratum_levels)
        return _measures(counts, stages, min_count=min_count,
                         prior=_PriorOptions(prior, prior_origin, fallback_prior, fallback_origin),
                         truncation=truncation, squash=squash)
    finally:
        stages.close()


class _PriorOptions(NamedTuple):
    supplied: Prior | None = None
    supplied_origin: str | None = None
    fallback: Prior | None = None
    fallback_origin: str | None = None


def compute_from_counts(counts: PairCounts, *, min_count: int = 1, prior: Prior | None = None,
                        prior_origin: str | None = None, fallback_prior: Prior | None = None,
                        fallback_origin: str | None = None,
                        truncation: str = "mixture", squash: bool | None = None,
                        progress: bool | None = False, timings: dict | None = None) -> SignalResult:
    """The measures table from already-built :class:`PairCounts` (prior options as
    :func:`compute_signals`)."""
    stages = _Stages(_MEASURE_STAGES, progress, timings)
    try:
        return _measures(counts, stages, min_count=min_count,
                         prior=_PriorOptions(prior, prior_origin, fallback_prior, fallback_origin),
                         truncation=truncation, squash=squash)
    finally:
        stages.close()


def compute_from_stratum_counts(product, event, a, n_product, n_event, n_total, stratum=None,
                                **options) -> SignalResult:
    """The measures table from counts aggregated elsewhere (the database path).

    Arrays are aligned, one element per (product, event, stratum) - or per (product,
    event) without ``stratum``: ``a`` distinct reports naming both in the stratum,
    ``n_product``/``n_event`` distinct reports naming the product/event in the
    stratum, ``n_total`` distinct reports in the stratum. ``stratum`` is one label per
    row (or a DataFrame of several stratum columns). Keyword ``options`` are those of
    :func:`compute_from_counts`. See
    :func:`~pv_service.signals.counts.counts_from_stratum_table` for the requirements.
    """
    counts = counts_from_stratum_table(product, event, a, n_product, n_event, n_total, stratum)
    return compute_from_counts(counts, **options)


_MEASURE_STAGES = ["frequentist", "mgps_fit", "posterior", "table"]


def stratified_sums(counts: PairCounts) -> m.MHSums:
    """Mantel-Haenszel sums per pair over *all* strata, including strata where the
    pair has a = 0 (they still add to E, to sum bc/n, ...).

    Each summand is f(a_s, n_product_s, n_event_s, n_total_s). Written as
    f(0, ...) summed densely over (pairs x strata) in chunks, plus
    f(a_s, ...) - f(0, ...) summed over the sparse cells with a_s > 0, it needs no
    (pairs x strata) array of a.
    """
    n_pairs, n_strata = counts.n_pairs, counts.n_strata
    totals = counts.stratum_total.astype(np.float64)
    sums = {k: np.empty(n_pairs) for k in m.MH_TERMS}
    for sl in _chunks(n_pairs, n_strata, budget=1 << 18):
        terms = m.mh_stratum_terms(0.0, counts.product_margin[counts.pair_product[sl]],
                                   counts.event_margin[counts.pair_event[sl]], totals[None, :])
        for k in m.MH_TERMS:
            sums[k][sl] = terms[k].sum(axis=1)
    cp, cs = counts.cell_pair, counts.cell_stratum
    n_p = counts.product_margin[counts.pair_product[cp], cs]
    n_e = counts.event_margin[counts.pair_event[cp], cs]
    with_a = m.mh_stratum_terms(counts.cell_a, n_p, n_e, totals[cs])
    without_a = m.mh_stratum_terms(0.0, n_p, n_e, totals[cs])
    for k in m.MH_TERMS:
        sums[k] += np.bincount(cp, weights=with_a[k] - without_a[k], minlength=n_pairs)
    return m.MHSums(**sums)


def _labels(labels: np.ndarray, codes: np.ndarray) -> pd.Series:
    """Labels by code as pandas' string column: converting the few distinct labels once
    and taking by code is 4x faster than converting one Python string per pair."""
    text = labels.dtype == object and all(isinstance(x, str) for x in labels)
    return pd.Series(pd.array(labels, dtype="str") if text else labels).take(codes).reset_index(drop=True)


_BLOCK = 1 << 16  # pairs per block of the crude measures: their ~30 temporaries stay in cache


def _expected_counts(n_product, n_event, n_total: int) -> np.ndarray:
    """E per pair without strata, in blocks (the same numbers as one call)."""
    expected = np.empty(n_product.shape[0])
    for start in range(0, expected.shape[0], _BLOCK):
        sl = slice(start, start + _BLOCK)
        expected[sl] = m.expected_count(n_product[sl], n_event[sl], n_total)
    return expected


def _crude_measures(a, n_product, n_event, n_total: int, expected: np.ndarray):
    """PRR, ROR, chi-square and IC without strata, in blocks of pairs (the functions
    are element-wise, so the numbers are those of whole-array calls; whole-array
    temporaries made this stage memory-bound: 1.9 s at 6e6 pairs)."""
    size = a.shape[0]
    chi2 = np.empty(size)
    prr, ror, ic = (m.Interval(np.empty(size), np.empty(size), np.empty(size)) for _ in range(3))
    for start in range(0, size, _BLOCK):
        sl = slice(start, start + _BLOCK)
        a_, b_, c_, d_ = m.two_by_two(a[sl], n_product[sl], n_event[sl], n_total)
        chi2[sl] = m.chi2_yates(a_, b_, c_, d_)
        for out, got in ((prr, m.prr(a_, b_, c_, d_)), (ror, m.ror(a_, b_, c_, d_)),
                         (ic, m.ic(a_, expected[sl]))):
            for dst, src in zip(out, got):
                dst[sl] = src
    return prr, ror, chi2, ic


def _stratified_measures(counts: PairCounts, sums: m.MHSums):
    a = np.asarray(counts.a, dtype=np.float64)  # the 2x2 table's a, as the crude measures use it
    return m.mh_rr(sums), m.mh_ror(sums), m.cmh_chi2(sums), m.ic(a, sums.expected)


def _measures(counts: PairCounts, stages: _Stages, *, min_count: int, prior: _PriorOptions,
              truncation: str, squash: bool | None) -> SignalResult:
    if min_count < 1:
        raise SignalInputError("min_count must be at least 1")
    # E first (MGPS needs it); the other frequentist measures are computed on a second
    # thread beside the MGPS fit: their long array loops release the GIL, which the fit
    # holds between its short ones (the stage's 0.07-0.1 s at 1e6 reports hidden, 0.5-0.7 s at 1e7).
    # Their CPU time is counted in the fit's stage; "frequentist" is E plus any wait.
    with stages.stage("frequentist"):
        n_product, n_event, n_total = counts.n_product, counts.n_event, counts.n_total
        if counts.n_strata == 1:
            expected = _expected_counts(n_product, n_event, n_total)
            others = (_crude_measures, counts.a, n_product, n_event, n_total, expected)
        else:
            sums = stratified_sums(counts)
            expected = sums.expected
            others = (_stratified_measures, counts, sums)
    with ThreadPoolExecutor(max_workers=1) as beside:
        frequentist = beside.submit(*others)
        try:
            with stages.stage("mgps_fit"):
                ties = collapse_ties(counts.a, expected)  # distinct (n, E): shared by fit and posterior
                choice = choose_prior(counts.a, expected, supplied=prior.supplied,
                                      supplied_origin=prior.supplied_origin, fallback=prior.fallback,
                                      fallback_origin=prior.fallback_origin, truncation=truncation,
                                      squash=squash, ties=ties)
        finally:
            with stages.stage("frequentist", count=False):
                prr, ror, chi2, ic = frequentist.result()
    with stages.stage("posterior"):
        if choice.prior is not None:
            ebgm, eb05, eb95 = posterior_scores(choice.prior, counts.a, expected, ties=ties)
        else:
            ebgm = eb05 = eb95 = np.full(counts.n_pairs, np.nan)
        del ties  # the per-pair point index: ~50 MB per 6e6 pairs
    with stages.stage("table"):
        keep = counts.a >= min_count
        columns = {
            "product": _labels(counts.products, counts.pair_product[keep]),
            "event": _labels(counts.events, counts.pair_event[keep]),
            "n": counts.a, "n_product": n_product, "n_event": n_event,
            "n_total": np.full(counts.n_pairs, n_total, dtype=np.int64),
            "expected": expected,
            "prr": prr.estimate, "prr_lower": prr.lower, "prr_upper": prr.upper, "chi2": chi2,
            "ror": ror.estimate, "ror_lower": ror.lower, "ror_upper": ror.upper,
            "ic": ic.estimate, "ic025": ic.lower, "ic975": ic.upper,
            "ebgm": ebgm, "eb05": eb05, "eb95": eb95,
        }
        every = bool(keep.all())  # then the columns go in as they are: no copy of ~20 arrays

        def column(v):
            if isinstance(v, pd.Series):
                return v
            v = np.asarray(v)
            return v if every else v[keep]
        table = pd.DataFrame({k: column(v) for k, v in columns.items()}, columns=list(OUTPUT_COLUMNS),
                             copy=False)
        for col in ("n", "n_product", "n_event", "n_total"):
            if table[col].dtype != np.int64:
                table[col] = table[col].astype(np.int64)
    return SignalResult(table, choice.fit, choice)

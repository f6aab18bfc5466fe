"""Properties (hypothesis): ordering of EB scores, intervals around estimates,
invariance to row order, and the sparse stratified sums against a dense route."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pv_service.signals import measures as m
from pv_service.signals import mgps
from pv_service.signals.compute import compute_signals, stratified_sums
from pv_service.signals.counts import count_pairs

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

positive = st.floats(0.05, 50.0)


@SETTINGS
@given(a1=positive, b1=positive, a2=positive, b2=positive, p=st.floats(0.001, 0.999),
       n=st.lists(st.integers(1, 500), min_size=1, max_size=20),
       log_e=st.lists(st.floats(-9.0, 7.0), min_size=20, max_size=20))
def test_eb05_le_ebgm_le_eb95(a1, b1, a2, b2, p, n, log_e):
    prior = mgps.Prior(a1, b1, a2, b2, p)
    n = np.array(n, dtype=float)
    e = np.exp(np.array(log_e[: n.size]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # users see none either
        g, lo, hi = mgps.posterior_scores(prior, n, e)
    assert np.all(np.isfinite(g)) and np.all(lo > 0)
    assert np.all(lo <= g * (1 + 1e-12)) and np.all(g <= hi * (1 + 1e-12))


tables = st.tuples(st.integers(1, 10_000), st.integers(0, 10_000), st.integers(0, 10_000),
                   st.integers(0, 10_000))


def _contains(iv: m.Interval) -> bool:
    est, lo, hi = (np.asarray(x) for x in iv)
    ok = np.isnan(est) | ((lo <= est * (1 + 1e-12)) & (est <= hi * (1 + 1e-12)))
    return bool(np.all(ok))


@SETTINGS
@given(st.lists(tables, min_size=1, max_size=30))
def test_intervals_contain_estimates(cells):
    a, b, c, d = (np.array(x, dtype=float) for x in zip(*cells))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _contains(m.prr(a, b, c, d))
        assert _contains(m.ror(a, b, c, d))
        assert _contains(m.ic(a, (a + b) * (a + c) / (a + b + c + d)))
        # the same tables as strata of one pair
        sums = m.mh_sums(a[None, :], (a + b)[None, :], (a + c)[None, :], (a + b + c + d)[None, :])
        assert _contains(m.mh_rr(sums)) and _contains(m.mh_ror(sums))
        assert np.all(np.isnan(m.chi2_yates(a, b, c, d)) | (m.chi2_yates(a, b, c, d) >= 0))


row_lists = st.lists(st.tuples(st.integers(0, 25), st.sampled_from("ABCDE"),
                               st.sampled_from(["e1", "e2", "e3", "e4"])),
                     min_size=1, max_size=80)


def _rows(raw) -> pd.DataFrame:
    rows = pd.DataFrame(raw, columns=["report_id", "product", "event"])
    rows["report_id"] = "r" + rows["report_id"].astype(str)
    rows["sex"] = np.where(rows["report_id"].str.len() % 2 == 0, "F", "M")  # per report
    rows["band"] = rows["report_id"].str[-1]
    return rows


@SETTINGS
@given(row_lists, st.randoms(use_true_random=False), st.booleans())
def test_measures_invariant_to_row_order(raw, rnd, stratified):
    rows = _rows(raw)
    strata = ["sex", "band"] if stratified else []
    prior = mgps.Prior(2.0, 0.5, 5.0, 5.0, 0.1)
    ref, _, _ = compute_signals(rows, strata=strata, prior=prior)
    order = list(range(len(rows)))
    rnd.shuffle(order)
    got, _, _ = compute_signals(rows.iloc[order], strata=strata, prior=prior)
    pd.testing.assert_frame_equal(got, ref, check_exact=False, rtol=1e-12)


@SETTINGS
@given(row_lists)
def test_sparse_stratified_sums_equal_dense_route(raw):
    """stratified_sums adds f(0) densely and f(a) - f(0) over non-zero cells; the
    reference builds full (pairs x strata) arrays with pandas and sums densely."""
    rows = _rows(raw)
    counts = count_pairs(rows["report_id"], rows["product"], rows["event"], rows[["sex", "band"]])
    got = stratified_sums(counts)
    rows = rows.assign(stratum=rows["sex"] + "|" + rows["band"])
    strata = sorted(rows["stratum"].unique())
    pairs = list(zip(counts.products[counts.pair_product], counts.events[counts.pair_event]))
    n_s = rows.groupby("stratum")["report_id"].nunique().reindex(strata).to_numpy(float)
    n_p = rows.groupby(["product", "stratum"])["report_id"].nunique()
    n_e = rows.groupby(["event", "stratum"])["report_id"].nunique()
    a_s = rows.drop_duplicates(["report_id", "product", "event"]).groupby(
        ["product", "event", "stratum"]).size()
    dense = {k: np.zeros((len(pairs), len(strata))) for k in ("a", "np", "ne")}
    for i, (p, e) in enumerate(pairs):
        for j, s in enumerate(strata):
            dense["a"][i, j] = a_s.get((p, e, s), 0)
            dense["np"][i, j] = n_p.get((p, s), 0)
            dense["ne"][i, j] = n_e.get((e, s), 0)
    ref = m.mh_sums(dense["a"], dense["np"], dense["ne"], np.broadcast_to(n_s, dense["a"].shape))
    for k in m.MH_TERMS:
        np.testing.assert_allclose(getattr(got, k), getattr(ref, k), rtol=1e-9, atol=1e-12)

"""The orchestration: rows or pre-aggregated counts -> the measures table."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pv_service.signals import compute as compute_mod
from pv_service.signals import priors as priors_mod
from pv_service.signals.compute import (OUTPUT_COLUMNS, compute_from_stratum_counts,
                                        compute_signals)
from pv_service.signals.mgps import MGPSFit, Prior

PRIOR = Prior(2.0, 0.5, 5.0, 5.0, 0.1)
REL = 1e-8


def test_output_columns_exactly():
    assert OUTPUT_COLUMNS == ("product", "event", "n", "n_product", "n_event", "n_total",
                              "expected", "prr", "prr_lower", "prr_upper", "chi2", "ror",
                              "ror_lower", "ror_upper", "ic", "ic025", "ic975", "ebgm", "eb05",
                              "eb95")


def test_hand_worked_table_through_rows(make_table_rows):
    # a=10, b=90, c=40, d=1860 (see test_measures for the arithmetic)
    rows = make_table_rows([(10, 90, 40, 1860)])
    table, fit, _ = compute_signals(rows, prior=PRIOR)
    assert fit is None
    assert list(table.columns) == list(OUTPUT_COLUMNS)
    row = table.set_index(["product", "event"]).loc[("P", "E")]
    assert (row.n, row.n_product, row.n_event, row.n_total) == (10, 100, 50, 2000)
    assert row.expected == pytest.approx(2.5, rel=REL)
    assert row.prr == pytest.approx(4.75, rel=REL)
    assert row.ror == pytest.approx(31 / 6, rel=REL)
    assert row.chi2 == pytest.approx(3.92e11 / 1.8525e10, rel=REL)
    assert row.ic == pytest.approx(math.log2(3.5), rel=REL)
    assert row.eb05 <= row.ebgm <= row.eb95


def test_mantel_haenszel_through_rows_with_an_empty_stratum(make_table_rows):
    # s1 (4,16,6,74), s2 (2,8,10,180) as in test_measures, plus s3 (0,5,5,90) where the
    # pair is absent: it still adds b c / n = 25/100 to the odds-ratio denominator,
    # c (a+b) / n = 25/100 to the risk-ratio denominator and 5*5/100 to E.
    rows = make_table_rows([(4, 16, 6, 74), (2, 8, 10, 180), (0, 5, 5, 90)], strata=True)
    table, *_ = compute_signals(rows, strata=["stratum"], prior=PRIOR)
    row = table.set_index(["product", "event"]).loc[("P", "E")]
    assert (row.n, row.n_product, row.n_event, row.n_total) == (6, 35, 27, 400)
    assert row.expected == pytest.approx(2.0 + 0.6 + 0.25, rel=REL)
    # OR_MH = (2.96 + 1.8 + 0) / (0.96 + 0.4 + 0.25)
    or_var = 3.9468 / (2 * 4.76**2) + (1.926 + 0.225) / (2 * 4.76 * 1.61) + (0.2472 + 0.025) / (2 * 1.61**2)
    assert row.ror == pytest.approx(4.76 / 1.61, rel=REL)
    assert row.ror_lower == pytest.approx(4.76 / 1.61 * math.exp(-1.96 * math.sqrt(or_var)), rel=REL)
    assert row.ror_upper == pytest.approx(4.76 / 1.61 * math.exp(1.96 * math.sqrt(or_var)), rel=REL)
    # RR_MH = 5.1 / (1.7 + 0.25); GR numerator 1.83 + 5*5*95/100^2
    rr_var = (1.83 + 0.2375) / (5.1 * 1.95)
    assert row.prr == pytest.approx(5.1 / 1.95, rel=REL)
    assert row.prr_lower == pytest.approx(5.1 / 1.95 * math.exp(-1.96 * math.sqrt(rr_var)), rel=REL)
    # CMH: Var3 = 5*95*5*95 / (100^2 * 99)
    var = 1_440_000 / 990_000 + 4_286_400 / 7_960_000 + 225_625 / 990_000
    assert row.chi2 == pytest.approx((6 - 2.85 - 0.5) ** 2 / var, rel=REL)
    assert row.ic == pytest.approx(math.log2(6.5 / 3.35), rel=REL)


def test_min_count_filters_output_but_fit_uses_all_pairs(caers_rows):
    full, fit_all, _ = compute_signals(caers_rows)
    table, fit, _ = compute_signals(caers_rows, min_count=3)
    assert table["n"].min() >= 3
    assert len(table) == int((full["n"] >= 3).sum())
    assert fit.n_pairs == fit_all.n_pairs == 17189
    assert fit.prior == fit_all.prior


def test_database_route_gives_the_same_table(caers_rows):
    d = caers_rows.drop_duplicates(["report_id", "product", "event"])
    cells = d.groupby(["product", "event", "sex"]).size().rename("a").reset_index()
    cells = (cells
             .join(caers_rows.groupby(["product", "sex"])["report_id"].nunique().rename("n_product"),
                   on=["product", "sex"])
             .join(caers_rows.groupby(["event", "sex"])["report_id"].nunique().rename("n_event"),
                   on=["event", "sex"])
             .join(caers_rows.groupby("sex")["report_id"].nunique().rename("n_total"), on="sex"))
    via_db, _, _ = compute_from_stratum_counts(cells["product"], cells["event"], cells["a"],
                                            cells["n_product"], cells["n_event"],
                                            cells["n_total"], cells["sex"], prior=PRIOR)
    via_rows, _, _ = compute_signals(caers_rows, strata=["sex"], prior=PRIOR)
    pd.testing.assert_frame_equal(via_db, via_rows, check_exact=False, rtol=1e-10)


def test_comparator_and_groups(caers_rows):
    hydroxycut = {p for p in caers_rows["product"].unique() if p.startswith("HYDROXYCUT")}
    table, *_ = compute_signals(caers_rows, comparator=hydroxycut, prior=PRIOR)
    assert set(table["product"]) <= hydroxycut
    assert table["n_total"].iloc[0] == caers_rows.loc[
        caers_rows["product"].isin(hydroxycut), "report_id"].nunique()
    groups = {"DYSPNOEA": "Breathing", "CHOKING": "Breathing"}
    grouped, _, _ = compute_signals(caers_rows, groups=groups, prior=PRIOR)
    g = grouped[grouped["event"] == "Breathing"]
    assert not grouped["event"].isin(["DYSPNOEA", "CHOKING"]).any()
    either = caers_rows[caers_rows["event"].isin(["DYSPNOEA", "CHOKING"])]
    assert g["n_event"].iloc[0] == either["report_id"].nunique()
    assert g["n"].sum() == either.drop_duplicates(["report_id", "product"]).shape[0]


def test_no_prior_leaves_eb_columns_empty_and_says_why(monkeypatch, caers_rows):
    def failing_fit(n, e, **kwargs):
        return MGPSFit(prior=PRIOR, log_likelihood=float("nan"), converged=False,
                       truncation="mixture", n_pairs=len(n), n_points=len(n), squashed=False,
                       n_agree=0, message="forced failure")
    monkeypatch.setattr(priors_mod, "fit_prior", failing_fit)
    monkeypatch.setattr(priors_mod, "fit_single_gamma", lambda n, e, **kw: (None, float("nan"), "forced too"))
    table, fit, choice = compute_signals(caers_rows)
    assert not fit.converged and choice.source == "none" and choice.prior is None
    assert "forced failure" in choice.reason and "forced too" in choice.reason
    assert table[["ebgm", "eb05", "eb95"]].isna().all().all()
    assert table[["prr", "ror", "ic"]].notna().all().all()


@pytest.mark.parametrize("strata", [[], ["sex"]], ids=["crude", "stratified"])
def test_frequentist_measures_beside_the_fit_are_those_computed_alone(monkeypatch, caers_rows, strata):
    """The measures computed on a second thread beside the MGPS fit are those computed
    with no fit running (a supplied prior: none), and a failing fit's error comes
    through with the thread ended."""
    import threading
    beside, _, _ = compute_signals(caers_rows, strata=strata)
    alone, _, _ = compute_signals(caers_rows, strata=strata, prior=PRIOR)
    cols = ["expected", "prr", "prr_lower", "prr_upper", "chi2", "ror", "ror_lower", "ror_upper",
            "ic", "ic025", "ic975"]
    pd.testing.assert_frame_equal(beside[cols], alone[cols])

    def boom(*args, **kwargs):
        raise RuntimeError("fit failed")
    monkeypatch.setattr(compute_mod, "choose_prior", boom)
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="fit failed"):
        compute_signals(caers_rows, strata=strata)
    assert threading.active_count() == before


def test_timings_and_stratified_expected_sum(caers_rows):
    timings: dict = {}
    strat, _, _ = compute_signals(caers_rows, strata=["sex"], prior=PRIOR, timings=timings)
    crude, _, _ = compute_signals(caers_rows, prior=PRIOR)
    assert {"count", "frequentist", "posterior"} <= set(timings)
    # stratified E = sum over sexes of n_product_s * n_event_s / n_s, from the raw rows
    key = ("REUMOFAN PLUS", "WEIGHT INCREASED")
    r = caers_rows
    by_sex = []
    for _, g in r.groupby("sex"):
        n_p = g.loc[g["product"] == key[0], "report_id"].nunique()
        n_e = g.loc[g["event"] == key[1], "report_id"].nunique()
        by_sex.append(n_p * n_e / g["report_id"].nunique())
    got = strat.set_index(["product", "event"]).loc[key, "expected"]
    assert got == pytest.approx(sum(by_sex), rel=1e-12)
    assert crude.set_index(["product", "event"]).loc[key, "expected"] != pytest.approx(got)


def test_crude_measures_in_blocks_equal_whole_array_calls():
    """The unstratified measures are computed in blocks of pairs: the same numbers as one
    call of each measure on all pairs (more pairs than a block; zero cells included)."""
    from pv_service.signals import measures as m
    from pv_service.signals.compute import _BLOCK, _crude_measures, _expected_counts
    rng = np.random.default_rng(2)
    size, n_total = 2 * _BLOCK + 123, 50_000
    n_product, n_event = rng.integers(1, 5_000, size), rng.integers(1, 5_000, size)
    a = np.minimum(rng.integers(0, 50, size), np.minimum(n_product, n_event))
    a[:10] = np.minimum(n_product[:10], n_event[:10])  # b or c = 0
    expected = _expected_counts(n_product, n_event, n_total)
    got = (expected, *_crude_measures(a, n_product, n_event, n_total, expected))
    cells = m.two_by_two(a, n_product, n_event, n_total)
    e = m.expected_count(n_product, n_event, n_total)
    want = (e, m.prr(*cells), m.ror(*cells), m.chi2_yates(*cells), m.ic(cells[0], e))
    flat = lambda r: [r[0], *r[1], *r[2], r[3], *r[4]]  # noqa: E731
    for x, y in zip(flat(got), flat(want)):
        np.testing.assert_array_equal(x, y)

"""Counting: dedupe, marginals and (stratified) expected counts, by hand and on CAERS."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pv_service.signals.counts import (SignalInputError, count_pairs, counts_from_stratum_table,
                                       map_event_groups, restrict_to_comparator)


def _pairs(counts) -> pd.DataFrame:
    return pd.DataFrame({
        "product": counts.products[counts.pair_product], "event": counts.events[counts.pair_event],
        "a": counts.a, "n_product": counts.n_product, "n_event": counts.n_event,
        "expected": counts.expected(),
    }).set_index(["product", "event"])


def _count(rows: pd.DataFrame, strata=None):
    return count_pairs(rows["report_id"], rows["product"], rows["event"],
                       rows[strata] if strata else None)


def test_duplicate_rows_count_once():
    rows = pd.DataFrame({
        "report_id": ["r1", "r1", "r1", "r2", "r3"],
        "product":   ["P",  "P",  "P",  "P",  "Q"],
        "event":     ["E",  "E",  "F",  "E",  "F"],
    })
    t = _pairs(_count(rows))
    # (P, E): r1 (listed twice) and r2 -> a = 2; P is in r1, r2 -> n_product = 2
    assert t.loc[("P", "E"), "a"] == 2
    assert t.loc[("P", "E"), "n_product"] == 2
    assert t.loc[("P", "F"), "a"] == 1
    # E in r1, r2; F in r1, r3; 3 reports
    assert t.loc[("P", "E"), "n_event"] == 2 and t.loc[("P", "F"), "n_event"] == 2
    assert _count(rows).n_total == 3
    # E(P, E) = 2 * 2 / 3
    assert t.loc[("P", "E"), "expected"] == pytest.approx(4 / 3, rel=1e-12)
    assert len(t) == 3  # (P,E), (P,F), (Q,F)


def test_stratified_expected_by_hand():
    rows = pd.DataFrame({
        "report_id": ["f1", "f2", "f3", "f4", "m1", "m2", "m2"],
        "product":   ["P1", "P1", "P2", "P2", "P1", "P1", "P2"],
        "event":     ["E1", "E2", "E1", "E2", "E1", "E1", "E1"],
        "sex":       ["F",  "F",  "F",  "F",  "M",  "M",  "M"],
    })
    t = _pairs(_count(rows, ["sex"]))
    # (P1, E1): a = f1, m1, m2 = 3
    #   F: n_P1 = 2 (f1, f2), n_E1 = 2 (f1, f3), n = 4 -> 1
    #   M: n_P1 = 2 (m1, m2), n_E1 = 2 (m1, m2), n = 2 -> 2;  E = 3
    assert t.loc[("P1", "E1"), "a"] == 3
    assert t.loc[("P1", "E1"), "expected"] == pytest.approx(3.0, rel=1e-12)
    # (P2, E2): F: n_P2 = 2, n_E2 = 2, n = 4 -> 1; M: n_E2 = 0 -> 0; E = 1
    assert t.loc[("P2", "E2"), "expected"] == pytest.approx(1.0, rel=1e-12)
    # unstratified marginals stay overall: n_P1 = 4, n_E1 = 4
    assert t.loc[("P1", "E1"), "n_product"] == 4 and t.loc[("P1", "E1"), "n_event"] == 4
    crude = _pairs(_count(rows))
    assert crude.loc[("P1", "E1"), "expected"] == pytest.approx(4 * 4 / 6, rel=1e-12)


def _openebgm_dat2() -> pd.DataFrame:
    # openEBGM tests/testthat/testA_Counts.R, data 'dat2' (ids 1..10)
    return pd.DataFrame({
        "report_id": [str(i) for i in range(1, 11)],
        "product": ["A", "B", "B", "B", "C", "A", "A", "B", "B", "C"],
        "event": ["e1", "e2", "e2", "e3", "e3", "e2", "e3", "e3", "e3", "e1"],
        "strat1": ["M"] * 5 + ["F"] * 3 + ["M"] * 2,
        "strat2": ["age1"] * 8 + ["age2"] * 2,
    })


@pytest.mark.parametrize("stratified", [False, True])
def test_matches_openebgm_hand_calculation(stratified):
    # Expected N and E hand-calculated in openEBGM's testA_Counts.R ('hand', 'hand_s')
    hand = {("A", "e1"): (1, 0.6, 0.2), ("A", "e2"): (1, 0.9, 0.4 + 2 / 3),
            ("A", "e3"): (1, 1.5, 0.4 + 4 / 3), ("B", "e2"): (2, 1.5, 1.2 + 1 / 3),
            ("B", "e3"): (3, 2.5, 1.7 + 2 / 3), ("C", "e1"): (1, 0.4, 0.7),
            ("C", "e3"): (1, 1.0, 0.9)}
    rows = _openebgm_dat2()
    t = _pairs(_count(rows, ["strat1", "strat2"] if stratified else None))
    assert len(t) == len(hand)
    for key, (n, e_crude, e_strat) in hand.items():
        assert t.loc[key, "a"] == n
        assert t.loc[key, "expected"] == pytest.approx(e_strat if stratified else e_crude, rel=1e-12)


def test_caers_counts_match_openebgm(caers_rows):
    counts = _count(caers_rows)
    # shared/data/caers/README.md and openEBGM vignette: 3,356 reports, 17,189 pairs
    assert counts.n_total == 3356 and counts.n_pairs == 17189
    assert len(counts.products) == 2874 and len(counts.events) == 1328
    t = _pairs(counts)
    # openEBGM x3/x4 vignettes print N and E of these pairs to 10 or 8 decimals; the
    # tolerance is half a unit of the last printed digit.
    for key, n, e, tol in [
            (("1-PHENYLALANINE", "HEART RATE INCREASED"), 1, 0.0360548272, 5e-11),
            (("11 UNSPECIFIED VITAMINS", "ASTHMA"), 1, 0.0038736591, 5e-11),
            (("11 UNSPECIFIED VITAMINS", "CARDIAC FUNCTION TEST"), 1, 0.0002979738, 5e-11),
            (("11 UNSPECIFIED VITAMINS", "DYSPNOEA"), 1, 0.0765792610, 5e-11),
            (("REUMOFAN PLUS", "WEIGHT INCREASED"), 16, 0.40643623, 5e-9),
            (("HYDROXYCUT REGULAR RAPID RELEASE CAPLETS", "EMOTIONAL DISTRESS"), 19, 0.89690107, 5e-9)]:
        assert t.loc[key, "a"] == n
        assert t.loc[key, "expected"] == pytest.approx(e, rel=0, abs=tol)
    # and exactly: E = n_product * n_event / n_total = 1 * 1 / 3356 for a singleton pair
    assert t.loc[("11 UNSPECIFIED VITAMINS", "CARDIAC FUNCTION TEST"), "expected"] == \
        pytest.approx(1 / 3356, rel=1e-12)


def test_stratum_table_route_matches_rows_route(caers_rows):
    """The database path (pre-aggregated per-stratum counts, here from pandas groupby)
    must give the same pairs and expected counts as counting rows."""
    d = caers_rows.drop_duplicates(["report_id", "product", "event"])
    cells = d.groupby(["product", "event", "sex"]).size().rename("a").reset_index()
    n_p = caers_rows.groupby(["product", "sex"])["report_id"].nunique().rename("n_product")
    n_e = caers_rows.groupby(["event", "sex"])["report_id"].nunique().rename("n_event")
    n_t = caers_rows.groupby("sex")["report_id"].nunique().rename("n_total")
    cells = cells.join(n_p, on=["product", "sex"]).join(n_e, on=["event", "sex"]).join(n_t, on="sex")
    agg = counts_from_stratum_table(cells["product"], cells["event"], cells["a"], cells["n_product"],
                                    cells["n_event"], cells["n_total"], cells["sex"])
    ref = _pairs(_count(caers_rows, ["sex"]))
    got = _pairs(agg)
    assert got.index.equals(ref.index)
    np.testing.assert_array_equal(got["a"], ref["a"])
    np.testing.assert_array_equal(got["n_product"], ref["n_product"])
    np.testing.assert_allclose(got["expected"], ref["expected"], rtol=1e-12)


def test_inconsistent_stratum_within_report_rejected():
    rows = pd.DataFrame({"report_id": ["r1", "r1"], "product": ["P", "P"], "event": ["E", "F"],
                         "sex": ["F", "M"]})
    with pytest.raises(SignalInputError, match="different strata"):
        _count(rows, ["sex"])


def test_missing_values_and_too_many_levels_rejected():
    rows = pd.DataFrame({"report_id": ["r1", "r2"], "product": ["P", None], "event": ["E", "E"]})
    with pytest.raises(SignalInputError, match="missing"):
        _count(rows)
    rows = pd.DataFrame({"report_id": [f"r{i}" for i in range(60)], "product": "P", "event": "E",
                         "age": np.arange(60)})
    with pytest.raises(SignalInputError, match="levels"):
        count_pairs(rows["report_id"], rows["product"], rows["event"], rows[["age"]])


def test_event_groups_count_a_report_once_per_group():
    rows = pd.DataFrame({
        "report_id": ["r1", "r1", "r2", "r3"],
        "product":   ["P",  "P",  "P",  "Q"],
        "event":     ["T-cell lymphoma", "Peripheral T-cell lymphoma", "T-cell lymphoma", "Fever"],
    })
    groups = {"T-cell lymphoma": "T-cell malignancies",
              "Peripheral T-cell lymphoma": ["T-cell malignancies", "Lymphomas"]}
    kept = map_event_groups(rows, groups)
    t = _pairs(_count(kept))
    assert t.loc[("P", "T-cell malignancies"), "a"] == 2  # r1 (two terms) + r2
    assert t.loc[("P", "Lymphomas"), "a"] == 1
    assert t.loc[("Q", "Fever"), "a"] == 1            # unmapped term kept
    assert _count(kept).n_total == 3
    dropped = map_event_groups(rows, groups, unmapped="drop")
    assert set(dropped["event"]) == {"T-cell malignancies", "Lymphomas"}
    assert _count(dropped).n_total == 2


def test_comparator_restricts_background():
    rows = pd.DataFrame({
        "report_id": ["r1", "r2", "r3", "r3", "r4"],
        "product":   ["CAR1", "CAR2", "CAR1", "OTHER", "OTHER"],
        "event":     ["E", "F", "E", "E", "E"],
    })
    kept = restrict_to_comparator(rows, {"CAR1", "CAR2"})
    counts = _count(kept)
    assert counts.n_total == 3  # r4 names no comparator product
    assert "OTHER" not in set(counts.products)
    t = _pairs(counts)
    assert t.loc[("CAR1", "E"), "n_event"] == 2  # r1, r3 (r4 left the background)


def test_row_order_and_label_types_do_not_matter(caers_rows):
    ref = _pairs(_count(caers_rows, ["sex"]))
    shuffled = caers_rows.sample(frac=1.0, random_state=3)
    got = _pairs(_count(shuffled, ["sex"]))
    pd.testing.assert_frame_equal(got, ref)
    as_cat = caers_rows.astype({"product": "category", "event": "category"})
    got = _pairs(_count(as_cat, ["sex"]))
    pd.testing.assert_frame_equal(got.sort_index(), ref.sort_index(), check_index_type=False)


@pytest.mark.parametrize("ordered", [True, False], ids=["rows-by-report", "shuffled"])
@pytest.mark.parametrize("n_strata", [1, 3])
def test_count_codes_one_sort_by_report_equals_three_sorts(ordered, n_strata):
    """The one-sort route (keys by report) against the three-sort route (keys by pair),
    on rows with repeats, sparse ids and strata; both reject a report in two strata alike."""
    from pv_service.signals.counts import count_codes
    rng = np.random.default_rng(7 + n_strata)
    n, n_p, n_e = 20_000, 37, 23
    report = rng.integers(0, 3_000, n) * 1_000_003 - 17
    if ordered:
        report = np.sort(report)
    product, event = rng.integers(0, n_p, n).astype(np.int32), rng.integers(0, n_e, n).astype(np.int32)
    of_report = rng.integers(0, n_strata, 3_000)
    stratum = of_report[(report + 17) // 1_000_003].astype(np.int8) if n_strata > 1 else None
    one = count_codes(report.copy(), product, event, stratum, n_p, n_e, n_strata, by_report=True)
    three = count_codes(report.copy(), product, event, stratum, n_p, n_e, n_strata, by_report=False)
    for x, y in zip(one, three):
        np.testing.assert_array_equal(x, y)
    assert one[2].sum() == len(set(zip(report, product, event)))
    if n_strata > 1:
        stratum[5] = (stratum[5] + 1) % n_strata
        for by_report in (True, False):
            with pytest.raises(SignalInputError, match="1 report.s. have rows in different strata"):
                count_codes(report.copy(), product, event, stratum, n_p, n_e, n_strata, by_report=by_report)


def test_count_codes_with_more_cells_than_32_bit_keys_hold():
    """Pair codes beyond 2^32 (many products x events): the one-sort route then sorts
    int64 cell keys; the same counts as the three-sort route."""
    from pv_service.signals.counts import count_codes
    rng = np.random.default_rng(3)
    n, n_p, n_e = 5_000, 100_000, 60_000
    report = np.sort(rng.integers(0, 800, n))
    product = rng.choice([0, 5, 99_999], n).astype(np.int32)
    event = rng.choice([1, 30_000, 59_999], n).astype(np.int32)
    one = count_codes(report.copy(), product, event, None, n_p, n_e, by_report=True)
    three = count_codes(report.copy(), product, event, None, n_p, n_e, by_report=False)
    for x, y in zip(one, three):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.uint32, np.int64])
@pytest.mark.parametrize("size", [0, 1, 2, 3, 1_000, 1_001])
def test_sort_in_place_on_two_threads_equals_numpy_sort(monkeypatch, dtype, size):
    """The split sort (partition at the median, halves on two threads) gives np.sort's
    array, with many repeats (the median value on both sides) and without."""
    from pv_service.signals import sorting
    monkeypatch.setattr(sorting, "_PARALLEL_SORT_MIN", 2)
    monkeypatch.setattr(sorting, "_CPUS", 2)
    rng = np.random.default_rng(size)
    for high in (3, 2**31 - 1):
        values = rng.integers(0, high, size).astype(dtype)
        expected = np.sort(values)
        sorting.sort_in_place(values)
        np.testing.assert_array_equal(values, expected)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 1_000, 1_001])
def test_argsort_on_two_threads_orders_like_numpy(monkeypatch, size):
    """The split argsort (halves on two threads, merged by a stable sort) is a permutation
    that orders the values as np.argsort does (ties, nan and -0.0 included)."""
    from pv_service.signals import sorting
    monkeypatch.setattr(sorting, "_PARALLEL_SORT_MIN", 2)
    monkeypatch.setattr(sorting, "_CPUS", 2)
    rng = np.random.default_rng(size)
    for values in (rng.random(size), np.round(rng.random(size), 1), rng.integers(0, 5, size) * 1.0):
        if size > 3:
            values[:3] = (np.nan, -0.0, 0.0)
        order = sorting.argsort(values)
        np.testing.assert_array_equal(np.sort(order), np.arange(size))
        np.testing.assert_array_equal(values[order], values[np.argsort(values)])


def test_count_codes_the_same_with_sorts_split_over_threads(monkeypatch):
    """Counting with every sort split (thresholds lowered) gives the unsplit counts."""
    from pv_service.signals import counts, sorting
    rng = np.random.default_rng(11)
    n, n_p, n_e = 30_000, 41, 29
    report = rng.integers(0, 4_000, n)  # unordered: the first sort is a quicksort too
    product, event = rng.integers(0, n_p, n).astype(np.int32), rng.integers(0, n_e, n).astype(np.int32)
    plain = [counts.count_codes(report.copy(), product, event, None, n_p, n_e, by_report=b) for b in (True, False)]
    monkeypatch.setattr(sorting, "_PARALLEL_SORT_MIN", 16)
    monkeypatch.setattr(sorting, "_CPUS", 2)
    split = [counts.count_codes(report.copy(), product, event, None, n_p, n_e, by_report=b) for b in (True, False)]
    for a, b in zip(plain, split):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)

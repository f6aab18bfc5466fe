"""Closed-form measures against hand-worked numbers and independent routes (scipy)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from pv_service.signals import measures as m

REL = 1e-8  # closed forms must agree to 1e-8 relative

# Hand-worked 2x2 table: a=10, b=90, c=40, d=1860, n=2000.
A, B, C, D = 10, 90, 40, 1860


def test_two_by_two_from_marginals():
    # n_product = a+b = 100, n_event = a+c = 50, n_total = 2000
    a, b, c, d = m.two_by_two(10, 100, 50, 2000)
    assert (a, b, c, d) == (10, 90, 40, 1860)
    assert m.expected_count(100, 50, 2000) == pytest.approx(2.5, rel=REL)  # 100*50/2000


def test_prr_hand_worked():
    # PRR = (10/100) / (40/1900) = 0.1 / 0.021052631578947 = 4.75
    # var(ln PRR) = 1/10 - 1/100 + 1/40 - 1/1900 = 0.1144736842105263
    # CI = 4.75 * exp(-/+ 1.96 * 0.338339...) = 4.75 * exp(-/+ 0.663145...) = (2.4473, 9.2192)
    est, lo, hi = m.prr(A, B, C, D)
    se = math.sqrt(0.1144736842105263)
    assert est == pytest.approx(4.75, rel=REL)
    assert lo == pytest.approx(4.75 * math.exp(-1.96 * se), rel=REL)
    assert hi == pytest.approx(4.75 * math.exp(1.96 * se), rel=REL)
    assert lo == pytest.approx(2.4473, abs=1e-4) and hi == pytest.approx(9.2192, abs=1e-4)


def test_ror_woolf_hand_worked():
    # ROR = (10*1860)/(90*40) = 18600/3600 = 31/6 = 5.1666...
    # var(ln ROR) = 1/10 + 1/90 + 1/40 + 1/1860 = 0.13664874551971326
    est, lo, hi = m.ror(A, B, C, D)
    se = math.sqrt(0.1 + 1 / 90 + 0.025 + 1 / 1860)
    assert se == pytest.approx(math.sqrt(0.13664874551971326), rel=1e-12)
    assert est == pytest.approx(31 / 6, rel=REL)
    assert lo == pytest.approx(31 / 6 * math.exp(-1.96 * se), rel=REL)
    assert hi == pytest.approx(31 / 6 * math.exp(1.96 * se), rel=REL)


def test_chi2_yates_hand_worked():
    # |ad - bc| = |18600 - 3600| = 15000; minus n/2 = 1000 -> 14000
    # chi2 = 2000 * 14000^2 / (100 * 1900 * 50 * 1950) = 3.92e11 / 1.8525e10
    assert m.chi2_yates(A, B, C, D) == pytest.approx(3.92e11 / 1.8525e10, rel=REL)
    assert m.chi2_yates(A, B, C, D) == pytest.approx(21.160593792172, rel=1e-10)


def test_chi2_yates_matches_scipy():
    rng = np.random.default_rng(7)
    tables = rng.integers(0, 60, size=(300, 4))
    tables[:, 0] = np.maximum(tables[:, 0], 1)
    tables[::7, 2] = 0  # some zero cells
    for a, b, c, d in tables:
        obs = np.array([[a, b], [c, d]])
        if (obs.sum(0) == 0).any() or (obs.sum(1) == 0).any():
            continue
        ref = stats.chi2_contingency(obs, correction=True)[0]
        assert m.chi2_yates(a, b, c, d) == pytest.approx(ref, rel=REL, abs=1e-12)


def test_ic_is_zero_when_observed_equals_expected():
    # a = 2; E = 4 * 5 / 10 = 2 -> log2((2 + 0.5)/(2 + 0.5)) = 0
    e = m.expected_count(4, 5, 10)
    assert e == 2
    assert m.information_component(2, e) == 0.0


def test_ic_hand_worked_and_gamma_limits():
    # E = 2.5, a = 10: IC = log2(10.5 / 3) = log2(3.5)
    est, lo, hi = m.ic(10, 2.5)
    assert est == pytest.approx(math.log2(3.5), rel=REL)
    # Noren 2013: limits are log2 of Gamma(shape=a+0.5, rate=E+0.5) quantiles
    gamma = stats.gamma(a=10.5, scale=1 / 3.0)
    assert lo == pytest.approx(math.log2(gamma.ppf(0.025)), rel=REL)
    assert hi == pytest.approx(math.log2(gamma.ppf(0.975)), rel=REL)


def test_ic_limits_of_many_pairs_match_gamma_quantiles():
    """Past 1,000 pairs the gamma quantiles are taken once per distinct count (shared
    by both limits); checked against scipy.stats, pair by pair, on a 2-D input too."""
    rng = np.random.default_rng(4)
    a = rng.integers(0, 40, 3000).astype(float)
    e = rng.lognormal(0.0, 1.5, 3000)
    est, lo, hi = m.ic(a.reshape(60, 50), e.reshape(60, 50))
    assert lo.shape == hi.shape == (60, 50)
    gamma = stats.gamma(a=a + 0.5, scale=1 / (e + 0.5))
    np.testing.assert_allclose(lo.ravel(), np.log2(gamma.ppf(0.025)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hi.ravel(), np.log2(gamma.ppf(0.975)), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(m.ic_credibility(a, e, 0.975), hi.ravel())


def test_ror_and_prr_identity_and_rare_event_limit():
    # exact identity ROR / PRR = d (a+b) / (b (c+d))
    ror = m.ror(A, B, C, D).estimate
    prr = m.prr(A, B, C, D).estimate
    assert ror / prr == pytest.approx(D * (A + B) / (B * (C + D)), rel=1e-12)
    # when a << b and c << d the two coincide
    a, b, c, d = 5.0, 1e9, 5.0, 1e12
    assert m.ror(a, b, c, d).estimate == pytest.approx(m.prr(a, b, c, d).estimate, rel=1e-8)


def test_zero_cells_give_inf_nan_without_warnings():
    a = np.array([3.0, 3.0, 3.0, 3.0])
    b = np.array([5.0, 0.0, 5.0, 0.0])
    c = np.array([0.0, 4.0, 4.0, 0.0])
    d = np.array([100.0, 100.0, 0.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prr = m.prr(a, b, c, d)
        ror = m.ror(a, b, c, d)
        chi2 = m.chi2_yates(a, b, c, d)
        ic = m.ic(a, a + 1)
    assert np.isinf(prr.estimate[0]) and prr.lower[0] == 0 and np.isinf(prr.upper[0])
    assert np.isinf(ror.estimate[1]) and ror.lower[1] == 0 and np.isinf(ror.upper[1])
    assert ror.estimate[2] == 0 and ror.lower[2] == 0 and np.isinf(ror.upper[2])
    assert np.isnan(ror.estimate[3]) and np.isnan(ror.lower[3]) and np.isnan(ror.upper[3])
    assert np.isnan(chi2[3])  # zero marginal: the statistic is undefined
    assert np.isfinite(ic.estimate).all()


# Two strata, worked by hand:
#   s1: a=4, b=16, c=6,  d=74,  n=100
#   s2: a=2, b=8,  c=10, d=180, n=200
S1 = (4, 16, 6, 74)
S2 = (2, 8, 10, 180)


def _dense(*tables):
    arr = np.array(tables, dtype=float).T  # rows a, b, c, d; columns strata
    a, b, c, d = arr[:, None, :]  # one pair, S strata
    return m.mh_sums(a, a + b, a + c, a + b + c + d)


def test_mantel_haenszel_odds_ratio_hand_worked():
    # sum ad/n = 4*74/100 + 2*180/200 = 2.96 + 1.8 = 4.76
    # sum bc/n = 16*6/100 + 8*10/200 = 0.96 + 0.4 = 1.36 -> OR_MH = 3.5
    # RBG: P = (0.78, 0.91), Q = (0.22, 0.09), R = (2.96, 1.8), S = (0.96, 0.4)
    #   sum PR = 3.9468, sum(PS + QR) = 1.4 + 0.526 = 1.926, sum QS = 0.2472
    var = 3.9468 / (2 * 4.76**2) + 1.926 / (2 * 4.76 * 1.36) + 0.2472 / (2 * 1.36**2)
    est, lo, hi = m.mh_ror(_dense(S1, S2))
    assert est[0] == pytest.approx(3.5, rel=REL)
    assert lo[0] == pytest.approx(3.5 * math.exp(-1.96 * math.sqrt(var)), rel=REL)
    assert hi[0] == pytest.approx(3.5 * math.exp(1.96 * math.sqrt(var)), rel=REL)


def test_mantel_haenszel_risk_ratio_hand_worked():
    # sum a(c+d)/n = 4*80/100 + 2*190/200 = 3.2 + 1.9 = 5.1
    # sum c(a+b)/n = 6*20/100 + 10*10/200 = 1.2 + 0.5 = 1.7 -> RR_MH = 3
    # Greenland-Robins: sum[(a+b)(a+c)(c+d)/n^2 - ac/n] = (1.6 - 0.24) + (0.57 - 0.1) = 1.83
    var = 1.83 / (5.1 * 1.7)
    est, lo, hi = m.mh_rr(_dense(S1, S2))
    assert est[0] == pytest.approx(3.0, rel=REL)
    assert lo[0] == pytest.approx(3.0 * math.exp(-1.96 * math.sqrt(var)), rel=REL)
    assert hi[0] == pytest.approx(3.0 * math.exp(1.96 * math.sqrt(var)), rel=REL)


def test_cochran_mantel_haenszel_chi2_hand_worked():
    # sum a = 6; sum E = 20*10/100 + 10*12/200 = 2.6
    # Var = 20*80*10*90/(100^2*99) + 10*190*12*188/(200^2*199)
    var = 1_440_000 / 990_000 + 4_286_400 / 7_960_000
    assert m.cmh_chi2(_dense(S1, S2))[0] == pytest.approx((6 - 2.6 - 0.5) ** 2 / var, rel=REL)


def test_single_stratum_mh_equals_crude():
    sums = _dense((A, B, C, D))
    for mh, crude in ((m.mh_ror(sums), m.ror(A, B, C, D)), (m.mh_rr(sums), m.prr(A, B, C, D))):
        for x, y in zip(mh, crude):
            assert x[0] == pytest.approx(float(y), rel=1e-10)

"""MGPS: likelihood, fit and posterior against scipy, numerical integration, simulation
and openEBGM's published results on the same CAERS data."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from pv_service.signals import mgps
from pv_service.signals.compute import compute_signals
from pv_service.signals.mgps import Prior

# openEBGM x3 vignette, autoHyper(processRaw(caers), squashed = FALSE): unstratified,
# no zero counts, N_star = 1, likelihood negLL (each component truncated at zero).
OPENEBGM_FULL = Prior(3.25596617, 0.39998845, 2.02374464, 1.90612821, 0.06530723)
OPENEBGM_FULL_NLL = 4162.456
# openEBGM x4 vignette: autoHyper on squashData(processed) then count = 2, bin_size = 10,
# keep_bins = 5; these estimates feed the EB scores printed there.
OPENEBGM_SQUASHED = Prior(3.25379064, 0.39988801, 2.02613219, 1.90808279, 0.06534557)
DUMOUCHEL_START = (0.2, 0.1, 2.0, 4.0, 1 / 3)

PRIOR = Prior(2.0, 0.5, 5.0, 5.0, 0.1)


def test_nb_logpmf_matches_scipy():
    n = np.array([0, 1, 2, 5, 40, 300])
    e = np.array([1e-4, 0.03, 0.7, 2.0, 15.0, 250.0])
    for alpha, beta in [(0.2, 0.1), (3.3, 0.4), (50.0, 40.0)]:
        ref = stats.nbinom.logpmf(n, alpha, beta / (beta + e))
        np.testing.assert_allclose(mgps.nb_logpmf(n, alpha, beta, e), ref, rtol=1e-10)


def test_marginal_by_distinct_count_is_the_same_numbers():
    """The final log-likelihood takes the gamma functions once per distinct count; each
    point's value must be exactly the per-point formula's (a wrong index would shift
    them), for gamma and point-mass components and every truncation."""
    rng = np.random.default_rng(7)
    n = rng.integers(1, 40, 5000).astype(float)
    e = rng.lognormal(-1, 2.0, 5000)
    pts = mgps._Points.build(n, e, np.ones_like(e))
    for prior in (PRIOR, Prior.from_means(4.0, 2.0, 0.9, np.inf, 0.3)):
        for truncation in (None, "component", "mixture"):
            direct = mgps.log_marginal(prior, n, e, truncation)
            tabled = mgps.log_marginal(prior, n, e, truncation, by_count=(pts.n_values, pts.n_index))
            assert np.array_equal(direct, tabled)
        total = mgps._total_ll(prior, pts, "mixture")
        assert total == pytest.approx(float(np.sum(mgps.log_marginal(prior, n, e, "mixture"))), rel=1e-13)


def test_marginal_is_poisson_gamma_integral():
    """P(N = n) = integral of Poisson(n; lambda E) x prior(lambda) d lambda (DuMouchel eq. 5)."""
    for n, e in [(1, 0.05), (3, 0.8), (12, 4.0)]:
        def integrand(lam):
            prior = (PRIOR.p * stats.gamma.pdf(lam, PRIOR.alpha1, scale=1 / PRIOR.beta1)
                     + (1 - PRIOR.p) * stats.gamma.pdf(lam, PRIOR.alpha2, scale=1 / PRIOR.beta2))
            return stats.poisson.pmf(n, lam * e) * prior
        ref = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-12, limit=200)[0]
        assert np.exp(mgps.log_marginal(PRIOR, n, e)) == pytest.approx(ref, rel=1e-8)


def test_truncated_likelihoods_match_direct_formulas():
    rng = np.random.default_rng(1)
    n = rng.integers(1, 30, 200)
    e = rng.lognormal(-1, 1.5, 200)
    w = rng.integers(1, 5, 200)
    th = PRIOR.as_array()

    def f(k, a, b):
        return stats.nbinom.pmf(n, a, b / (b + e)) if k else stats.nbinom.pmf(0, a, b / (b + e))

    f1, f2 = f(1, th[0], th[1]), f(1, th[2], th[3])
    z1, z2 = f(0, th[0], th[1]), f(0, th[2], th[3])
    p = th[4]
    # openEBGM negLLsquash: sum -w log(P f1/(1-f1(0)) + (1-P) f2/(1-f2(0)))
    ref_component = -np.sum(w * np.log(p * f1 / (1 - z1) + (1 - p) * f2 / (1 - z2)))
    # marginal of the mixture divided by its own P(N >= 1)
    ref_mixture = -np.sum(w * np.log((p * f1 + (1 - p) * f2) / (1 - p * z1 - (1 - p) * z2)))
    assert mgps.neg_log_likelihood(th, n, e, w, "component") == pytest.approx(ref_component, rel=1e-10)
    assert mgps.neg_log_likelihood(th, n, e, w, "mixture") == pytest.approx(ref_mixture, rel=1e-10)


@pytest.mark.parametrize("truncation", mgps.TRUNCATIONS)
def test_gradient_matches_finite_differences(truncation):
    rng = np.random.default_rng(2)
    pts = mgps._Points.build(rng.integers(1, 20, 500), rng.lognormal(-1, 1.5, 500), np.ones(500))
    x0 = mgps._to_x(Prior(0.7, 0.3, 3.0, 2.5, 0.2))
    value = lambda x: mgps._objective(x, pts, truncation)[0]  # noqa: E731
    grad = mgps._objective(x0, pts, truncation)[1]
    numeric = optimize.approx_fprime(x0, value, 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_posterior_weight_ebgm_and_quantiles_by_integration():
    """Q_n, EBGM and EB05/EB95 against direct numerical integration of the posterior
    density prior(lambda) x Poisson(n; lambda E)."""
    cases = [(1, 0.02), (1, 1.5), (4, 0.3), (25, 5.0), (200, 180.0)]
    n = np.array([c[0] for c in cases], dtype=float)
    e = np.array([c[1] for c in cases])
    q = mgps.posterior_weight(PRIOR, n, e)
    g = mgps.ebgm(PRIOR, n, e)
    q05 = mgps.posterior_quantile(PRIOR, n, e, 0.05)
    q95 = mgps.posterior_quantile(PRIOR, n, e, 0.95)
    for i, (ni, ei) in enumerate(cases):
        def joint(lam, k):
            a, b = ((PRIOR.alpha1, PRIOR.beta1), (PRIOR.alpha2, PRIOR.beta2))[k]
            w = PRIOR.p if k == 0 else 1 - PRIOR.p
            return w * stats.gamma.pdf(lam, a, scale=1 / b) * stats.poisson.pmf(ni, lam * ei)

        hi = 50 * (ni + 10) / ei
        mass = [integrate.quad(joint, 0, hi, args=(k,), epsabs=0, epsrel=1e-12, limit=400,
                               points=[ni / ei])[0] for k in (0, 1)]
        total = sum(mass)
        assert q[i] == pytest.approx(mass[0] / total, rel=1e-7)

        def post(lam):
            return (joint(lam, 0) + joint(lam, 1)) / total

        mean_log = integrate.quad(lambda x: np.log(x) * post(x), 0, hi, epsabs=0, epsrel=1e-12,
                                  limit=400, points=[ni / ei])[0]
        assert g[i] == pytest.approx(np.exp(mean_log), rel=1e-7)
        for qq, prob in ((q05[i], 0.05), (q95[i], 0.95)):
            cdf = integrate.quad(post, 0, qq, epsabs=0, epsrel=1e-12, limit=400)[0]
            assert cdf == pytest.approx(prob, abs=1e-8)
        assert q05[i] < g[i] < q95[i]


def test_ebgm_shrinks_small_counts_to_prior_and_follows_large_counts():
    prior = Prior(1.0, 1.0, 10.0, 10.0, 0.3)  # both components centred on lambda = 1
    # n = 1 with E = 0.01: observed/expected = 100, but one report is weak evidence
    small = mgps.ebgm(prior, 1, 0.01)[()]
    assert small > 1.0 and small < 3.0
    assert abs(np.log(small)) < 0.25 * np.log(100)
    # n = 2000 with E = 200: the data dominate and EBGM -> n/E = 10
    large = mgps.ebgm(prior, 2000, 200.0)[()]
    assert large == pytest.approx(10.0, rel=0.01)
    # monotone approach to n/E as the same ratio is seen with more reports
    ratios = [mgps.ebgm(prior, 10 * k, 1.0 * k)[()] for k in (1, 10, 100, 1000)]
    assert all(np.diff(ratios) > 0) and ratios[-1] == pytest.approx(10.0, rel=0.01)


def test_fit_recovers_simulated_hyperparameters():
    """Draw lambda from a known gamma mixture, N ~ Poisson(lambda E), drop zeros, fit.
    The truth must lie inside the 99% likelihood-ratio confidence region
    (2 * (logL(fit) - logL(truth)) < chi2_5(0.99) = 15.09) and the estimates close to it."""
    truth = PRIOR
    rng = np.random.default_rng(20240601)
    m = 400_000
    e = np.exp(rng.normal(np.log(0.3), 1.3, m))
    first = rng.random(m) < truth.p
    lam = np.where(first, rng.gamma(truth.alpha1, 1 / truth.beta1, m),
                   rng.gamma(truth.alpha2, 1 / truth.beta2, m))
    n = rng.poisson(lam * e)
    n, e = n[n > 0], e[n > 0]
    fit = mgps.fit_prior(n, e)  # auto: squashed multi-start, refined on all ~140k pairs
    assert fit.converged and fit.squashed
    ll_truth = -mgps.neg_log_likelihood(truth.as_array(), n, e)
    assert 0 <= 2 * (fit.log_likelihood - ll_truth) < stats.chi2.ppf(0.99, 5)
    est = fit.prior
    for got, want in ((est.alpha1, 2.0), (est.beta1, 0.5), (est.alpha2, 5.0), (est.beta2, 5.0)):
        assert got == pytest.approx(want, rel=0.3)
    assert est.p == pytest.approx(0.1, abs=0.03)


def test_squashing_changes_little(caers_rows):
    base = compute_signals(caers_rows, prior=None, squash=False)
    squashed = compute_signals(caers_rows, prior=None, squash=True)
    # refinement on all data makes the squashed route land on the same optimum
    assert squashed.fit.log_likelihood == pytest.approx(base.fit.log_likelihood, abs=1e-4)
    np.testing.assert_allclose(squashed.table["eb05"], base.table["eb05"], rtol=1e-3)


def test_caers_fit_reproduces_openebgm(caers_rows):
    """Same data, same likelihood (negLL, component truncation, all 17,189 pairs) and
    openEBGM's first starting point reproduce its published estimate within the
    tolerances autoHyper itself uses to call two estimates the same."""
    table = compute_signals(caers_rows, prior=OPENEBGM_FULL).table
    n, e = table["n"].to_numpy(), table["expected"].to_numpy()
    nll = mgps.neg_log_likelihood(OPENEBGM_FULL.as_array(), n, e, truncation="component")
    assert nll == pytest.approx(OPENEBGM_FULL_NLL, abs=5e-4)  # printed to 3 decimals
    fit = mgps.fit_prior(n, e, truncation="component", starts=[DUMOUCHEL_START],
                         squash_data=False)
    assert fit.converged
    diff = np.abs(fit.prior.canonical().as_array() - OPENEBGM_FULL.canonical().as_array())
    assert np.all(diff < mgps.AGREEMENT_TOL)
    assert -fit.log_likelihood == pytest.approx(OPENEBGM_FULL_NLL, abs=5e-4)
    # The likelihood has a second, higher maximum that openEBGM's five starts miss
    # (checked here by evaluating it, independently of any optimiser) ...
    other = Prior(20.95777, 1.657759, 1.738313, 1.564259, 0.03493785)
    other_nll = mgps.neg_log_likelihood(other.as_array(), n, e, truncation="component")
    assert other_nll == pytest.approx(4162.1808, abs=1e-3)
    # ... and our default starts reach it.
    best = mgps.fit_prior(n, e, truncation="component")
    assert best.converged and -best.log_likelihood == pytest.approx(other_nll, abs=1e-4)


def test_caers_scores_reproduce_openebgm_vignette(caers_rows):
    """EBGM/QUANT_05/QUANT_95 printed in openEBGM's x4 vignette for its hyperparameters.
    openEBGM rounds to 2 decimals and bisects quantiles to +-0.005, hence +-0.01."""
    t = compute_signals(caers_rows, prior=OPENEBGM_SQUASHED).table.set_index(["product", "event"])
    printed = [
        (("1-PHENYLALANINE", "HEART RATE INCREASED"), 2.23, 0.49, 13.85),
        (("11 UNSPECIFIED VITAMINS", "ASTHMA"), 2.58, 0.52, 15.78),
        (("11 UNSPECIFIED VITAMINS", "CARDIAC FUNCTION TEST"), 2.63, 0.52, 16.02),
        (("11 UNSPECIFIED VITAMINS", "CHEST PAIN"), 2.23, 0.49, 13.85),
        (("11 UNSPECIFIED VITAMINS", "DYSPNOEA"), 1.92, 0.47, 11.77),
        (("11 UNSPECIFIED VITAMINS", "HYPERSENSITIVITY"), 2.09, 0.48, 12.95),
        (("REUMOFAN PLUS", "WEIGHT INCREASED"), 23.26, 15.68, 33.48),
        (("HYDROXYCUT REGULAR RAPID RELEASE CAPLETS", "EMOTIONAL DISTRESS"), 16.78, 11.65, 23.55),
        (("REUMOFAN PLUS", "IMMOBILE"), 18.28, 10.16, 30.83),
        (("HYDROXYCUT HARDCORE CAPSULES", "CARDIO-RESPIRATORY DISTRESS"), 15.25, 9.00, 24.52),
        (("HYDROXYCUT REGULAR RAPID RELEASE CAPLETS", "INJURY"), 14.28, 8.98, 21.78),
    ]
    for key, g, q05, q95 in printed:
        assert t.loc[key, "ebgm"] == pytest.approx(g, abs=0.0051)
        assert t.loc[key, "eb05"] == pytest.approx(q05, abs=0.01)
        assert t.loc[key, "eb95"] == pytest.approx(q95, abs=0.01)
    # "nrow(suspicious)": 131 of 17,189 pairs have QUANT_05 >= 2
    assert int((t["eb05"].round(2) >= 2).sum()) == 131
    top5 = t.sort_values("eb05", ascending=False).index[:5].tolist()
    assert top5 == [key for key, *_ in printed[6:11]]


def test_quantile_edge_cases():
    # Q_n = 0 or 1 reduces to one gamma; equal components too
    one = Prior(3.0, 2.0, 3.0, 2.0, 0.5)
    n, e = np.array([1.0, 7.0]), np.array([0.5, 3.0])
    ref = special.gammaincinv(3.0 + n, 0.05) / (2.0 + e)
    np.testing.assert_allclose(mgps.posterior_quantile(one, n, e, 0.05), ref, rtol=1e-12)
    assert mgps.posterior_quantile(PRIOR, np.array([], dtype=float), np.array([]), 0.05).size == 0


def _brentq_quantile(prior, n, e, q, prob, guess):
    """The posterior `prob` quantile of one point by root finding on the two-gamma mixture's CDF
    (an independent route: bracketed around `guess`, to 1e-15)."""
    def cdf(x):
        return (q * special.gammainc(prior.alpha1 + n, (prior.beta1 + e) * x)
                + (1 - q) * special.gammainc(prior.alpha2 + n, (prior.beta2 + e) * x) - prob)
    return optimize.brentq(cdf, guess * 0.5, guess * 2, xtol=1e-300, rtol=1e-15, maxiter=500)


@pytest.mark.parametrize("prior", [
    Prior(6.28, 4.70, 13.47, 15.58, 0.29),        # the wide generated data's fit: both components weigh
    Prior(3.42, 0.625, 1705.6, 1706.3, 0.00016),  # the narrow one's: a rare spread component, a sharp one
])
def test_quantile_search_matches_brentq(prior):
    """The Halley search (moment-matched or one-component start) against scipy's brentq
    on the same mixture CDF, solved to machine precision: within the 1e-12 asked for,
    also where the start is far off (rare wide component, weight ~1e-4)."""
    rng = np.random.default_rng(5)
    n = np.concatenate([rng.integers(1, 4, 300), rng.integers(4, 300, 100)]).astype(float)
    e = np.concatenate([rng.lognormal(-1, 1.5, 300), rng.uniform(0.5, 1.5, 100) * n[300:]])
    q = mgps.posterior_weight(prior, n, e)
    for prob in (0.05, 0.95):
        got = mgps.posterior_quantile(prior, n, e, prob)
        for i in range(0, n.size, 7):
            assert got[i] == pytest.approx(_brentq_quantile(prior, n[i], e[i], q[i], prob, got[i]), rel=1e-12), \
                (n[i], e[i], q[i])


@pytest.mark.parametrize("prior", [
    Prior(6.28, 4.70, 13.47, 15.58, 0.29),
    Prior(3.42, 0.625, 1705.6, 1706.3, 0.00016),
])
def test_posterior_scores_interpolated_starts_match_brentq(prior):
    """posterior_scores starts most quantile searches from values interpolated between
    neighbours of the same count (points sorted by n, E); checked against brentq, on
    many points per count (so the interpolation is used) and counts with a few points."""
    rng = np.random.default_rng(11)
    n = np.concatenate([rng.integers(1, 4, 6_000), rng.integers(4, 60, 400)]).astype(float)
    e = np.concatenate([rng.lognormal(-1, 1.5, 6_000), rng.uniform(0.5, 1.5, 400) * n[6_000:]])
    _, q05, q95 = mgps.posterior_scores(prior, n, e)
    q = mgps.posterior_weight(prior, n, e)
    for prob, got in ((0.05, q05), (0.95, q95)):
        for i in range(0, n.size, 31):
            assert got[i] == pytest.approx(_brentq_quantile(prior, n[i], e[i], q[i], prob, got[i]), rel=1e-12), \
                (n[i], e[i], q[i])
        np.testing.assert_allclose(got, mgps.posterior_quantile(prior, n, e, prob), rtol=2e-12)


def _two_gamma_sample(m: int, seed: int):
    truth = PRIOR
    rng = np.random.default_rng(seed)
    e = np.exp(rng.normal(np.log(0.3), 1.3, m))
    first = rng.random(m) < truth.p
    lam = np.where(first, rng.gamma(truth.alpha1, 1 / truth.beta1, m),
                   rng.gamma(truth.alpha2, 1 / truth.beta2, m))
    n = rng.poisson(lam * e)
    return n[n > 0].astype(float), e[n > 0]


def test_coarse_multi_start_lands_where_the_usual_squash_does(monkeypatch):
    """The starts run on a coarse squash and the best optima are polished on the usual
    one; with the coarse squash switched off (as fine as the usual one) the fit must
    reach the same estimate, message and agreement count."""
    n, e = _two_gamma_sample(200_000, 7)
    n_u, e_u, w_u, _ = mgps.collapse_ties(n, e)
    coarse = mgps.squash(n_u, e_u, w_u, bins_per_count=mgps._COARSE_BINS, keep_top=mgps._COARSE_TOP)
    assert coarse[0].size < 0.7 * mgps.squash(n_u, e_u, w_u)[0].size  # the coarse route is taken
    fast = mgps.fit_prior(n, e)
    monkeypatch.setattr(mgps, "_COARSE_BINS", 500)
    monkeypatch.setattr(mgps, "_COARSE_TOP", 50)
    usual = mgps.fit_prior(n, e)
    assert fast.converged and fast.squashed and usual.converged
    assert fast.message == usual.message and fast.n_agree == usual.n_agree
    assert fast.log_likelihood == pytest.approx(usual.log_likelihood, abs=1e-6)
    np.testing.assert_allclose(fast.prior.as_array(), usual.prior.as_array(), rtol=1e-4)


def test_finite_difference_hessian_inverse():
    a = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    quadratic = lambda x: (0.5 * x @ a @ x, a @ x)  # noqa: E731
    np.testing.assert_allclose(mgps._fd_hess_inv(quadratic, np.array([0.3, -1.0, 2.0])),
                               np.linalg.inv(a), rtol=1e-8)
    saddle = lambda x: (0.0, np.array([x[0], -x[1]]))  # noqa: E731
    assert mgps._fd_hess_inv(saddle, np.zeros(2)) is None


def test_interpolated_starts_across_two_counts_raise_no_overflow():
    # a node of count 1 at small E and the next node, of count 2, just above it: the
    # interpolation weight of the count-1 points between them is ~1e7 and exp overflowed
    # (a RuntimeWarning users saw); those starts are discarded, the quantiles unchanged
    prior = mgps.Prior(2.0, 1.0, 5.0, 5.0, 0.2)
    n = np.array([1.0] * 8 + [2.0] * 8)
    e = np.array([1e-3, 1, 10, 100, 300, 1000, 2000, 3000] + [1.0000001e-3 * (1 + i) for i in range(8)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _, lo, hi = mgps.posterior_scores(prior, n, e)
    np.testing.assert_allclose(lo, mgps.posterior_quantile(prior, n, e, 0.05), rtol=1e-11)
    np.testing.assert_allclose(hi, mgps.posterior_quantile(prior, n, e, 0.95), rtol=1e-11)

"""The MGPS prior's fallback order (pv_service.signals.priors) and supplied priors.

A supplied prior must give exactly the posterior of that prior: checked against Bayes'
rule computed with scipy (negative binomial marginals, gamma posteriors, a root search
on the mixture CDF), not against the engine."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, special, stats

from pv_service.signals import compute_signals, mgps, priors
from pv_service.signals.mgps import Prior

SUPPLIED = Prior(1.7, 0.9, 6.0, 5.5, 0.22)


def _by_hand(prior: Prior, n: float, e: float) -> tuple[float, float, float]:
    """EBGM, EB05, EB95 of one pair under a two-gamma prior, from scipy alone."""
    l1 = prior.p * stats.nbinom.pmf(n, prior.alpha1, prior.beta1 / (prior.beta1 + e))
    l2 = (1 - prior.p) * stats.nbinom.pmf(n, prior.alpha2, prior.beta2 / (prior.beta2 + e))
    q = l1 / (l1 + l2)
    g1 = stats.gamma(prior.alpha1 + n, scale=1 / (prior.beta1 + e))
    g2 = stats.gamma(prior.alpha2 + n, scale=1 / (prior.beta2 + e))
    mean_log = q * (special.digamma(prior.alpha1 + n) - math.log(prior.beta1 + e)) \
        + (1 - q) * (special.digamma(prior.alpha2 + n) - math.log(prior.beta2 + e))

    def quantile(prob):
        return optimize.brentq(lambda x: q * g1.cdf(x) + (1 - q) * g2.cdf(x) - prob, 1e-9, 1e4,
                               xtol=1e-13, rtol=1e-13)
    return math.exp(mean_log), quantile(0.05), quantile(0.95)


def test_supplied_prior_gives_exactly_its_posterior(caers_rows):
    table, fit, choice = compute_signals(caers_rows, prior=SUPPLIED, prior_origin="hyper.json")
    assert fit is None and choice.source == "supplied" and choice.origin == "hyper.json"
    assert choice.prior == SUPPLIED
    sample = table.sort_values("n", ascending=False).iloc[[0, 1, 50, 500, 5000, 15000]]
    for _, row in sample.iterrows():
        g, lo, hi = _by_hand(SUPPLIED, row["n"], row["expected"])
        assert row["ebgm"] == pytest.approx(g, rel=1e-10)
        assert row["eb05"] == pytest.approx(lo, rel=1e-9)
        assert row["eb95"] == pytest.approx(hi, rel=1e-9)


def _few_pairs(k: int = 30, seed: int = 3):
    rng = np.random.default_rng(seed)
    e = rng.lognormal(0, 1, k)
    n = rng.poisson(rng.gamma(2.0, 1.0, k) * e) + 1
    return n.astype(float), e


def test_fitted_prior_is_first_when_identifiable(caers_rows):
    _, fit, choice = compute_signals(caers_rows)
    assert choice.source == "fitted" and fit.converged and choice.prior == fit.prior
    assert choice.reason == "" and choice.summary.startswith("fitted prior: converged")


def test_too_few_pairs_fall_back_to_the_configured_prior():
    n, e = _few_pairs()
    choice = priors.choose_prior(n, e, fallback=SUPPLIED, fallback_origin="run 7")
    assert choice.source == "configured" and choice.prior == SUPPLIED and choice.fit is None
    assert "30 pair(s) are too few" in choice.reason
    assert choice.summary == f"configured prior (run 7) (because {choice.reason})"


def test_unidentifiable_fit_falls_back_to_the_configured_prior(monkeypatch):
    n, e = _few_pairs(200)
    monkeypatch.setattr(priors, "fit_prior", lambda n, e, **kw: mgps.MGPSFit(
        prior=SUPPLIED, log_likelihood=math.nan, converged=False, truncation="mixture",
        n_pairs=len(n), n_points=len(n), squashed=False, n_agree=0, message="mixing weight P at 0 or 1"))
    choice = priors.choose_prior(n, e, fallback=SUPPLIED, fallback_origin="alerts/signal_rules.yaml")
    assert choice.source == "configured" and "mixing weight P at 0 or 1" in choice.reason


def test_without_a_configured_prior_a_one_component_gamma_by_maximum_likelihood():
    n, e = _few_pairs()
    choice = priors.choose_prior(n, e)
    assert choice.source == "one_component" and choice.prior.is_single
    # the maximum likelihood of a single gamma, found independently: scipy's
    # zero-truncated negative binomial maximised by Nelder-Mead over (log alpha, log beta)
    def nll(t):
        a, b = np.exp(t)
        f = stats.nbinom.pmf(n, a, b / (b + e))
        return -np.sum(np.log(f / (1 - stats.nbinom.pmf(0, a, b / (b + e)))))
    ref = optimize.minimize(nll, [0.0, 0.0], method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    assert choice.log_likelihood == pytest.approx(-ref.fun, abs=1e-6)
    a, b = np.exp(ref.x)
    assert choice.prior.alpha1 == pytest.approx(a, rel=1e-3)
    assert choice.prior.alpha1 / choice.prior.beta1 == pytest.approx(a / b, rel=1e-4)
    # and the scores are that gamma's posterior: EBGM = exp(psi(alpha + n) - log(beta + E))
    g = mgps.ebgm(choice.prior, n, e)
    np.testing.assert_allclose(g, np.exp(special.digamma(choice.prior.alpha1 + n)
                                         - np.log(choice.prior.beta1 + e)), rtol=1e-12)


def test_none_when_even_one_gamma_reaches_a_point_mass():
    # every pair exactly at its expectation: no spread of reporting ratios at all
    e = np.linspace(0.5, 30, 25)
    n = np.maximum(1, np.round(e))
    choice = priors.choose_prior(n, e)
    assert choice.source == "none" and choice.prior is None
    assert "no fallback prior configured" in choice.reason
    assert "point mass" in choice.reason
    assert choice.summary.startswith("no MGPS prior:") and choice.summary.endswith("left empty")


def test_prior_choice_json_reads_back_as_the_same_prior():
    n, e = _few_pairs()
    choice = priors.choose_prior(n, e, fallback=SUPPLIED, fallback_origin="run 7")
    data = choice.to_dict()
    assert data["source"] == "configured" and data["origin"] == "run 7"
    assert Prior.from_dict(data) == SUPPLIED

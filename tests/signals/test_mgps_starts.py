"""MGPS multi-start: the starts run in rounds and stop once enough agree; that must not
miss a better optimum that the remaining starts would have found."""
from __future__ import annotations

import numpy as np
import pytest

from pv_service.signals import mgps
from pv_service.signals.mgps import Prior, StartResult
from pv_service.signals.priors import choose_prior

A = Prior(2.0, 0.5, 5.0, 5.0, 0.1)
B = Prior(9.0, 1.0, 1.0, 1.2, 0.02)  # another optimum, far outside AGREEMENT_TOL of A


def _result(est: Prior, nll: float, converged: bool = True, in_bounds: bool = True) -> StartResult:
    return StartResult(start=est, estimate=est, neg_log_likelihood=nll, converged=converged,
                       in_bounds=in_bounds, iterations=1, message="")


def _run_with(outcomes):
    """_run_starts over len(outcomes) starts, each start's run returning its outcome;
    returns the results and which starts ran."""
    ran = []

    def run(start):
        i = int(start.p)  # the start's index, carried in p
        ran.append(i)
        return outcomes[i]
    starts = [Prior(1.0, 1.0, 1.0, 1.0, float(i)) for i in range(len(outcomes))]
    return mgps._run_starts(run, starts), sorted(ran)


def test_rounds_stop_once_enough_agree():
    assert mgps.ENOUGH_AGREE == 4 and mgps._ROUND == 2
    results, ran = _run_with([_result(A, 10.0 + 1e-9 * i) for i in range(7)])
    assert ran == [0, 1, 2, 3] and len(results) == 4


def test_a_better_optimum_restarts_the_count():
    # rounds 1-2: three on A, one on the better B; round 3 brings B's count to 3, round 4
    # to 4 (the agreement is with the best accepted start, not the most common one)
    outcomes = [_result(A, 10.0), _result(A, 10.0), _result(A, 10.0), _result(B, 9.0),
                _result(B, 9.0), _result(B, 9.0), _result(B, 9.0)]
    results, ran = _run_with(outcomes)
    assert ran == list(range(7))
    assert min(results, key=lambda r: r.neg_log_likelihood).estimate == B


def test_unaccepted_starts_do_not_count():
    outcomes = [_result(A, 10.0, converged=False), _result(A, 10.0, in_bounds=False),
                _result(A, 10.0), _result(A, 10.0), _result(A, 10.0), _result(A, 10.0),
                _result(A, 10.0)]
    _, ran = _run_with(outcomes)
    assert ran == list(range(6))  # 4 accepted after round 3


def _sample(m: int, seed: int):
    rng = np.random.default_rng(seed)
    e = np.exp(rng.normal(np.log(0.3), 1.3, m))
    first = rng.random(m) < A.p
    lam = np.where(first, rng.gamma(A.alpha1, 1 / A.beta1, m), rng.gamma(A.alpha2, 1 / A.beta2, m))
    n = rng.poisson(lam * e)
    return n[n > 0].astype(float), e[n > 0]


@pytest.mark.parametrize("truncation", mgps.TRUNCATIONS)
def test_stopping_early_misses_no_better_optimum(truncation, monkeypatch):
    """With stopping the fit runs fewer starts; every default start run to the end on
    the exact points (not the fit's squashes) reaches no higher likelihood, and the
    fit with all starts run gives the same estimate."""
    n, e = _sample(60_000, 3)
    fit = mgps.fit_prior(n, e, truncation=truncation)
    assert fit.converged and fit.n_starts_skipped > 0
    assert len(fit.starts) + fit.n_starts_skipped == len(mgps.DEFAULT_STARTS)
    assert fit.n_agree + 1 >= mgps.ENOUGH_AGREE
    assert fit.to_dict()["n_starts_run"] == len(fit.starts)
    info = choose_prior(n, e, truncation=truncation).to_dict()["fit"]
    assert (info["n_starts_run"], info["n_starts_skipped"]) == (len(fit.starts), fit.n_starts_skipped)
    pts = mgps._Points.build(*mgps.collapse_ties(n, e)[:3])
    lls = [-mgps.neg_log_likelihood(mgps._minimise(pts, Prior(*s), truncation, 100.0).estimate.as_array(),
                                    n, e, truncation=truncation) for s in mgps.DEFAULT_STARTS]
    assert fit.log_likelihood >= max(lls) - 1e-9 * abs(max(lls))
    monkeypatch.setattr(mgps, "ENOUGH_AGREE", 99)
    every = mgps.fit_prior(n, e, truncation=truncation)
    assert every.n_starts_skipped == 0 and len(every.starts) == len(mgps.DEFAULT_STARTS)
    assert every.log_likelihood == pytest.approx(fit.log_likelihood, rel=1e-12)
    np.testing.assert_allclose(every.prior.as_array(), fit.prior.as_array(), rtol=1e-6)

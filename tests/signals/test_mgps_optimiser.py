"""The MGPS fit's numerical pieces against independent routes: the dispersion tables
against sums in extended precision, the warm-started and the flat-stopping BFGS against
known optima and scipy, and the restricted curvature against the Hessian's sub-block."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from pv_service.signals import mgps


@pytest.mark.parametrize("k", [0.0, 1e-6, 1e-4, 4.8e-4, 4.9e-4, 6e-4, 1e-3, 0.05, 0.7, 30.0, 1e6])
def test_dispersion_tables_match_extended_precision_sums(k):
    n_values = np.unique(np.concatenate([np.arange(1, 1500), np.geomspace(1500, 40000, 200).astype(int)]))
    s, ds = mgps._dispersion_tables(n_values.astype(np.float64), k)
    j = np.arange(int(n_values.max()), dtype=np.longdouble)
    kl = np.longdouble(k)
    ref_s = np.concatenate([[0], np.cumsum(np.log1p(j * kl))])[n_values]
    ref_ds = np.concatenate([[0], np.cumsum(j / (1 + j * kl))])[n_values]
    np.testing.assert_allclose(s, ref_s.astype(np.float64), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ds, ref_ds.astype(np.float64), rtol=1e-12, atol=1e-12)


def _rosen(x):
    return float(optimize.rosen(x)), optimize.rosen_der(x)


def test_warm_bfgs_reaches_the_optimum_from_a_warm_curvature():
    opt = np.ones(4)
    x0 = opt + np.array([0.05, -0.04, 0.03, 0.02])
    h0 = np.linalg.inv(optimize.rosen_hess(x0))
    res = mgps._warm_bfgs(_rosen, x0, h0, max_iter=200)
    assert res.success and np.max(np.abs(res.jac)) <= 1e-8
    np.testing.assert_allclose(res.x, opt, atol=1e-7)
    assert res.nfev < 40


def test_warm_bfgs_falls_back_to_scipy_from_a_useless_curvature():
    x0 = np.array([-1.2, 1.0])
    bad = -np.eye(2)  # not a descent direction: handed to scipy's BFGS
    res = mgps._warm_bfgs(_rosen, x0, bad, max_iter=500)
    assert res.success
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)


def test_cold_bfgs_stops_on_an_objective_flat_to_rounding():
    # a bowl with a flat floor (|d| <= 0.5) where the gradient is small but not zero, as
    # rounding leaves it on the fit's ridges: scipy's line search ends in "precision
    # loss" after many evaluations; the guard stops sooner at an equally good point
    calls = {"guarded": 0, "scipy": 0}

    def fun(x, who):
        calls[who] += 1
        d = x - 0.3
        r = float(d @ d)
        return 1.0 + max(r - 0.25, 0.0), (2.0 * d if r > 0.25 else 0.0) + 1e-8 * (x - 5.0)

    x0 = np.full(3, 2.0)
    ref = optimize.minimize(lambda x: fun(x, "scipy"), x0, jac=True, method="BFGS", options={"gtol": 1e-12})
    res = mgps._cold_bfgs(lambda x: fun(x, "guarded"), x0, max_iter=2000, gtol=1e-12)
    assert ref.status == 2 and res.status == 2 and not res.success
    assert np.max(np.abs(res.jac)) < mgps._GRAD_TOL
    assert res.fun == ref.fun == 1.0
    assert calls["guarded"] < calls["scipy"]


def test_cold_bfgs_is_scipy_bfgs_when_nothing_is_flat():
    x0 = np.array([-1.2, 1.0, 0.5])
    ref = optimize.minimize(_rosen, x0, jac=True, method="BFGS", options={"gtol": 1e-8})
    res = mgps._cold_bfgs(_rosen, x0, max_iter=2000)
    assert res.success and res.nit == ref.nit
    np.testing.assert_array_equal(res.x, ref.x)


def test_restricted_hess_inv_is_the_inverse_of_the_hessian_sub_block():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 5))
    hess = a @ a.T + 5 * np.eye(5)
    free = np.array([True, False, True, True, False])
    got = mgps._restricted_hess_inv(np.linalg.inv(hess), free)
    np.testing.assert_allclose(got @ hess[np.ix_(free, free)], np.eye(3), atol=1e-10)
    assert mgps._restricted_hess_inv(None, free) is None


def test_modified_inverse_takes_absolute_eigenvalues_with_a_floor():
    rot = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    h = rot @ np.diag([2.0, -4.0]) @ rot.T  # a saddle
    got = mgps._modified_inverse(h)
    np.testing.assert_allclose(got, rot @ np.diag([0.5, 0.25]) @ rot.T, atol=1e-15)
    spd = np.array([[4.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(mgps._modified_inverse(spd), np.linalg.inv(spd), atol=1e-15)
    # a flat direction: its eigenvalue floored at 1e-3 of the largest
    np.testing.assert_allclose(mgps._modified_inverse(np.diag([10.0, 0.0])), np.diag([0.1, 100.0]))
    assert mgps._modified_inverse(np.zeros((2, 2))) is None


def test_forward_difference_hessian_of_a_quadratic():
    a = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, -0.3], [0.0, -0.3, 1.0]])

    def quad(x):
        return 0.5 * float(x @ a @ x), a @ x
    x = np.array([0.2, -0.1, 0.4])
    np.testing.assert_allclose(mgps._fd_hess_inv(quad, x, g0=quad(x)[1]), np.linalg.inv(a), rtol=1e-9)
    h_saddle = np.diag([1.0, -2.0, 4.0])

    def saddle(x):
        return 0.5 * float(x @ h_saddle @ x), h_saddle @ x
    assert mgps._fd_hess_inv(saddle, x, g0=saddle(x)[1]) is None
    np.testing.assert_allclose(mgps._fd_hess_inv(saddle, x, g0=saddle(x)[1], modified=True),
                               np.diag([1.0, 0.5, 0.25]), rtol=1e-9)


def _two_component_sample(m: int, seed: int):
    rng = np.random.default_rng(seed)
    truth = mgps.Prior(2.0, 0.5, 5.0, 5.0, 0.1)
    e = np.exp(rng.normal(np.log(0.3), 1.3, m))
    first = rng.random(m) < truth.p
    lam = np.where(first, rng.gamma(truth.alpha1, 1 / truth.beta1, m),
                   rng.gamma(truth.alpha2, 1 / truth.beta2, m))
    n = rng.poisson(lam * e)
    return n[n > 0].astype(float), e[n > 0], truth


def test_cold_starts_from_the_start_curvature_reach_the_optimum_in_fewer_evaluations(monkeypatch):
    """From each default start the fit (BFGS from the start's saddle-free curvature)
    reaches the maximum that Nelder-Mead, on the likelihood by log_marginal and started
    at the truth, finds; and in fewer evaluations than BFGS from the identity."""
    n, e, truth = _two_component_sample(20_000, 11)
    nu, eu, wu, _ = mgps.collapse_ties(n, e)
    pts = mgps._Points.build(nu, eu, wu)
    ref = optimize.minimize(lambda x: mgps.neg_log_likelihood(mgps._from_x(x).as_array(), nu, eu, wu),
                            mgps._to_x(truth), method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 20_000, "maxfev": 20_000})
    calls = {"fit": 0, "identity": 0}
    objective = mgps._objective

    def counted(key):
        def fun(x, *_):
            calls[key] += 1
            return objective(x, pts, "mixture")
        return fun
    monkeypatch.setattr(mgps, "_objective", counted("fit"))
    reached = 0
    for s in mgps.DEFAULT_STARTS:
        start = mgps.Prior(*s)
        r = mgps._minimise(pts, start, "mixture", 100.0)
        with np.errstate(all="ignore"):
            optimize.minimize(counted("identity"), mgps._to_x(start), jac=True, method="BFGS",
                              options={"gtol": 1e-8, "maxiter": 2000})
        assert r.neg_log_likelihood >= ref.fun - 1e-6 * abs(ref.fun)
        if r.converged and r.in_bounds and r.neg_log_likelihood <= ref.fun + 1e-6 * abs(ref.fun):
            reached += 1
    assert reached >= 4
    assert calls["fit"] < 0.8 * calls["identity"], calls


def test_squash_keeps_the_smallest_and_largest_e_of_each_count():
    # count 1: E = 1..10 (squashed: 3 bottom and 2 top kept, the middle 5 in 2 bins);
    # count 2: 4 points, too few to squash
    n = np.array([1.0] * 10 + [2.0] * 4)
    e = np.array([float(v) for v in range(1, 11)] + [0.5, 1.5, 2.5, 3.5])
    out_n, out_e, out_w = mgps.squash(n, e, bins_per_count=2, keep_top=2, keep_bottom=3)
    got = sorted(zip(out_n.tolist(), out_e.tolist(), out_w.tolist()))
    assert got == [(1.0, 1.0, 1.0), (1.0, 2.0, 1.0), (1.0, 3.0, 1.0), (1.0, 5.0, 3.0), (1.0, 7.5, 2.0),
                   (1.0, 9.0, 1.0), (1.0, 10.0, 1.0),
                   (2.0, 0.5, 1.0), (2.0, 1.5, 1.0), (2.0, 2.5, 1.0), (2.0, 3.5, 1.0)]
    # openEBGM's squash (no bottom kept) is unchanged
    _, e0, w0 = mgps.squash(n[:10], e[:10], bins_per_count=2, keep_top=2)
    assert sorted(zip(e0.tolist(), w0.tolist())) == [(2.5, 4.0), (6.5, 4.0), (9.0, 1.0), (10.0, 1.0)]

"""The MGPS fit's objectives (mgps._objective, interior; mgps._closure_eval, mean-shape
form) against routes sharing no code with them: values from scipy.stats' negative
binomial and Poisson pmfs, gradients by the complex step (a straightforward
complex-valued log-likelihood with scipy.special.loggamma), exact to rounding where
finite differences give ~1e-8."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from pv_service.signals import mgps

H = 1e-30  # complex step


def data(seed=3, m=4000):
    rng = np.random.default_rng(seed)
    e = np.exp(rng.uniform(np.log(0.05), np.log(30.0), m))
    lam = np.where(rng.random(m) < 0.2, rng.gamma(2.0, 2.0, m), rng.gamma(20.0, 20.0, m))
    n = rng.poisson(lam * e)
    keep = n > 0
    n, e = n[keep].astype(float), e[keep]
    return mgps._Points.build(n, e, rng.integers(1, 5, n.size).astype(float))


@pytest.fixture(scope="module")
def pts():
    return data()


def truncated_mean_nll(l1, z1, l2, z2, p, w, truncation):
    """-mean of the zero-truncated log-likelihood from each component's log f(n) and
    log f(0); complex-safe (no max/abs), shifted by real constants for range."""
    q = 1.0 - p
    if truncation == "mixture":
        c = np.maximum(l1.real, l2.real)
        ll = c + np.log(p * np.exp(l1 - c) + q * np.exp(l2 - c)) - np.log(1.0 - p * np.exp(z1) - q * np.exp(z2))
    else:
        g1, g2 = l1 - np.log(1.0 - np.exp(z1)), l2 - np.log(1.0 - np.exp(z2))
        c = np.maximum(g1.real, g2.real)
        ll = c + np.log(p * np.exp(g1 - c) + q * np.exp(g2 - c))
    return -np.sum(w * ll) / np.sum(w)


def nb_complex(n, e, a, b):
    """log NB(n; a, b/(b+E)) and log NB(0), written directly (complex a, b allowed)."""
    lf = special.loggamma(n + a) - special.loggamma(a) - special.gammaln(n + 1.0) \
        + a * np.log(b / (b + e)) + n * np.log(e / (b + e))
    return lf, a * np.log(b / (b + e))


def interior_ref(x, pts, truncation):
    a1, b1, a2, b2 = np.exp(x[:4])
    p = 1.0 / (1.0 + np.exp(-x[4]))
    return truncated_mean_nll(*nb_complex(pts.n, pts.e, a1, b1), *nb_complex(pts.n, pts.e, a2, b2),
                              p, pts.w, truncation)


def scipy_interior_value(x, pts, truncation):
    a1, b1, a2, b2 = np.exp(x[:4])
    p = special.expit(x[4])
    comps = [(stats.nbinom.logpmf(pts.n, a, b / (b + pts.e)), stats.nbinom.logpmf(0, a, b / (b + pts.e)))
             for a, b in ((a1, b1), (a2, b2))]
    return truncated_mean_nll(*comps[0], *comps[1], p, pts.w, truncation)


def complex_step_grad(f, x):
    out = np.empty(x.size)
    for j in range(x.size):
        xc = x.astype(complex)
        xc[j] += 1j * H
        out[j] = f(xc).imag / H
    return out


XS = [np.array([np.log(0.2), np.log(0.1), np.log(2.0), np.log(4.0), -0.7]),
      np.array([np.log(3.0), np.log(0.6), np.log(40.0), np.log(40.0), -2.0]),
      np.array([1.0, 0.5, -0.3, 0.2, 2.0])]


@pytest.mark.parametrize("truncation", mgps.TRUNCATIONS)
@pytest.mark.parametrize("i", range(len(XS)))
def test_interior_objective_against_scipy_and_complex_step(pts, truncation, i):
    x = XS[i]
    value, grad = mgps._objective(x, pts, truncation)
    assert value == pytest.approx(scipy_interior_value(x, pts, truncation), rel=1e-12)
    ref = complex_step_grad(lambda xc: interior_ref(xc, pts, truncation), x)
    np.testing.assert_allclose(grad, ref, rtol=1e-10, atol=1e-12 * np.max(np.abs(ref)))


def ms_complex(n, e, mu, k):
    """Mean-shape component (mean mu, dispersion k = 1/alpha) as a negative binomial."""
    return nb_complex(n, e, 1.0 / k, 1.0 / (k * mu))


def closure_ref(theta, pts, truncation, single=False):
    mu1, k1, mu2, k2, p = theta
    c1 = ms_complex(pts.n, pts.e, mu1, k1)
    c2 = c1 if single else ms_complex(pts.n, pts.e, mu2, k2)
    return truncated_mean_nll(*c1, *c2, 1.0 if single else p, pts.w, truncation)


THETAS = [np.array([1.3, 0.5, 0.9, 0.02, 0.3]), np.array([5.0, 0.3, 1.0, 1e-3, 0.05]),
          np.array([2.0, 4.0, 0.7, 0.9, 0.6])]


@pytest.mark.parametrize("truncation", mgps.TRUNCATIONS)
@pytest.mark.parametrize("i", range(len(THETAS)))
def test_mean_shape_objective_against_scipy_and_complex_step(pts, truncation, i):
    theta = THETAS[i]
    x = np.array([np.log(theta[0]), np.sqrt(theta[1]), np.log(theta[2]), np.sqrt(theta[3]),
                  special.logit(theta[4])])
    value, grad = mgps._closure_eval(x, pts, truncation, False)
    assert value == pytest.approx(closure_ref(theta, pts, truncation).real, rel=1e-12)
    ref = complex_step_grad(lambda t: closure_ref(t, pts, truncation), theta)
    np.testing.assert_allclose(grad, ref, rtol=1e-10, atol=1e-12 * np.max(np.abs(ref)))


@pytest.mark.parametrize("truncation", mgps.TRUNCATIONS)
def test_one_component_mean_shape_objective(pts, truncation):
    theta = np.array([1.1, 0.4, 0.0, 0.0, 1.0])
    x = np.array([np.log(1.1), np.sqrt(0.4), 0.0, 0.0, 0.0])
    with np.errstate(divide="ignore", invalid="ignore"):  # P = 1: log(1 - P); the fit silences these too
        value, grad = mgps._closure_eval(x, pts, truncation, True)
    assert value == pytest.approx(closure_ref(theta, pts, truncation, single=True).real, rel=1e-12)
    ref = complex_step_grad(lambda t: closure_ref(t, pts, truncation, single=True), theta)
    np.testing.assert_allclose(grad[:2], ref[:2], rtol=1e-10)


@pytest.mark.parametrize("truncation", mgps.TRUNCATIONS)
def test_point_mass_component_value_is_poisson(pts, truncation):
    """k = 0: component 2 is Poisson(mu E), by scipy.stats.poisson."""
    mu1, k1, mu2, p = 2.0, 0.5, 0.95, 0.2
    x = np.array([np.log(mu1), np.sqrt(k1), np.log(mu2), 0.0, special.logit(p)])
    value, _ = mgps._closure_eval(x, pts, truncation, False)
    l1, z1 = ms_complex(pts.n, pts.e, mu1, k1)
    l2, z2 = stats.poisson.logpmf(pts.n, mu2 * pts.e), -mu2 * pts.e
    assert value == pytest.approx(truncated_mean_nll(l1.real, z1.real, l2, z2, p, pts.w, truncation), rel=1e-12)


def test_unknown_truncation_is_a_clear_error(pts):
    with pytest.raises(ValueError, match="truncation"):
        mgps._objective(XS[0], pts, "both")
    with pytest.raises(ValueError, match="truncation"):
        mgps._closure_eval(np.zeros(5), pts, "both", False)


def test_objective_summed_over_several_blocks():
    """More points than one block of mgps._CHUNK: the blocks' sums add up to the whole."""
    big = data(seed=5, m=100_000)
    x = XS[1]
    value, _ = mgps._objective(x, big, "mixture")
    assert big.n.size > mgps._CHUNK
    assert value == pytest.approx(scipy_interior_value(x, big, "mixture"), rel=1e-12)

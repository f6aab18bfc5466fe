"""Multi-item Gamma Poisson Shrinker (MGPS): empirical Bayes scores for pair counts.

Model (DuMouchel 1999, Am Stat 53:177; DuMouchel & Pregibon 2001, KDD '01):
the count N of a pair with expected count E is Poisson(lambda * E), and lambda has the
prior ``P * Gamma(alpha1, beta1) + (1 - P) * Gamma(alpha2, beta2)`` (shape, rate).
Then N given E is a mixture of negative binomials NB(size=alpha_i,
prob=beta_i / (beta_i + E)) (eq. 5), the posterior of lambda given N = n is
``Q_n * Gamma(alpha1 + n, beta1 + E) + (1 - Q_n) * Gamma(alpha2 + n, beta2 + E)``
with Q_n the posterior weight of the first component (eq. 6), and

* EBGM = exp(E[log lambda]) = exp(Q_n (psi(alpha1+n) - log(beta1+E))
  + (1-Q_n) (psi(alpha2+n) - log(beta2+E)))  (eqs. 9-11);
* EB05, EB95 = 5th and 95th percentiles of that posterior.

Only pairs with N >= 1 are observed, so the hyperparameters maximise the
zero-truncated likelihood. Two truncations are offered:

* ``"mixture"`` (default): P(N = n | N >= 1) = m(n) / (1 - m(0)) where m is the NB
  mixture - the marginal of an observed count under exactly the prior the posterior
  formulas use;
* ``"component"``: P f1(n)/(1 - f1(0)) + (1-P) f2(n)/(1 - f2(0)), the form of
  DuMouchel & Pregibon 2001 implemented by openEBGM's ``negLL``/``negLLsquash``; use
  it to reproduce openEBGM's estimates.

The two give different estimates on real data (CAERS: see docs/benchmarks.md (disproportionality section)
and the tests); "mixture" is the default because the brief asks for it and it is the
coherent one, "component" is kept for comparability with openEBGM and FDA practice.

The fit is run from up to seven starting points (two with a rare high-ratio component,
which the likelihood's multimodality needs, then openEBGM's vignette set; in rounds of
two, until four accepted starts agree on the best) with BFGS on
log(alpha), log(beta), logit(P) and an analytic gradient; only converged
fits strictly inside the parameter space are accepted (openEBGM ``autoHyper``). Large
inputs are "squashed" (DuMouchel et al. 2001; openEBGM ``squashData``): points with the
same count are binned by E and weighted, the multi-start runs on a coarse squash, its
best optima are polished on a finer one (where the interior/closure decision is made),
and the chosen estimate is then refined on the exact (tie-collapsed) data so the final
estimate maximises the real likelihood.
"""
from __future__ import annotations

import functools
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from .sorting import argsort

TRUNCATIONS = ("mixture", "component")


def _one_blas_thread(func):
    """Run with one BLAS thread. The fit's dot products over 1e5-1e6 points gain nothing
    from more, and idle OpenBLAS threads spin: on a shared 2-core machine they made the
    1M-report fit take 6.4 CPU seconds instead of 1.6 (measured, see docs/benchmarks.md)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)
    return wrapper


def _fit_context(func):
    """One BLAS thread, and the optimiser's RuntimeWarnings silenced here, in the calling
    thread: ``warnings.catch_warnings`` is not safe inside the worker threads."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return _one_blas_thread(func)(*args, **kwargs)
    return wrapper


#: Worker threads for the posterior's blocks: numpy releases the GIL in its array
#: loops, so they run on separate cores. The fit's runs stay on one thread: on its
#: 1e4-point squashes the GIL is held between numpy's short loops, and two threads made
#: the 1e6 fit slower (wide 0.55-0.63 s against 0.37-0.47 s, narrow 0.93-0.97 s against
#: 0.81-0.87 s, measured on this 2-core machine).
_THREADS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _map(func, items) -> list:
    """``[func(x) for x in items]``, on :data:`_THREADS` threads (results in order)."""
    items = list(items)
    if _THREADS == 1 or len(items) < 2:
        return [func(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(_THREADS, len(items))) as pool:
        return list(pool.map(func, items))

#: Starting points (alpha1, beta1, alpha2, beta2, P): two with a rare high-ratio
#: component, then DuMouchel's 1999 default, then the others used in openEBGM's
#: posterior-calculation vignette. The likelihood can be multimodal: on CAERS with
#: openEBGM's likelihood only the two rare-component starts reach the higher of two
#: maxima, on the narrow benchmark data only the second; they run first because the
#: starts stop once enough agree (:data:`ENOUGH_AGREE`).
DEFAULT_STARTS: tuple[tuple[float, float, float, float, float], ...] = (
    (20.0, 2.0, 2.0, 2.0, 0.03),
    (40.0, 4.0, 1.5, 1.5, 0.01),
    (0.2, 0.1, 2.0, 4.0, 1 / 3),
    (0.1, 0.1, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
    (0.5, 0.3, 12.0, 12.0, 0.8),
    (0.2, 0.2, 5.0, 5.0, 0.4),
)

#: The starts run in rounds of :data:`_ROUND` (in order, the same rounds on any number
#: of cores, so the same starts run everywhere); no further round is started once this
#: many accepted starts (converged, in bounds) agree within :data:`AGREEMENT_TOL` on the
#: best of them.
ENOUGH_AGREE = 4
_ROUND = 2

#: openEBGM autoHyper's tolerances for calling two estimates "the same"
#: (alpha1, beta1, alpha2, beta2, P).
AGREEMENT_TOL = np.array([0.05, 0.05, 0.2, 0.2, 0.025])

# The objective is evaluated with x clipped to this box (log alpha, log beta in
# [log 1e-6, log 1e4], logit P in [-15, 15]) so no trial step overflows; an estimate on
# the box edge fails the in-bounds check.
_LOG_LO, _LOG_HI = np.log(1e-6), np.log(1e4)
_LOGIT_LIM = 15.0
_BOX_LO = np.array([_LOG_LO] * 4 + [-_LOGIT_LIM])
_BOX_HI = np.array([_LOG_HI] * 4 + [_LOGIT_LIM])
_GRAD_TOL = 1e-6  # on the mean log-likelihood per pair, in transformed coordinates


@dataclass(frozen=True)
class Prior:
    """Hyperparameters of the two-component gamma mixture prior (shape, rate).

    A component may be the limit of its gamma at a fixed mean as alpha, beta -> inf: a
    point mass. Its ``alpha``/``beta`` are then ``inf`` and ``point1``/``point2`` holds
    its location (build it with :meth:`from_means`). A one-component prior has
    ``p = 1`` and both components equal (:meth:`single`).
    """

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float
    point1: float | None = None
    point2: float | None = None

    def as_array(self) -> np.ndarray:
        return np.array([self.alpha1, self.beta1, self.alpha2, self.beta2, self.p])

    @classmethod
    def from_array(cls, theta) -> "Prior":
        a1, b1, a2, b2, p = (float(x) for x in theta)
        return cls(a1, b1, a2, b2, p)

    @classmethod
    def from_means(cls, mean1: float, alpha1: float, mean2: float, alpha2: float, p: float) -> "Prior":
        """Prior from each component's mean and shape; ``alpha = inf`` is a point mass."""
        def comp(mean, alpha):
            if math.isinf(alpha):
                return math.inf, math.inf, float(mean)
            return float(alpha), float(alpha) / float(mean), None
        a1, b1, q1 = comp(mean1, alpha1)
        a2, b2, q2 = comp(mean2, alpha2)
        return cls(a1, b1, a2, b2, float(p), q1, q2)

    @classmethod
    def single(cls, alpha: float, beta: float) -> "Prior":
        """A one-component gamma prior, written as two equal components with P = 1."""
        return cls(float(alpha), float(beta), float(alpha), float(beta), 1.0)

    @property
    def is_single(self) -> bool:
        return self.p == 1.0 and self.component(1) == self.component(2)

    def component(self, i: int) -> tuple[float, float, float | None]:
        """(alpha, beta, point) of component 1 or 2."""
        return (self.alpha1, self.beta1, self.point1) if i == 1 else (self.alpha2, self.beta2, self.point2)

    def is_point(self, i: int) -> bool:
        return self.component(i)[2] is not None

    def mean(self, i: int) -> float:
        a, b, point = self.component(i)
        return point if point is not None else a / b

    @property
    def point_masses(self) -> tuple[int, ...]:
        return tuple(i for i in (1, 2) if self.is_point(i))

    def canonical(self) -> "Prior":
        """The same prior with the larger-mean component first (the components are
        exchangeable; this fixes the labelling for reports and comparisons)."""
        if self.mean(1) >= self.mean(2):
            return self
        return Prior(self.alpha2, self.beta2, self.alpha1, self.beta1, 1.0 - self.p,
                     self.point2, self.point1)

    def to_dict(self) -> dict:
        """JSON-ready hyperparameters; a point mass has null alpha/beta and its mean."""
        out: dict = {}
        for i in (1, 2):
            a, b, point = self.component(i)
            out[f"alpha{i}"] = None if point is not None else a
            out[f"beta{i}"] = None if point is not None else b
        out["p"] = self.p
        for i in (1, 2):
            out[f"mean{i}"] = self.mean(i)
        out["point_masses"] = list(self.point_masses)
        return out

    @classmethod
    def from_dict(cls, data: dict, where: str = "prior") -> "Prior":
        """Read :meth:`to_dict` (or HYPER.json); raises ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object with alpha1, beta1, alpha2, beta2, p")
        points = data.get("point_masses") or []
        if not isinstance(points, list) or any(i not in (1, 2) for i in points):
            raise ValueError(f"{where}: point_masses must list component numbers 1 and/or 2")

        def number(key, positive=True):
            v = data.get(key)
            if key not in data:
                raise ValueError(f"{where}: '{key}' is missing (a prior has alpha1, beta1, alpha2, beta2 and p)")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or (positive and v <= 0):
                raise ValueError(f"{where}: '{key}' must be a finite number" + (" > 0" if positive else ""))
            return float(v)

        p = number("p", positive=False)
        if not 0.0 < p <= 1.0:
            raise ValueError(f"{where}: 'p' must be in (0, 1]")
        comps: list[tuple[float, float, float | None]] = []
        for i in (1, 2):
            if p == 1.0 and i == 2 and i not in points and data.get("alpha2") is None:
                comps.append(comps[0])  # one-component prior written without component 2
            elif i in points:
                comps.append((math.inf, math.inf, number(f"mean{i}")))
            else:
                comps.append((number(f"alpha{i}"), number(f"beta{i}"), None))
        (a1, b1, q1), (a2, b2, q2) = comps
        return cls(a1, b1, a2, b2, p, q1, q2)


@dataclass(frozen=True)
class StartResult:
    """Outcome of the optimisation from one starting point."""

    start: Prior
    estimate: Prior
    neg_log_likelihood: float
    converged: bool
    in_bounds: bool
    iterations: int
    message: str
    #: BFGS inverse-Hessian approximation at the estimate (transformed coordinates)
    hess_inv: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class MGPSFit:
    """Hyperparameter estimate and how it was reached.

    ``log_likelihood`` is the zero-truncated log-likelihood (under ``truncation``) of
    all ``n_pairs`` observed pairs at ``prior``; ``converged`` is true only for an
    estimate from a converged, in-bounds optimisation. ``n_agree`` counts the other
    accepted starts within openEBGM's agreement tolerance of the chosen one, of the
    ``starts`` that ran (``n_starts_skipped`` more were given and not run).
    """

    prior: Prior
    log_likelihood: float
    converged: bool
    truncation: str
    n_pairs: int
    n_points: int
    squashed: bool
    n_agree: int
    message: str
    starts: tuple[StartResult, ...] = field(default=(), repr=False)
    #: starts given but not run (:data:`ENOUGH_AGREE` had agreed before their round)
    n_starts_skipped: int = 0

    def to_dict(self) -> dict:
        """JSON-ready summary (HYPER.json)."""
        out = {**self.prior.to_dict(), "log_likelihood": self.log_likelihood,
               "converged": self.converged, "truncation": self.truncation,
               "n_pairs": self.n_pairs, "n_points": self.n_points, "squashed": self.squashed,
               "n_agree": self.n_agree, "n_starts_run": len(self.starts),
               "n_starts_skipped": self.n_starts_skipped, "message": self.message}
        out["starts"] = [{"start": s.start.to_dict(), "estimate": s.estimate.to_dict(),
                          "neg_log_likelihood": s.neg_log_likelihood, "converged": s.converged,
                          "in_bounds": s.in_bounds, "iterations": s.iterations,
                          "message": s.message} for s in self.starts]
        return out


# ----------------------------------------------------------------------------------
# likelihood
# ----------------------------------------------------------------------------------


def nb_logpmf(n, alpha, beta, e, by_count=None) -> np.ndarray:
    """log NB(n; size=alpha, prob=beta/(beta+E)) - the marginal of N under one gamma
    component (DuMouchel 1999 eq. 5), written with log1p so tiny E stays accurate.
    ``by_count``: (distinct counts, each point's index into them), when known: the
    gamma functions are then taken once per distinct count (the same numbers)."""
    return _nb_logpmf_and_zero(n, alpha, beta, e, by_count)[0]


def _nb_logpmf_and_zero(n, alpha, beta, e, by_count=None) -> tuple[np.ndarray, np.ndarray]:
    """(log NB(n), log NB(0)), sharing the logarithm both need."""
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    z = -alpha * np.log1p(e / beta)
    return (_per_count(lambda m: special.gammaln(m + alpha) - special.gammaln(alpha) - special.gammaln(m + 1.0),
                       n, by_count) + z - n * np.log1p(beta / e)), z


def _per_count(func, n: np.ndarray, by_count) -> np.ndarray:
    """``func(n)`` for a function of the count alone, evaluated per distinct count when
    ``by_count`` = (distinct counts, index of each point) is given."""
    if by_count is None:
        return func(n)
    values, index = by_count
    return func(values)[index]


def _log1mexp(z: np.ndarray) -> np.ndarray:
    """log(1 - exp(z)) for z < 0 without cancellation (each branch only where it is
    taken: both everywhere, through np.where, were a third of the final likelihood)."""
    z = np.asarray(z, dtype=np.float64)
    near = z > -np.log(2.0)
    out = np.empty_like(z)
    out[near] = np.log(-np.expm1(z[near]))
    far = ~near
    out[far] = np.log1p(-np.exp(z[far]))
    return out


def poisson_logpmf(n, mean, e, by_count=None) -> np.ndarray:
    """log Poisson(n; mean * E): the marginal of N under a point-mass component, the
    limit of :func:`nb_logpmf` as alpha, beta -> inf with alpha/beta = mean."""
    n = np.asarray(n, dtype=np.float64)
    m = mean * np.asarray(e, dtype=np.float64)
    return special.xlogy(n, m) - m - _per_count(lambda c: special.gammaln(c + 1.0), n, by_count)


def component_logpmf(prior: Prior, i: int, n, e, by_count=None) -> tuple[np.ndarray, np.ndarray]:
    """(log f_i(n), log f_i(0)) for component i of the prior: negative binomial, or
    Poisson for a point mass."""
    alpha, beta, point = prior.component(i)
    e = np.asarray(e, dtype=np.float64)
    if point is not None:
        return poisson_logpmf(n, point, e, by_count), -point * e
    return _nb_logpmf_and_zero(n, alpha, beta, e, by_count)


def log_marginal(prior: Prior, n, e, truncation: str | None = None, by_count=None) -> np.ndarray:
    """log P(N = n | E) under the mixture; zero-truncated when ``truncation`` is given.
    ``by_count`` as in :func:`nb_logpmf`."""
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    l1, z1 = component_logpmf(prior, 1, n, e, by_count)  # z = log f(0)
    l2, z2 = component_logpmf(prior, 2, n, e, by_count)
    with np.errstate(divide="ignore"):  # P = 1 (one component): log(1 - P) = -inf
        lp, lq = np.log(prior.p), np.log1p(-prior.p)
    if truncation is None:
        return _logaddexp(lp + l1, lq + l2)
    if truncation == "component":
        return _logaddexp(lp + l1 - _log1mexp(z1), lq + l2 - _log1mexp(z2))
    if truncation == "mixture":
        return _logaddexp(lp + l1, lq + l2) - _log1mexp(_logaddexp(lp + z1, lq + z2))
    raise ValueError(f"truncation must be one of {TRUNCATIONS}")


def neg_log_likelihood(theta, n, e, weights=None, truncation: str = "mixture") -> float:
    """Negative zero-truncated log-likelihood of (alpha1, beta1, alpha2, beta2, P) for
    counts n >= 1 with expected counts e and optional squashing weights (openEBGM
    ``negLL`` / ``negLLsquash`` with N_star = 1 when truncation="component")."""
    ll = log_marginal(Prior.from_array(theta), n, e, truncation)
    return float(-(ll.sum() if weights is None else np.dot(weights, ll)))


@dataclass(frozen=True)
class _Points:
    """Fitting data: counts (as an index into distinct counts), E and weights."""

    n: np.ndarray
    e: np.ndarray
    w: np.ndarray
    n_values: np.ndarray
    n_index: np.ndarray
    n_log_e: np.ndarray  # n log E: the only per-point logarithm both forms of the likelihood need
    const: float      # sum w * (-lgamma(n+1)): part of the log-likelihood free of theta
    total_w: float

    @classmethod
    def build(cls, n, e, w) -> "_Points":
        n = np.asarray(n, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        n_index, n_values = pd.factorize(n)
        n_values = np.asarray(n_values, dtype=np.float64)
        const = -float(np.dot(w, special.gammaln(n + 1.0)))
        # intp: a table lookup by int32 indices took 1.7x as long (numpy converts them first)
        return cls(n, e, w, n_values, n_index.astype(np.intp), n * np.log(e), const, float(w.sum()))


_CHUNK = 1 << 15  # points per block: keeps temporaries small (large ones are slow here)


def _logaddexp(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log(exp(x) + exp(y)); ``np.logaddexp`` is many times slower than this."""
    m = np.maximum(x, y)
    return m + np.log1p(np.exp(-np.abs(x - y)))


def _component_terms(n, e, n_log_e, n_index, gl, dg, alpha: float, beta: float):
    """Per point: log f(n) (without -lgamma(n+1)), d/d alpha, d/d beta, and the same for
    z = log f(0). ``gl``/``dg`` are lgamma/digamma differences per distinct count, ``gl``
    less n log(beta); ``n_log_e`` is n log E. log f = gl - n log beta + n log E
    - (alpha + n) log1p(E / beta), so per point only one logarithm."""
    l_eb = np.log1p(e / beta)                       # log((beta + E)/beta), exact for tiny E
    an = alpha + n
    log_f = gl[n_index] + n_log_e - an * l_eb
    df_da = dg[n_index] - l_eb
    inv_be = 1.0 / (beta + e)
    df_db = alpha / beta - an * inv_be
    z = -alpha * l_eb
    dz_db = (alpha / beta) * e * inv_be
    return log_f, df_da, df_db, z, -l_eb, dz_db


def _block(n, e, n_log_e, n_index, w, tables, a1, b1, a2, b2, p, truncation):
    """Weighted log-likelihood sum and gradient sums (natural parameters) for a block."""
    return _combine(_component_terms(n, e, n_log_e, n_index, *tables[0], a1, b1),
                    _component_terms(n, e, n_log_e, n_index, *tables[1], a2, b2), w, p, truncation)


def _combine(terms1, terms2, w, p, truncation):
    """Mixture log-likelihood and gradient sums from each component's terms
    (log f, d log f / d theta_a, d log f / d theta_b, z, dz/d theta_a, dz/d theta_b)
    with z = log f(0): the same for any two-parameter form of the components."""
    f1, f1a, f1b, z1, z1a, z1b = terms1
    f2, f2a, f2b, z2, z2a, z2b = terms2
    lp, lq = np.log(p), np.log1p(-p)
    if truncation == "component":
        t1, t2 = _log1mexp(z1), _log1mexp(z2)
        r1 = np.exp(z1 - t1)                      # f(0) / (1 - f(0))
        r2 = np.exp(z2 - t2)
        g1, g2 = f1 - t1, f2 - t2                # log truncated component pmfs
        ll = _logaddexp(lp + g1, lq + g2)
        w1 = np.exp(lp + g1 - ll)
        w2 = 1.0 - w1
        d_a1 = w1 * (f1a + r1 * z1a)
        d_b1 = w1 * (f1b + r1 * z1b)
        d_a2 = w2 * (f2a + r2 * z2a)
        d_b2 = w2 * (f2b + r2 * z2b)
        d_p = w1 / p - w2 / (1.0 - p)
    elif truncation == "mixture":
        # 5 transcendentals per point, not 11: one exp gives both log m(n) and the
        # posterior share of component 1; 1 - m(0) = -(P expm1(z1) + (1-P) expm1(z2)),
        # exact as E -> 0, gives log(1 - m(0)) and each component's share of m(0)
        x1, x2 = lp + f1, lq + f2
        d = x1 - x2
        t = np.exp(-np.abs(d))
        # 1/(1+t), times t where d < 0 (the same products as a masked multiply: 3x slower)
        share1 = (1.0 / (1.0 + t)) * np.where(d < 0, t, 1.0)
        ll = np.maximum(x1, x2) + np.log1p(t)
        q = 1.0 - p
        pe1, qe2 = p * np.expm1(z1), q * np.expm1(z2)
        t0 = -(pe1 + qe2)                         # 1 - m(0)
        ll -= np.log(t0)
        ww1 = w * share1                          # weight x posterior share of component 1
        ww2 = w - ww1
        wt = w / t0
        wu1 = wt * (p + pe1)                      # weight x P f1(0) / (1 - m(0))
        wu2 = wt * (q + qe2)
        # d ll / d P = (w1 + u1) / P - (w2 + u2) / (1 - P); as numpy scalars, so P = 1
        # (the one-component model) gives nan, not an exception
        s1, s2 = np.float64(ww1.sum() + wu1.sum()), np.float64(ww2.sum() + wu2.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            d_p = s1 / p - s2 / np.float64(1.0 - p)
        return np.dot(w, ll), np.array([
            np.dot(ww1, f1a) + np.dot(wu1, z1a), np.dot(ww1, f1b) + np.dot(wu1, z1b),
            np.dot(ww2, f2a) + np.dot(wu2, z2a), np.dot(ww2, f2b) + np.dot(wu2, z2b), d_p])
    else:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}")
    return np.dot(w, ll), np.array([np.dot(w, d) for d in (d_a1, d_b1, d_a2, d_b2, d_p)])


def _chunk_sums(block, size: int) -> tuple[float, np.ndarray]:
    """Sum of ``block(slice)`` = (log-likelihood, gradient) over blocks of :data:`_CHUNK`
    points, in order. One thread: summing the exact-data blocks on two threads saved
    ~0.05-0.1 s at 1e6 but raised the peak RSS by ~15 MB (each thread's allocator arena
    keeps its block's temporaries)."""
    total, grad = 0.0, np.zeros(5)
    for i in range(0, size, _CHUNK):
        ll, g = block(slice(i, i + _CHUNK))
        total += ll
        grad += g
    return total, grad


def _objective(x: np.ndarray, pts: _Points, truncation: str) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its gradient in x = (log a1, log b1, log a2,
    log b2, logit P). Averaging keeps optimiser tolerances independent of data size.
    Outside the box the objective is flat (clipped x, zero gradient there)."""
    inside = (x >= _BOX_LO) & (x <= _BOX_HI)
    x = np.clip(x, _BOX_LO, _BOX_HI)
    a1, b1, a2, b2 = np.exp(x[:4])
    p = float(special.expit(x[4]))
    tables = [(special.gammaln(pts.n_values + a) - special.gammaln(a) - pts.n_values * np.log(b),
               special.digamma(pts.n_values + a) - special.digamma(a)) for a, b in ((a1, b1), (a2, b2))]
    def block(sl):
        return _block(pts.n[sl], pts.e[sl], pts.n_log_e[sl], pts.n_index[sl], pts.w[sl], tables,
                      a1, b1, a2, b2, p, truncation)
    total, grad = _chunk_sums(block, pts.n.shape[0])
    value = -(total + pts.const) / pts.total_w
    if not np.isfinite(value):
        return np.inf, np.zeros(5)
    grad = -grad * np.array([a1, b1, a2, b2, p * (1.0 - p)]) / pts.total_w
    return float(value), np.where(inside, grad, 0.0)


def _to_x(prior: Prior) -> np.ndarray:
    t = prior.as_array()
    return np.concatenate([np.log(t[:4]), [special.logit(t[4])]])


def _from_x(x: np.ndarray) -> Prior:
    return Prior(*(float(v) for v in np.exp(x[:4])), float(special.expit(x[4])))


def _in_bounds(prior: Prior, param_limit: float) -> bool:
    """Strictly inside the parameter space and away from the optimiser's box."""
    ab = prior.as_array()[:4]
    return bool(np.all(ab > np.exp(_LOG_LO) * 1.01) and np.all(ab < param_limit)
                and special.expit(-_LOGIT_LIM + 0.01) < prior.p < special.expit(_LOGIT_LIM - 0.01))


def _usable_hess_inv(h: np.ndarray | None, dim: int) -> np.ndarray | None:
    """A warm-start inverse Hessian, symmetrised, or None (start from the identity) when
    it has the wrong shape or is not positive definite."""
    if h is None or h.shape != (dim, dim):
        return None
    h = 0.5 * (h + h.T)
    try:
        np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return None
    return h


class _Flat(Exception):
    """Raised by :func:`_cold_bfgs`'s objective when the search has stalled on a flat
    objective."""


def _cold_bfgs(fun, x0: np.ndarray, max_iter: int, gtol: float = 1e-8,
               stall: int = 8, hess_inv0: np.ndarray | None = None) -> optimize.OptimizeResult:
    """scipy's BFGS from the identity (or ``hess_inv0``), stopped once ``stall`` evaluations of one line
    search (after the first iteration, whose identity matrix may take tiny steps) have
    not lowered the best value beyond rounding (1e-14 relative) while the gradient
    there is below :data:`_GRAD_TOL`. That is a line search that cannot see a decrease
    through rounding; scipy's ends "precision loss" only ~70 evaluations later (the
    runs of the narrow data that go towards alpha -> inf all ended so). The result is
    then the best point (where scipy would have stopped) with status 2, as scipy
    reports precision loss, and no inverse Hessian."""
    best = {"f": np.inf, "x": None, "g": None, "since": 0}

    def guarded(x):
        f, g = fun(x)
        if f < best["f"] - 1e-14 * max(1.0, abs(best["f"])) or best["x"] is None:
            best.update(f=f, x=np.array(x, dtype=np.float64), g=g, since=0)
        elif iterations[0] >= 1:
            best["since"] += 1
            if best["since"] >= stall and float(np.max(np.abs(best["g"]), initial=0.0)) < _GRAD_TOL:
                raise _Flat
        return f, g
    iterations = [0]

    def count(_):  # an iteration ended: its line search found a step
        iterations[0] += 1
        best["since"] = 0
    try:
        return optimize.minimize(guarded, x0, jac=True, method="BFGS", callback=count,
                                 options={"maxiter": max_iter, "gtol": gtol, "hess_inv0": hess_inv0})
    except _Flat:
        return optimize.OptimizeResult(
            x=best["x"], fun=best["f"], jac=best["g"], nit=iterations[0], status=2, success=False,
            message="Stopped: the objective is flat to rounding.", hess_inv=None)


def _warm_bfgs(fun, x0: np.ndarray, hess_inv0: np.ndarray | None, max_iter: int,
               gtol: float = 1e-8, first: tuple[float, np.ndarray] | None = None
               ) -> optimize.OptimizeResult:
    """BFGS from a warm inverse Hessian (a refinement near an optimum found on squashed
    points), with a backtracking line search that also accepts a step lowering the
    gradient when the objective changes within rounding. Near the optimum scipy's Wolfe
    search often cannot see a decrease through the summation's rounding and spends
    ~45 evaluations on the full data before reporting "precision loss"; here a full
    step is usually taken at once. The stopping rule is scipy's (max |gradient| <=
    gtol); when no acceptable step is found, scipy's BFGS continues from the last point."""
    x = np.asarray(x0, dtype=np.float64).copy()
    h = np.eye(x.size) if hess_inv0 is None else hess_inv0.copy()
    f, g = fun(x) if first is None else first  # ``first``: (value, gradient) at x0, if known
    nit = nfev = 1
    for nit in range(max_iter):
        if not np.isfinite(f):
            break
        if np.max(np.abs(g)) <= gtol:
            return optimize.OptimizeResult(x=x, fun=f, jac=g, nit=nit, nfev=nfev, status=0, success=True,
                                           message="Optimization terminated successfully.", hess_inv=h)
        d = -h @ g
        slope = float(g @ d)
        if not slope < 0:
            break
        t, accepted = 1.0, False
        for _ in range(10):
            xn = x + t * d
            fn, gn = fun(xn)
            nfev += 1
            if np.isfinite(fn) and (fn <= f + 1e-4 * t * slope or (
                    fn <= f + 1e-13 * max(1.0, abs(f)) and np.max(np.abs(gn)) < np.max(np.abs(g)))):
                accepted = True
                break
            t *= 0.5
        if not accepted:
            break
        sv, yv = xn - x, gn - g
        sy = float(sv @ yv)
        if sy > 1e-12 * float(np.sqrt((sv @ sv) * (yv @ yv))):  # curvature condition
            rho = 1.0 / sy
            a = np.eye(x.size) - rho * np.outer(sv, yv)
            h = a @ h @ a.T + rho * np.outer(sv, sv)
        x, f, g = xn, fn, gn
    with np.errstate(all="ignore"):  # with the same stop on a flat objective
        res = _cold_bfgs(fun, x, max_iter, gtol, hess_inv0=_usable_hess_inv(h, x.size))
    res.nit += nit
    return res


def _minimise(pts: _Points, start: Prior, truncation: str, param_limit: float,
              max_iter: int = 2000, hess_inv0: np.ndarray | None = None, gtol: float = 1e-8
              ) -> StartResult:
    """BFGS on the unconstrained transformed parameters (as openEBGM's nlminb runs
    unconstrained), then an in-bounds check. BFGS rather than L-BFGS-B: for five
    parameters it needs no LAPACK calls, whose threads stall when the machine is busy."""
    hess_inv0 = _usable_hess_inv(hess_inv0, 5)
    x0 = _to_x(start)
    first = None
    with np.errstate(all="ignore"):
        if hess_inv0 is None:
            # the start's curvature, made positive definite: BFGS from the identity spent
            # 60-100 iterations learning it (the wide benchmark data: 414 evaluations for
            # 4 starts, 166 from the start's curvature, each with 5 for the Hessian)
            f0, g0 = _objective(x0, pts, truncation)
            if np.isfinite(f0) and np.all(g0 != 0.0):  # not outside the box
                hess_inv0 = _fd_hess_inv(lambda x: _objective(x, pts, truncation), x0, g0=g0,
                                         modified=True)
                first = (f0, g0)
        if hess_inv0 is not None:
            res = _warm_bfgs(lambda x: _objective(x, pts, truncation), x0, hess_inv0, max_iter, gtol,
                             first=first)
        else:
            res = _cold_bfgs(lambda x: _objective(x, pts, truncation), x0, max_iter, gtol)
    est = _from_x(np.clip(res.x, _BOX_LO, _BOX_HI))
    hess_inv = getattr(res, "hess_inv", None)
    if hess_inv is None and _in_bounds(est, param_limit):  # stopped flat: a warm start for its polishing
        hess_inv = _fd_hess_inv(lambda x: _objective(x, pts, truncation), res.x)
    nll = float(res.fun) * pts.total_w if np.isfinite(res.fun) else np.inf
    # BFGS reports "precision loss" when the line search cannot improve an objective
    # already flat to rounding; that is convergence if the gradient is ~0 there.
    flat = res.status == 2 and float(np.max(np.abs(res.jac))) < _GRAD_TOL
    return StartResult(start=start, estimate=est, neg_log_likelihood=nll,
                       converged=bool((res.success or flat) and np.isfinite(res.fun)),
                       in_bounds=_in_bounds(est, param_limit), iterations=int(res.nit),
                       message=str(res.message), hess_inv=hess_inv)


# ----------------------------------------------------------------------------------
# squashing
# ----------------------------------------------------------------------------------


def collapse_ties(n, e) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (n, E) points, their multiplicities, and each input's point index.
    Lossless: the likelihood and the posterior depend on a pair only through (n, E).
    Points sorted by n, then E (what squashing and the posterior's interpolated starts
    need), found by sorting the pairs so: less memory than hashing E + i n (~60 MB per
    7e5 pairs), and as fast. The fit and the posterior can share the result (``ties=``)."""
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    size = n.shape[0]
    if size == 0:
        return n.copy(), e.copy(), np.zeros(0), np.zeros(0, dtype=np.int64)
    order = _order_by_count_then_e(n, e)
    n_s, e_s = n[order], e[order]
    new = np.empty(size, dtype=bool)
    new[0] = True
    np.not_equal(n_s[1:], n_s[:-1], out=new[1:])
    new[1:] |= e_s[1:] != e_s[:-1]
    starts = np.flatnonzero(new)
    weights = np.diff(np.append(starts, size)).astype(np.float64)
    point = np.empty(size, dtype=np.int64)
    point[order] = np.cumsum(new) - 1
    return n_s[starts], e_s[starts], weights, point


def _order_by_count_then_e(n: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``np.lexsort((e, n))``, faster: a sort by E, then a stable sort by n, which is a
    radix sort when n fits 16 bits (counts of pairs mostly do)."""
    by_e = argsort(e)  # on two threads when large; equal E in any order, as np.argsort
    n_e = n[by_e]
    if n_e.size and n_e.max() < 2 ** 16:
        n_e = n_e.astype(np.uint16)
    return by_e[np.argsort(n_e, kind="stable")]


def _sorted_by_count_then_e(n: np.ndarray, e: np.ndarray) -> bool:
    same_n = n[1:] == n[:-1]
    return bool(np.all(n[1:] >= n[:-1]) and np.all(e[1:][same_n] >= e[:-1][same_n]))


def squash(n, e, weights=None, *, bins_per_count: int = 500, keep_top: int = 50,
           keep_bottom: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Approximate data squashing (DuMouchel et al. 2001; openEBGM ``squashData``).

    Within each count n with more than ``bins_per_count + keep_top + keep_bottom``
    points, points are
    sorted by E and grouped into ``bins_per_count`` bins of (nearly) equal weight, each
    replaced by its weighted mean E carrying the summed weight. The ``keep_top``
    largest E of each count are kept as they are: the likelihood changes fastest
    there. So are the ``keep_bottom`` smallest (0 in openEBGM): a count n at a tiny E is
    what tells a rare high-ratio component, and averaging those E into a bin blurs it.
    Returns (n, E, weight). Vectorised: a sort by (n, E) unless the points come so (as
    from :func:`collapse_ties`), and a few bincounts.
    """
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    w = np.ones_like(e) if weights is None else np.asarray(weights, dtype=np.float64)
    if not _sorted_by_count_then_e(n, e):  # points from collapse_ties already are
        order = _order_by_count_then_e(n, e)
        n, e, w = n[order], e[order], w[order]
    group_start = _group_starts(n)
    size = np.diff(np.append(group_start, n.shape[0]))
    gid = np.repeat(np.arange(size.shape[0]), size)
    rank = np.arange(n.shape[0]) - group_start[gid]
    squashable = size[gid] > bins_per_count + keep_top + keep_bottom
    n_sq = size[gid] - keep_top - keep_bottom
    kept = (rank >= n_sq + keep_bottom) | (rank < keep_bottom)
    # bin index within a squashed group: equal-count bins over the ranks not kept
    bin_in_group = np.where(squashable & ~kept,
                            ((rank - keep_bottom) * bins_per_count) // np.maximum(n_sq, 1),
                            bins_per_count + rank)  # unique "bin" per kept point
    bin_in_group = np.where(squashable, bin_in_group, rank)
    key = gid.astype(np.int64) * (int(size.max()) + bins_per_count + 1) + bin_in_group
    inverse, bins = pd.factorize(key)
    w_bin = np.bincount(inverse, weights=w, minlength=len(bins))
    e_bin = np.bincount(inverse, weights=w * e, minlength=len(bins)) / w_bin
    n_bin = np.bincount(inverse, weights=w * n, minlength=len(bins)) / w_bin
    return np.rint(n_bin), e_bin, w_bin


def _group_starts(sorted_values: np.ndarray) -> np.ndarray:
    if sorted_values.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]))


# ----------------------------------------------------------------------------------
# fitting
# ----------------------------------------------------------------------------------


@_fit_context
def fit_prior(n, e, *, truncation: str = "mixture", starts=DEFAULT_STARTS,
              squash_data: bool | None = None, max_points: int = 20_000,
              param_limit: float = 100.0, boundary: bool = True, ties=None) -> MGPSFit:
    """Maximum-likelihood hyperparameters from observed pair counts n >= 1 and E > 0.

    ``squash_data=None`` squashes only when the tie-collapsed data has more than
    ``max_points`` points (openEBGM's suggested ceiling); the estimate is then refined
    on all the data, so squashing buys speed, not a different answer. ``param_limit``
    bounds alpha and beta as openEBGM's ``param_limit`` does.

    When no start converges inside the parameter space, or a start that left it
    reached a higher likelihood than every accepted one (the sign that the supremum
    lies on the boundary), the fit continues over the closure of the parameter space
    (:func:`_boundary_fit`, ``boundary=True``): ``message`` then says what was found,
    e.g. ``boundary: component 2 at a point mass, mean 0.97``.
    """
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}")
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    if n.size == 0:
        raise ValueError("no pairs to fit")
    if np.any(n < 1) or np.any(~np.isfinite(e)) or np.any(e <= 0):
        raise ValueError("fit_prior needs counts n >= 1 and finite expected counts E > 0")
    n_u, e_u, w_u, _ = collapse_ties(n, e) if ties is None else ties
    full = _Points.build(n_u, e_u, w_u)
    use_squash = len(n_u) > max_points if squash_data is None else squash_data
    fit_pts = _Points.build(*squash(n_u, e_u, w_u, keep_bottom=_FIT_BOTTOM)) if use_squash else full
    # the starts run on a coarser squash still; the optima that decide below are then
    # polished on fit_pts (_polish)
    coarse = _Points.build(*squash(n_u, e_u, w_u, bins_per_count=_COARSE_BINS, keep_top=_COARSE_TOP,
                                   keep_bottom=_COARSE_BOTTOM)) if use_squash else full
    if coarse.n.size > 0.7 * fit_pts.n.size:  # too little saved to pay for the polishing
        coarse = fit_pts

    def result(prior: Prior, converged: bool, message: str, n_agree: int = 0) -> MGPSFit:
        prior = prior.canonical()
        return MGPSFit(prior=prior, log_likelihood=_total_ll(prior, full, truncation),
                       converged=converged, truncation=truncation, n_pairs=int(n.size),
                       n_points=int(fit_pts.n.size), squashed=use_squash, n_agree=n_agree,
                       message=message, starts=results, n_starts_skipped=len(starts) - len(results))

    starts = [s if isinstance(s, Prior) else Prior(*s) for s in starts]
    results = _run_starts(lambda s: _minimise(coarse, s, truncation, param_limit), starts)
    if coarse is not fit_pts:
        results = _polish(results, fit_pts, truncation, param_limit)
    accepted = [r for r in results if r.converged and r.in_bounds]
    best_any = min(results, key=lambda r: r.neg_log_likelihood)
    interior: MGPSFit | None = None
    if accepted:
        best = min(accepted, key=lambda r: r.neg_log_likelihood)
        n_agree = sum(1 for r in accepted if r is not best and _agree(r, best))
        chosen, message = best, "converged"
        if use_squash:  # refine on the exact data from the squashed optimum
            # warm start: the curvature learnt on the squashed points is close to the real one
            chosen = _minimise(full, best.estimate, truncation, param_limit, hess_inv0=best.hess_inv)
            message = "converged on squashed data, refined on all data"
        if chosen.converged and chosen.in_bounds:
            interior = result(chosen.estimate, True, message, n_agree)
        else:
            message = "refinement on all data did not converge: " + chosen.message
        outside_better = best_any.neg_log_likelihood < best.neg_log_likelihood - 1e-9 * max(
            1.0, abs(best.neg_log_likelihood))
        if interior is not None and not (boundary and outside_better):
            return interior
    else:
        message = "no start converged inside the parameter space"
    if boundary:
        closure_starts: list[Prior] = []
        for r in sorted(results, key=lambda r: r.neg_log_likelihood):
            if len(closure_starts) < 3 and r.estimate not in closure_starts:  # polished ones repeat
                closure_starts.append(r.estimate)
        prior, _, why = _boundary_fit(fit_pts, full, closure_starts, truncation, use_squash, coarse)
        if prior is not None:
            found = result(prior, True, why)
            if interior is None or found.log_likelihood > interior.log_likelihood:
                return found
        elif interior is None:
            message = f"{message}; {why}"
    return interior if interior is not None else result(best_any.estimate, False, message)


def _agree(a: StartResult, b: StartResult) -> bool:
    return bool(np.all(np.abs(a.estimate.canonical().as_array() - b.estimate.canonical().as_array())
                       < AGREEMENT_TOL))


def _settled(results: Sequence[StartResult]) -> bool:
    """:data:`ENOUGH_AGREE` accepted starts (the best accepted one included) agree."""
    accepted = [r for r in results if r.converged and r.in_bounds]
    if len(accepted) < ENOUGH_AGREE:
        return False
    best = min(accepted, key=lambda r: r.neg_log_likelihood)
    return sum(1 for r in accepted if _agree(r, best)) >= ENOUGH_AGREE


def _run_starts(run, starts: Sequence[Prior]) -> tuple[StartResult, ...]:
    """``run`` from each start, in rounds of :data:`_ROUND`, until the starts are
    :func:`_settled` (the wide benchmark data: 4 of 7 starts)."""
    results: list[StartResult] = []
    for i in range(0, len(starts), _ROUND):
        if _settled(results):
            break
        results.extend(run(s) for s in starts[i:i + _ROUND])
    return tuple(results)


#: bins and kept points per count of the coarse squash the starts run on (``squash``)
_COARSE_BINS, _COARSE_TOP = 100, 20
#: smallest E kept exact per count in the fit's squash and the coarse one (``squash``):
#: with none kept, the 1e6 narrow data's squashed optimum lay 0.4 in log mean from the
#: exact one and its refinement took 8 evaluations on all the points; with these, 2
_FIT_BOTTOM, _COARSE_BOTTOM = 20, 5
_POLISHED = 3  # as many as the closure fit takes starts


def _polish(results: Sequence[StartResult], pts: _Points, truncation: str, param_limit: float
            ) -> tuple[StartResult, ...]:
    """Re-run distinct optima of ``results`` on ``pts`` from their estimates (warm
    started): the best accepted one (converged, in bounds) and any better than it (at
    most :data:`_POLISHED`), which is all that decides between the interior estimate and
    the closure fit (which polishes its own starts). Results of the same outcome within
    :data:`AGREEMENT_TOL` of a better one share its polished estimate; each keeps its
    own start, and its iterations count both runs. The rest keep their estimates, with
    the likelihood on ``pts`` there (so all compare on the same points)."""
    reps: list[tuple[StartResult, np.ndarray]] = []
    group = [0] * len(results)
    for i in sorted(range(len(results)), key=lambda i: results[i].neg_log_likelihood):
        r = results[i]
        est = r.estimate.canonical().as_array()
        for k, (rep, rep_est) in enumerate(reps):
            if (r.converged, r.in_bounds) == (rep.converged, rep.in_bounds) and np.all(
                    np.abs(est - rep_est) < AGREEMENT_TOL):
                group[i] = k
                break
        else:
            group[i] = len(reps)
            reps.append((r, est))
    first_accepted = next((k for k, (r, _) in enumerate(reps) if r.converged and r.in_bounds), None)

    def polish(k):
        r = reps[k][0]
        if first_accepted is not None and (k < _POLISHED and k <= first_accepted or k == first_accepted):
            return _minimise(pts, r.estimate, truncation, param_limit, hess_inv0=r.hess_inv)
        nll = neg_log_likelihood(r.estimate.as_array(), pts.n, pts.e, pts.w, truncation)
        return StartResult(start=r.start, estimate=r.estimate, neg_log_likelihood=nll,
                           converged=r.converged, in_bounds=r.in_bounds, iterations=0,
                           message=r.message, hess_inv=r.hess_inv)
    polished = [polish(k) for k in range(len(reps))]
    return tuple(StartResult(start=r.start, estimate=q.estimate, neg_log_likelihood=q.neg_log_likelihood,
                             converged=q.converged, in_bounds=q.in_bounds,
                             iterations=r.iterations + q.iterations, message=q.message,
                             hess_inv=q.hess_inv)
                 for r, q in ((r, polished[k]) for r, k in zip(results, group)))


def _total_ll(prior: Prior, pts: _Points, truncation: str) -> float:
    """The log-likelihood by :func:`log_marginal` (not the optimiser's objective), in
    blocks (their temporaries were ~60 MB at once for 3.6e5 points) summed with fsum;
    the gamma functions once per distinct count (per point they took 0.8 of this
    function's 1 s on the 2.9e6 points of the 1e7 narrow benchmark)."""
    step = 4 * _CHUNK
    return math.fsum(float(np.dot(pts.w[i:i + step], log_marginal(
        prior, pts.n[i:i + step], pts.e[i:i + step], truncation, by_count=(pts.n_values, pts.n_index[i:i + step]))))
        for i in range(0, pts.n.shape[0], step))


# ----------------------------------------------------------------------------------
# the closure of the parameter space: mean-shape form with point masses
# ----------------------------------------------------------------------------------
#
# Each component is written by its mean mu and s = 1/sqrt(alpha) (so the dispersion
# k = 1/alpha = s^2 >= 0). s = 0 is the point mass at mu - the limit alpha, beta -> inf
# at alpha/beta = mu - where the negative binomial marginal becomes Poisson(mu E); the
# likelihood below is smooth through it, so the optimiser can reach the boundary and the
# boundary can be fitted directly with s held at 0. x = (log mu1, s1, log mu2, s2, logit P).

_S_MAX = 1e3  # k = s^2 <= 1e6, i.e. alpha >= 1e-6 as in the interior box
_CL_LO = np.array([_LOG_LO, -_S_MAX, _LOG_LO, -_S_MAX, -_LOGIT_LIM])
_CL_HI = np.array([_LOG_HI, _S_MAX, _LOG_HI, _S_MAX, _LOGIT_LIM])
_KKT_TOL = 1e-7  # a point mass holds if spreading it cannot raise the mean log-likelihood


def _dispersion_tables(n_values: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct count n: sum_{j<n} log1p(j k) = log[Gamma(n + 1/k) / Gamma(1/k)] + n log k
    and its k-derivative sum_{j<n} j / (1 + j k), by cumulative sums - exact as k -> 0,
    where the lgamma difference would cancel catastrophically. Beyond
    :data:`_TABLE_SUMMED` the sums continue by the lgamma / digamma differences from
    there when 1/k is at most twice that (their rounding then is that of the
    cumulative sums): the counts reach 3.6e4, and summing that far was a third of
    each mean-shape evaluation on squashed points."""
    idx = n_values.astype(np.int64)
    top = int(idx.max())
    cut = _TABLE_SUMMED if top > _TABLE_SUMMED and k * _TABLE_SUMMED >= 0.5 else top
    j = np.arange(cut, dtype=np.float64)
    s = np.concatenate([[0.0], np.cumsum(np.log1p(j * k))])
    ds = np.concatenate([[0.0], np.cumsum(j / (1.0 + j * k))])
    if cut == top:
        return s[idx], ds[idx]
    out_s, out_ds = s[np.minimum(idx, cut)], ds[np.minimum(idx, cut)]
    big = idx > cut
    nb = n_values[big].astype(np.float64)
    r = 1.0 / k
    out_s[big] += (nb - cut) * math.log(k) + special.gammaln(nb + r) - special.gammaln(cut + r)
    out_ds[big] += ((nb - cut) - r * (special.digamma(nb + r) - special.digamma(cut + r))) * r
    return out_s, out_ds


_TABLE_SUMMED = 1024


def _h_over_k2(k: float, m: np.ndarray, lx: np.ndarray | None = None,
               x_inv: np.ndarray | None = None) -> np.ndarray:
    """(log1p(x) - x/(1+x)) / k^2 with x = k m: the k-derivative of -(1/k) log1p(k m).
    A series for small x (limit m^2 / 2 at k = 0), where the difference cancels; each
    form only where it is used. ``lx`` = log1p(x) and ``x_inv`` = x/(1+x) if known."""
    x = k * m

    def series(m, x):
        return m * m * (0.5 - x * (2 / 3 - x * (0.75 - x * (0.8 - x * (5 / 6 - x * 6 / 7)))))
    if k == 0.0:
        return series(m, x)
    small = x < 1e-3
    n_small = int(np.count_nonzero(small))
    if n_small == small.size:
        return series(m, x)
    lx = np.log1p(x) if lx is None else lx
    x_inv = x / (1.0 + x) if x_inv is None else x_inv
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (lx - x_inv) / (k * k)
    if n_small:
        out[small] = series(m[small], x[small])
    return out


def _mean_shape_terms(n, e, n_log_e, n_index, tables, mu: float, k: float):
    """As :func:`_component_terms` for a component of mean mu and dispersion k = 1/alpha:
    log f(n) = n log(mu E) + S(n, k) - (1/k + n) log1p(k mu E) (without -lgamma(n+1)),
    Poisson at k = 0; derivatives with respect to mu and k. ``tables`` (per distinct
    count): S(n, k) + n log(mu), dS/dk."""
    s, ds = tables
    m = mu * e
    x = k * m
    lx = np.log1p(x)
    a = lx / k if k > 0.0 else m  # (1/k) log1p(k m) -> m
    inv = 1.0 / (1.0 + x)
    log_f = n_log_e + s[n_index] - a - n * lx
    h = _h_over_k2(k, m, lx, x * inv)
    e_inv = e * inv
    df_dmu = n / mu - (1.0 + n * k) * e_inv
    df_dk = ds[n_index] + h - n * (mu * e_inv)
    return log_f, df_dmu, df_dk, -a, -e_inv, h


def _closure_eval(x: np.ndarray, pts: _Points, truncation: str, single: bool
                  ) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its gradient in the natural (mu1, k1, mu2, k2, P)
    at x (clipped to the box). ``single``: the one-component model (P = 1)."""
    x = np.clip(x, _CL_LO, _CL_HI)
    mu1, mu2 = float(np.exp(x[0])), float(np.exp(x[2]))
    k1, k2 = float(x[1] ** 2), float(x[3] ** 2)
    p = 1.0 if single else float(special.expit(x[4]))
    s1, ds1 = _dispersion_tables(pts.n_values, k1)
    t1 = (s1 + pts.n_values * np.log(mu1), ds1)
    if single:
        mu2, k2, t2 = mu1, k1, t1
    else:
        s2, ds2 = _dispersion_tables(pts.n_values, k2)
        t2 = (s2 + pts.n_values * np.log(mu2), ds2)
    def block(sl):
        n, e, n_log_e, idx = pts.n[sl], pts.e[sl], pts.n_log_e[sl], pts.n_index[sl]
        c1 = _mean_shape_terms(n, e, n_log_e, idx, t1, mu1, k1)
        c2 = c1 if single else _mean_shape_terms(n, e, n_log_e, idx, t2, mu2, k2)
        return _combine(c1, c2, pts.w[sl], p, truncation)
    total, grad = _chunk_sums(block, pts.n.shape[0])
    value = -(total + pts.const) / pts.total_w
    return (float(value) if np.isfinite(value) else np.inf), -grad / pts.total_w


@dataclass(frozen=True)
class _ClosureRun:
    x: np.ndarray
    free: np.ndarray          # boolean mask of the coordinates optimised
    nll: float                # total (not mean) negative log-likelihood
    converged: bool
    message: str
    iterations: int
    hess_inv: np.ndarray | None = None


def _closure_objective(pts: _Points, x0: np.ndarray, free: np.ndarray, truncation: str,
                       single: bool = False):
    """Mean NLL and its gradient over the free coordinates of x (the others as in x0)."""
    def objective(xf):
        x = x0.copy()
        x[free] = xf
        inside = (x >= _CL_LO) & (x <= _CL_HI)
        value, g = _closure_eval(x, pts, truncation, single)
        xc = np.clip(x, _CL_LO, _CL_HI)
        chain = np.array([np.exp(xc[0]), 2.0 * xc[1], np.exp(xc[2]), 2.0 * xc[3],
                          0.0 if single else float(special.expit(xc[4]) * special.expit(-xc[4]))])
        g = np.where(inside & np.isfinite(g), g * chain, 0.0)
        return value, g[free]
    return objective


def _fd_hess_inv(objective, x: np.ndarray, step: float = 1e-4, g0: np.ndarray | None = None,
                 modified: bool = False) -> np.ndarray | None:
    """Inverse of the Hessian by central differences of the analytic gradient (forward
    differences from ``g0``, the gradient at x, when given: half the evaluations), or
    None when it is not positive definite. A warm start for a refinement when the run
    that found x took few steps (its BFGS matrix then is still about the identity).
    ``modified``: never None for a finite nonzero Hessian, which is made positive
    definite (:func:`_modified_inverse`): a cold start's first curvature (:func:`_minimise`)."""
    h = np.empty((x.size, x.size))
    for j in range(x.size):
        d = np.zeros(x.size)
        d[j] = step
        if g0 is None:
            h[:, j] = (objective(x + d)[1] - objective(x - d)[1]) / (2.0 * step)
        else:
            h[:, j] = (objective(x + d)[1] - g0) / step
    if not np.all(np.isfinite(h)):
        return None
    h = 0.5 * (h + h.T)
    if modified:
        return _modified_inverse(h)
    try:
        return _usable_hess_inv(np.linalg.inv(h), x.size)
    except np.linalg.LinAlgError:
        return None


def _modified_inverse(h: np.ndarray, floor: float = 1e-3) -> np.ndarray | None:
    """Inverse of the symmetric ``h`` with its eigenvalues replaced by their absolute
    values, floored at ``floor`` times the largest: positive definite, it steps down
    along negative curvature instead of towards a saddle (saddle-free Newton, Dauphin et
    al. 2014). None when ``h`` is zero or not finite."""
    try:
        lam, v = np.linalg.eigh(h)
    except np.linalg.LinAlgError:
        return None
    top = float(np.max(np.abs(lam), initial=0.0))
    if not (np.isfinite(top) and top > 0.0):
        return None
    lam = np.maximum(np.abs(lam), floor * top)
    return (v / lam) @ v.T


def _restricted_hess_inv(h: np.ndarray | None, free: np.ndarray) -> np.ndarray | None:
    """Inverse Hessian over the ``free`` coordinates from one over all of them: the
    Hessian's sub-block, inverted (None when ``h`` is missing or singular)."""
    if h is None or h.shape != (free.size, free.size):
        return None
    try:
        sub = np.linalg.inv(0.5 * (h + h.T))[np.ix_(free, free)]
        return _usable_hess_inv(np.linalg.inv(sub), int(free.sum()))
    except np.linalg.LinAlgError:
        return None


def _minimise_closure(pts: _Points, x0: np.ndarray, free: np.ndarray, truncation: str, *,
                      single: bool = False, hess_inv0: np.ndarray | None = None,
                      max_iter: int = 2000, gtol: float = 1e-8) -> _ClosureRun:
    """BFGS over the free coordinates of x (the others held, e.g. s_i = 0 for a point mass)."""
    x0 = np.asarray(x0, dtype=np.float64)
    objective = _closure_objective(pts, x0, free, truncation, single)
    hess_inv0 = _usable_hess_inv(hess_inv0, int(free.sum()))
    with np.errstate(all="ignore"):
        first = None
        if hess_inv0 is None:  # as in _minimise: the start's curvature
            f0, g0 = objective(x0[free])
            if np.isfinite(f0) and np.all(g0 != 0.0):
                hess_inv0 = _fd_hess_inv(objective, x0[free], g0=g0, modified=True)
                first = (f0, g0)
        if hess_inv0 is not None:
            res = _warm_bfgs(objective, x0[free], hess_inv0, max_iter, gtol, first=first)
        else:
            res = _cold_bfgs(objective, x0[free], max_iter, gtol)
    x = x0.copy()
    x[free] = res.x
    x = np.clip(x, _CL_LO, _CL_HI)
    flat = res.status == 2 and float(np.max(np.abs(res.jac), initial=0.0)) < _GRAD_TOL
    ok = bool((res.success or flat) and np.isfinite(res.fun))
    nll = float(res.fun) * pts.total_w if np.isfinite(res.fun) else np.inf
    hess_inv = getattr(res, "hess_inv", None)
    if hess_inv is None and ok:  # stopped flat: the warm start of what continues from here
        hess_inv = _fd_hess_inv(objective, res.x)
    return _ClosureRun(x, free, nll, ok, str(res.message), int(res.nit), hess_inv)


def _closure_prior(x: np.ndarray, free: np.ndarray, single: bool = False) -> Prior:
    """The prior at x; a component whose s is held at 0 is a point mass."""
    def comp(i):
        mu, s = float(np.exp(x[2 * i])), float(x[2 * i + 1])
        alpha = math.inf if (not free[2 * i + 1] and s == 0.0) else 1.0 / (s * s)
        return mu, alpha
    (m1, a1) = comp(0)
    if single:
        return Prior.single(a1, a1 / m1)
    (m2, a2) = comp(1)
    return Prior.from_means(m1, a1, m2, a2, float(special.expit(x[4])))


def _closure_x(prior: Prior) -> np.ndarray:
    """x of a (finite-shape) prior: the interior estimates become closure starts."""
    def comp(i):
        alpha, beta, point = prior.component(i)
        if point is not None:
            return np.log(point), 0.0
        return np.log(alpha / beta), 1.0 / np.sqrt(alpha)
    p = min(max(prior.p, special.expit(-_LOGIT_LIM)), special.expit(_LOGIT_LIM))
    return np.clip(np.array([*comp(1), *comp(2), special.logit(p)]), _CL_LO, _CL_HI)


_SPREAD_Z2 = 100.0  # (s / standard error)^2 beyond which a free fit's component is no point mass


def _clearly_spread(run: _ClosureRun, pts: _Points, truncation: str) -> dict[int, bool]:
    """Per coordinate s_i (1, 3): whether the free fit converged with s_i at least 10
    standard errors from 0 (Wald, from the Hessian by differences of the gradient on
    ``pts``). The point-mass model s_i = 0 is then not fitted: nested in the free model,
    its maximum near this one is lower, and the fit is not approaching it. The Wald
    statistic can overstate the likelihood drop to s_i = 0 (by 4 if the profile is
    quartic there), hence the wide margin. Everything False unless the fit converged
    with a positive definite Hessian."""
    none = {1: False, 3: False}
    if not (run.converged and run.free.all()):
        return none
    objective = _closure_objective(pts, run.x, run.free, truncation)
    f0, g0 = objective(run.x)
    if not np.isfinite(f0) or not np.all(np.isfinite(g0)):
        return none
    h_inv = _fd_hess_inv(objective, run.x, g0=g0)
    if h_inv is None:
        return none
    var = np.diag(h_inv) / pts.total_w  # the mean NLL's curvature; the total's is total_w times
    return {i: bool(var[i] > 0 and run.x[i] ** 2 / var[i] > _SPREAD_Z2) for i in (1, 3)}


def _kkt_holds(run: _ClosureRun, pts: _Points, truncation: str, single: bool = False) -> bool:
    """At a fitted point mass (s_i held at 0) the likelihood must not rise when the
    component spreads: d(mean NLL)/dk_i >= 0 there (the one-sided optimality condition)."""
    _, g = _closure_eval(run.x, pts, truncation, single)
    held = [i for i in (0, 1) if not run.free[2 * i + 1] and run.x[2 * i + 1] == 0.0]
    return all(g[2 * i + 1] >= -_KKT_TOL for i in held)


def _at_box_edge(x: np.ndarray, free: np.ndarray) -> str | None:
    """Why an estimate on the edge of the box is no fit (a mean at the box, P at 0 or 1)."""
    margin = 0.01
    if free[4] and not abs(x[4]) < _LOGIT_LIM - margin:  # first: it leaves the other unidentified
        return "mixing weight P at 0 or 1 (one component explains the data)"
    for i, name in ((0, "mean of component 1"), (2, "mean of component 2")):
        if free[i] and not (_CL_LO[i] + margin < x[i] < _CL_HI[i] - margin):
            return f"{name} at the edge of the search box"
    return None


def _boundary_fit(fit_pts: _Points, full: _Points, starts: Sequence[Prior], truncation: str,
                  squashed: bool, coarse: _Points | None = None
                  ) -> tuple[Prior | None, _ClosureRun | None, str]:
    """Maximum of the likelihood over the closure of the parameter space.

    From each start a free fit in mean-shape form (which may run towards s = 0), then the
    three boundary models (component 1, 2 or both a point mass) fitted with s held at 0
    from the best free estimate. These run on ``coarse`` (the starts' squash, when
    given), and the best free fit and the converged boundary models are then polished
    on ``fit_pts`` (warm started), where they compete. The highest likelihood wins;
    within rounding of a tie the boundary model wins (it is the limit the free fit is
    approaching). A point mass must satisfy the one-sided optimality condition
    (:func:`_kkt_holds`). The winner is refined on all the data when the fit ran on
    squashed points. Returns (prior, run, message), prior None when no identifiable
    maximum was found.
    """
    coarse = fit_pts if coarse is None else coarse
    everything = np.ones(5, dtype=bool)
    runs = [_minimise_closure(coarse, _closure_x(s), everything, truncation) for s in starts]
    runs = [r for r in runs if np.isfinite(r.nll)]
    if not runs:
        return None, None, "no finite likelihood in the closure of the parameter space"
    best_free = min(runs, key=lambda r: r.nll)

    def held_fit(held):
        free = everything.copy()
        free[list(held)] = False
        x0 = best_free.x.copy()
        x0[list(held)] = 0.0
        # the free fit's curvature, restricted to the coordinates left free
        return _minimise_closure(coarse, x0, free, truncation,
                                 hess_inv0=_restricted_hess_inv(best_free.hess_inv, free))
    away = _clearly_spread(best_free, coarse, truncation)
    held_runs = [held_fit(h) for h in ((1,), (3,), (1, 3)) if not any(away[i] for i in h)]
    if coarse is not fit_pts:
        def polish(r):
            return _minimise_closure(fit_pts, r.x, r.free, truncation, hess_inv0=r.hess_inv)
        polished = [polish(r) for r in [best_free] + [r for r in held_runs if r.converged]]
        best_free, held_runs = polished[0], polished[1:]
    candidates = [best_free] if best_free.converged else []
    for run in held_runs:
        if run.converged and _kkt_holds(run, fit_pts, truncation):
            candidates.append(run)
    if not candidates:
        return None, best_free, "no fit converged in the closure of the parameter space"
    best_nll = min(r.nll for r in candidates)
    tol = 1e-9 * max(1.0, abs(best_nll))
    tied = [r for r in candidates if r.nll <= best_nll + tol]
    chosen = min(tied, key=lambda r: (int(r.free.sum()), r.nll))  # fewest free: the limit
    if squashed:
        curvature = _fd_hess_inv(_closure_objective(fit_pts, chosen.x, chosen.free, truncation),
                                 chosen.x[chosen.free])
        refined = _minimise_closure(full, chosen.x, chosen.free, truncation,
                                    hess_inv0=chosen.hess_inv if curvature is None else curvature)
        if not refined.converged:
            return None, refined, "boundary fit: refinement on all data did not converge: " \
                + refined.message
        if not refined.free.all() and not _kkt_holds(refined, full, truncation):
            return None, refined, "boundary fit: the point mass is not a maximum on all data"
        chosen = refined
    edge = _at_box_edge(chosen.x, chosen.free)
    if edge is not None:
        return None, chosen, "not identifiable: " + edge
    prior = _closure_prior(chosen.x, chosen.free).canonical()
    if len(prior.point_masses) == 2 and math.isclose(prior.point1, prior.point2, rel_tol=1e-6):
        return None, chosen, "not identifiable: both components at the same point mass"
    return prior, chosen, _boundary_message(prior)


def _boundary_message(prior: Prior) -> str:
    """How the maximum was reached, for people: which components are point masses, and
    a shape left at the lower search limit (the likelihood still rising as alpha -> 0)."""
    pts = prior.point_masses
    if not pts:
        out = "converged in mean-shape form (shape beyond the interior search limits)"
    elif len(pts) == 1:
        out = f"boundary: component {pts[0]} at a point mass, mean {prior.mean(pts[0]):.3g}"
    else:
        out = (f"boundary: components 1 and 2 at point masses, means {prior.mean(1):.3g} "
               f"and {prior.mean(2):.3g}")
    floor = 1.0 / _S_MAX ** 2
    for i in (1, 2):
        alpha = prior.component(i)[0]
        if not prior.is_point(i) and alpha < floor * 1.01:
            out += f"; component {i} shape at the search limit alpha = {alpha:.3g}"
    return out


@_fit_context
def fit_single_gamma(n, e, *, truncation: str = "mixture", ties=None) -> tuple[Prior | None, float, str]:
    """Maximum-likelihood one-component gamma prior (the second step of the fallback
    order). Returns (prior, log-likelihood, message); prior None when the maximum is the
    point mass (every pair would get the same EBGM, hiding each pair's own data) or the
    fit does not converge."""
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    n_u, e_u, w_u, _ = collapse_ties(n, e) if ties is None else ties
    pts = _Points.build(n_u, e_u, w_u)
    free = np.array([True, True, False, False, False])
    mu0 = float(np.log(np.dot(w_u, n_u) / np.dot(w_u, e_u)))
    runs = [_minimise_closure(pts, np.array([mu0, s0, mu0, s0, 0.0]), free, truncation, single=True)
            for s0 in (2.0, 1.0, 0.3)]
    runs = [r for r in runs if r.converged]
    if not runs:
        return None, math.nan, "one-component gamma fit did not converge"
    best = min(runs, key=lambda r: r.nll)
    if abs(best.x[1]) < 1e-4 or _at_box_edge(best.x, free):
        return None, -best.nll, ("one-component fit reaches a point mass (no spread of "
                                 "reporting ratios is identifiable)")
    prior = _closure_prior(best.x, free, single=True)
    return prior, _total_ll(prior, pts, truncation), "one-component gamma prior by maximum likelihood"


# ----------------------------------------------------------------------------------
# posterior
# ----------------------------------------------------------------------------------


def posterior_weight(prior: Prior, n, e) -> np.ndarray:
    """Q_n: posterior probability that lambda comes from the first component
    (DuMouchel 1999 eq. 6), computed on the log scale."""
    with np.errstate(divide="ignore"):  # P = 1 (one component): log(1 - P) = -inf
        l1 = np.log(prior.p) + component_logpmf(prior, 1, n, e)[0]
        l2 = np.log1p(-prior.p) + component_logpmf(prior, 2, n, e)[0]
    return special.expit(l1 - l2)


def _posterior_mean_log(prior: Prior, i: int, n, e) -> np.ndarray:
    """E[log lambda | N = n, component i]: psi(alpha + n) - log(beta + E) for a gamma,
    log(mean) for a point mass (its posterior is the same point mass)."""
    alpha, beta, point = prior.component(i)
    if point is not None:
        return np.full(np.broadcast(n, e).shape, np.log(point))
    return special.digamma(alpha + n) - np.log(beta + e)


def ebgm(prior: Prior, n, e) -> np.ndarray:
    """Empirical Bayes geometric mean exp(E[log lambda | N = n]) (DuMouchel 1999 eqs. 9-11)."""
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    q = posterior_weight(prior, n, e)
    m1 = _posterior_mean_log(prior, 1, n, e)
    m2 = _posterior_mean_log(prior, 2, n, e)
    return np.exp(q * m1 + (1.0 - q) * m2)


def posterior_quantile(prior: Prior, n, e, prob: float, *, rtol: float = 1e-12,
                       max_iter: int = 200) -> np.ndarray:
    """``prob`` quantile of the posterior gamma mixture, for all pairs at once.

    Solves Q G1(x) + (1-Q) G2(x) = prob (G_i the posterior gamma CDFs, via
    ``gammainc``) by Newton's method safeguarded with bisection. The root lies between
    the two components' own quantiles, which gives every pair a bracket to start
    from; only pairs not yet converged are iterated.
    """
    n = np.atleast_1d(np.asarray(n, dtype=np.float64))
    e = np.atleast_1d(np.asarray(e, dtype=np.float64))
    q = posterior_weight(prior, n, e)
    if prior.point_masses:
        return _quantile_with_point_mass(prior, q, n, e, prob)
    k1, r1 = prior.alpha1 + n, prior.beta1 + e
    k2, r2 = prior.alpha2 + n, prior.beta2 + e
    # gammaincinv is costly and depends on the pair only through n: once per distinct n
    codes, n_values = pd.factorize(n)
    n_values = np.asarray(n_values, dtype=np.float64)
    x1 = special.gammaincinv(prior.alpha1 + n_values, prob)[codes] / r1
    x2 = special.gammaincinv(prior.alpha2 + n_values, prob)[codes] / r2
    lg1 = k1 * np.log(r1) - special.gammaln(k1)   # log-density constants
    lg2 = k2 * np.log(r2) - special.gammaln(k2)
    return _mixture_quantile(q, k1, r1, lg1, x1, k2, r2, lg2, x2, prob, rtol, max_iter)


def _mixture_quantile(q, k1, r1, lg1, x1, k2, r2, lg2, x2, prob: float, rtol: float,
                      max_iter: int, start: np.ndarray | None = None) -> np.ndarray:
    """Solve q G1(x) + (1-q) G2(x) = prob, G_i the CDF of Gamma(k_i, rate r_i) with log
    density constant lg_i = k_i log r_i - lgamma(k_i), x_i each component's own quantile.

    Halley's method (the density's derivative is free given the density: cubic
    convergence, 3-4 passes where Newton took 5-6), safeguarded by bisection inside the
    bracket [min(x1, x2), max(x1, x2)], which holds the root. Converged points stay in
    the arrays until they are at least half of them: compacting ~10 arrays every pass
    cost more than the special functions it saved. ``start`` (where finite) replaces
    the default start; the convergence test is the same either way.
    """
    lo, hi = np.minimum(x1, x2), np.maximum(x1, x2)
    # start: a component's own quantile when the other's weight is small (the matched
    # moments then overstate the spread: 20% off at weight 6e-4), else the moment match
    small = q < 0.01
    x = np.where(small, x2, x1)
    mixed = np.flatnonzero(~(small | (q > 0.99)))  # few, when a component's weight is small
    x[mixed] = _moment_matched_quantile(q[mixed], k1[mixed], r1[mixed], k2[mixed], r2[mixed], prob)
    if start is not None:
        x = np.where(np.isfinite(start), start, x)
    x = np.clip(x, lo, hi)
    where = np.flatnonzero(hi - lo > rtol * hi)
    cur = [v[where] for v in (x, lo, hi, q, k1, r1, lg1, k2, r2, lg2)]
    live = np.ones(where.size, dtype=bool)
    prev = np.zeros(where.size)  # last relative Halley step (0: none yet, or a bisection)
    # After a Halley step of relative size d the error is about C d^3 with C of order c^2,
    # c = |x f''/2f'| the Newton constant (1-100 here): d^3 <= 1e-4 rtol leaves < rtol
    halley_tol = np.cbrt(1e-4 * rtol)
    for _ in range(max_iter):
        if not live.any():
            break
        if live.sum() * 2 < live.size:  # compact
            where, prev = where[live], prev[live]
            cur = [v[live] for v in cur]
            live = np.ones(where.size, dtype=bool)
        xa, la, ha, qa, ka1, ra1, lga1, ka2, ra2, lga2 = cur
        cdf = qa * special.gammainc(ka1, ra1 * xa) + (1.0 - qa) * special.gammainc(ka2, ra2 * xa) - prob
        below = cdf < 0
        np.copyto(la, xa, where=below & live)
        np.copyto(ha, xa, where=~below & live)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            lx = np.log(xa)
            d1 = qa * np.exp(lga1 + (ka1 - 1.0) * lx - ra1 * xa)
            d2 = (1.0 - qa) * np.exp(lga2 + (ka2 - 1.0) * lx - ra2 * xa)
            pdf = d1 + d2
            slope = (d1 * ((ka1 - 1.0) / xa - ra1) + d2 * ((ka2 - 1.0) / xa - ra2)) / pdf
            t = cdf / pdf
            x_step = xa - t / (1.0 - 0.5 * t * slope)
        step_ok = np.isfinite(x_step) & (x_step >= la) & (x_step <= ha)
        x_new = np.where(step_ok, x_step, 0.5 * (la + ha))
        x_new = np.where(cdf == 0, xa, x_new)
        step = np.where(step_ok, np.abs(x_step - xa) / xa, np.inf)
        # or when two Halley steps d0, d1 show the rate itself: the error left is about
        # C d1^3 with C = d1 / d0^3, so d1^4 / d0^3 below 0.1 rtol
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step2 = step * step  # products, not powers: np.power was 5% of this loop
            cubic = step2 * step2 <= 0.1 * rtol * (prev * prev * prev)
        done = (cdf == 0) | (step <= halley_tol) | (step_ok & cubic) | (ha - la <= rtol * ha)
        np.copyto(prev, np.where(step_ok, step, 0.0), where=live)
        np.copyto(xa, x_new, where=live)
        x[where[live]] = xa[live]
        live &= ~done
    return x


def _moment_matched_quantile(q, k1, r1, k2, r2, prob: float) -> np.ndarray:
    """A start for the quantile search: the gamma with the mixture's mean and variance,
    its quantile by the Wilson-Hilferty cube-root normal approximation (arithmetic
    only: no special function per pair)."""
    m1, m2 = k1 / r1, k2 / r2
    mean = q * m1 + (1.0 - q) * m2
    second = q * (m1 / r1 + m1 * m1) + (1.0 - q) * (m2 / r2 + m2 * m2)
    var = np.maximum(second - mean * mean, 1e-300)
    c = var / (9.0 * mean * mean)  # 1 / (9 shape)
    z = special.ndtri(prob)
    return mean * np.maximum(1.0 - c + z * np.sqrt(c), 1e-3) ** 3


def _quantile_with_point_mass(prior: Prior, q: np.ndarray, n, e, prob: float) -> np.ndarray:
    """Quantile inf{x : F(x) >= prob} of a posterior with an atom, in closed form.

    With one point mass at m (posterior weight w) and a gamma G (weight 1 - w):
    F(m-) = (1-w) G(m), F(m) = F(m-) + w; below the atom x = G^-1(prob / (1-w)), on it
    x = m, above it x = G^-1((prob - w) / (1-w)). With two atoms m_lo < m_hi the
    quantile is m_lo when its weight reaches prob, else m_hi.
    """
    if len(prior.point_masses) == 2:
        w1 = q
        lo_is_1 = prior.point1 <= prior.point2
        w_lo = w1 if lo_is_1 else 1.0 - w1
        m_lo, m_hi = sorted((prior.point1, prior.point2))
        return np.where(w_lo >= prob, m_lo, m_hi)
    atom = prior.point_masses[0]
    w = q if atom == 1 else 1.0 - q
    alpha, beta, _ = prior.component(2 if atom == 1 else 1)
    m = prior.mean(atom)
    k, r = alpha + n, beta + e
    below = (1.0 - w) * special.gammainc(k, r * m)
    with np.errstate(divide="ignore", invalid="ignore"):
        y_lo = np.clip(prob / (1.0 - w), 0.0, 1.0)
        y_hi = np.clip((prob - w) / (1.0 - w), 0.0, 1.0)
        x_lo = special.gammaincinv(k, y_lo) / r
        x_hi = special.gammaincinv(k, y_hi) / r
    return np.where(prob <= below, x_lo, np.where(prob <= below + w, m, x_hi))


@_one_blas_thread
def posterior_scores(prior: Prior, n, e, *, ties=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(EBGM, EB05, EB95) per pair, computed once per distinct (n, E) (``ties``: the
    :func:`collapse_ties` of (n, e), when the caller has it already)."""
    n_u, e_u, _, point = collapse_ties(n, e) if ties is None else ties
    g, q05, q95 = (np.empty(n_u.shape[0]) for _ in range(3))
    # blocks: small temporaries are faster; on several threads smaller, so that the
    # blocks in flight together hold about one block's temporaries
    chunk = max(4096, _CHUNK // _THREADS)
    blocks = range(0, n_u.shape[0], chunk)
    if prior.point_masses:
        def atom_block(i):
            sl = slice(i, i + chunk)
            g[sl] = ebgm(prior, n_u[sl], e_u[sl])
            q05[sl] = posterior_quantile(prior, n_u[sl], e_u[sl], 0.05)
            q95[sl] = posterior_quantile(prior, n_u[sl], e_u[sl], 0.95)
        _map(atom_block, blocks)
        return g[point], q05[point], q95[point]
    # two gammas: what depends on a pair only through n once per distinct n, and the
    # weight Q and log(beta + E) once per point for all three scores (the same
    # expressions as posterior_weight, ebgm and posterior_quantile, so the same numbers)
    codes, n_values = pd.factorize(n_u)
    n_values = np.asarray(n_values, dtype=np.float64)
    comps = []
    for alpha, beta in ((prior.alpha1, prior.beta1), (prior.alpha2, prior.beta2)):
        lgk = special.gammaln(n_values + alpha)
        comps.append((alpha, beta, lgk - special.gammaln(alpha) - special.gammaln(n_values + 1.0),
                      special.digamma(alpha + n_values), lgk,
                      {prob: special.gammaincinv(alpha + n_values, prob) for prob in (0.05, 0.95)}))
    with np.errstate(divide="ignore"):
        log_p, log_q = np.log(prior.p), np.log1p(-prior.p)

    # by count, then E (as collapse_ties gives them): neighbours then have nearly equal
    # quantiles (_quantile_by_nodes)
    order = None if _sorted_by_count_then_e(n_u, e_u) else _order_by_count_then_e(n_u, e_u)
    n_s, e_s, codes_s = (n_u, e_u, codes) if order is None else (n_u[order], e_u[order], codes[order])

    def block(i):  # each block writes its own slice of g, q05, q95
        sl = slice(i, i + chunk)
        nn, ee, idx = n_s[sl], e_s[sl], codes_s[sl]
        parts = []
        for alpha, beta, gl, dg, lgk, inv in comps:
            log_f = gl[idx] - alpha * np.log1p(ee / beta) - nn * np.log1p(beta / ee)
            k, r = alpha + nn, beta + ee
            log_r = np.log(r)
            parts.append((log_f, k, r, log_r, dg[idx] - log_r, k * log_r - lgk[idx], inv))
        (f1, k1, r1, _, m1, lg1, inv1), (f2, k2, r2, _, m2, lg2, inv2) = parts
        q = special.expit((log_p + f1) - (log_q + f2))
        g[sl] = np.exp(q * m1 + (1.0 - q) * m2)
        log_e = np.log(ee)
        for prob, out in ((0.05, q05), (0.95, q95)):
            out[sl] = _quantile_by_nodes(nn, log_e, (q, k1, r1, lg1, inv1[prob][idx] / r1, k2, r2, lg2,
                                                     inv2[prob][idx] / r2), prob)
    _map(block, blocks)
    if order is None:
        return g[point], q05[point], q95[point]
    at = np.empty_like(order)
    at[order] = np.arange(order.size)
    at = at[point]  # each pair's position in the sorted points
    return g[at], q05[at], q95[at]


_NODES_NESTED = 1024  # nodes in a block from which the nodes get nodes of their own: below, numpy's per-call cost ate the saving


def _quantile_by_nodes(n, log_e, args: tuple, prob: float, stride: int = 8, rtol: float = 1e-12,
                       max_iter: int = 200) -> np.ndarray:
    """:func:`_mixture_quantile` for points sorted by (n, E), cheaper: every ``stride``-th
    point (and the last) is solved (by this scheme again, down to ``stride`` points from
    the default start: 4.3 gammainc calls per point for EB05 and EB95 instead of 5.1); the others start from the
    quantile interpolated (in log x against log E) between their two nodes of the same
    n, typically one Halley step from converged (2-3 from the default start). The
    convergence test is the same, so the answer is too (within ``rtol``)."""
    m = n.shape[0]
    if m <= stride:
        return _mixture_quantile(*args, prob, rtol, max_iter)
    node = np.zeros(m, dtype=bool)
    node[::stride] = True
    node[-1] = True
    at = np.flatnonzero(node)
    out = np.empty(m)
    # the nodes themselves by the same scheme: they are sorted too, and one level up the
    # default start's 3-4 passes are paid by an eighth as many points
    node_args = tuple(v[at] for v in args)
    out[at] = (_quantile_by_nodes(n[at], log_e[at], node_args, prob, stride, rtol, max_iter)
               if at.size >= _NODES_NESTED else _mixture_quantile(*node_args, prob, rtol, max_iter))
    rest = np.flatnonzero(~node)
    left = (rest // stride) * stride
    right = np.minimum(left + stride, m - 1)
    span = log_e[right] - log_e[left]
    # across two counts t is unbounded and exp may overflow: those starts are discarded below
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = np.where(span > 0, (log_e[rest] - log_e[left]) / span, 0.0)
        lx_left, lx_right = np.log(out[left]), np.log(out[right])
        start = np.exp(lx_left + t * (lx_right - lx_left))
    start[n[left] != n[right]] = np.nan  # nodes of another count: the default start
    out[rest] = _mixture_quantile(*(v[rest] for v in args), prob, rtol, max_iter, start=start)
    return out

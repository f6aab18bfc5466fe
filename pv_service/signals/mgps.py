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

The fit is run from seven starting points (openEBGM's vignette set plus two with a
rare high-ratio component, which the likelihood's multimodality needs) with BFGS on
log(alpha), log(beta), logit(P) and an analytic gradient; only converged
fits strictly inside the parameter space are accepted (openEBGM ``autoHyper``). Large
inputs are "squashed" (DuMouchel et al. 2001; openEBGM ``squashData``): points with the
same count are binned by E and weighted, the multi-start runs on the squashed points,
and the best estimate is then refined on the exact (tie-collapsed) data so the final
estimate maximises the real likelihood.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

TRUNCATIONS = ("mixture", "component")

#: Starting points (alpha1, beta1, alpha2, beta2, P): DuMouchel's 1999 default first,
#: then the others used in openEBGM's posterior-calculation vignette, then two with a
#: rare high-ratio component. The likelihood can be multimodal: on CAERS with
#: openEBGM's likelihood only the last two reach the higher of two maxima.
DEFAULT_STARTS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.2, 0.1, 2.0, 4.0, 1 / 3),
    (0.1, 0.1, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
    (0.5, 0.3, 12.0, 12.0, 0.8),
    (0.2, 0.2, 5.0, 5.0, 0.4),
    (20.0, 2.0, 2.0, 2.0, 0.03),
    (40.0, 4.0, 1.5, 1.5, 0.01),
)

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
    """Hyperparameters of the two-component gamma mixture prior (shape, rate)."""

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float

    def as_array(self) -> np.ndarray:
        return np.array([self.alpha1, self.beta1, self.alpha2, self.beta2, self.p])

    @classmethod
    def from_array(cls, theta) -> "Prior":
        a1, b1, a2, b2, p = (float(x) for x in theta)
        return cls(a1, b1, a2, b2, p)

    def canonical(self) -> "Prior":
        """The same prior with the larger-mean component first (the components are
        exchangeable; this fixes the labelling for reports and comparisons)."""
        if self.alpha1 / self.beta1 >= self.alpha2 / self.beta2:
            return self
        return Prior(self.alpha2, self.beta2, self.alpha1, self.beta1, 1.0 - self.p)


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
    accepted starts within openEBGM's agreement tolerance of the chosen one.
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

    def to_dict(self) -> dict:
        """JSON-ready summary (HYPER.json)."""
        out = {**asdict(self.prior), "log_likelihood": self.log_likelihood,
               "converged": self.converged, "truncation": self.truncation,
               "n_pairs": self.n_pairs, "n_points": self.n_points, "squashed": self.squashed,
               "n_agree": self.n_agree, "message": self.message}
        out["starts"] = [{"start": asdict(s.start), "estimate": asdict(s.estimate),
                          "neg_log_likelihood": s.neg_log_likelihood, "converged": s.converged,
                          "in_bounds": s.in_bounds, "iterations": s.iterations,
                          "message": s.message} for s in self.starts]
        return out


# ----------------------------------------------------------------------------------
# likelihood
# ----------------------------------------------------------------------------------


def nb_logpmf(n, alpha, beta, e) -> np.ndarray:
    """log NB(n; size=alpha, prob=beta/(beta+E)) - the marginal of N under one gamma
    component (DuMouchel 1999 eq. 5), written with log1p so tiny E stays accurate."""
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    return (special.gammaln(n + alpha) - special.gammaln(alpha) - special.gammaln(n + 1.0)
            - alpha * np.log1p(e / beta) - n * np.log1p(beta / e))


def _log1mexp(z: np.ndarray) -> np.ndarray:
    """log(1 - exp(z)) for z < 0 without cancellation."""
    return np.where(z > -np.log(2.0), np.log(-np.expm1(z)), np.log1p(-np.exp(z)))


def log_marginal(prior: Prior, n, e, truncation: str | None = None) -> np.ndarray:
    """log P(N = n | E) under the mixture; zero-truncated when ``truncation`` is given."""
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    l1 = nb_logpmf(n, prior.alpha1, prior.beta1, e)
    l2 = nb_logpmf(n, prior.alpha2, prior.beta2, e)
    z1 = -prior.alpha1 * np.log1p(e / prior.beta1)  # log f1(0)
    z2 = -prior.alpha2 * np.log1p(e / prior.beta2)
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
    log_e: np.ndarray
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
        return cls(n, e, w, n_values, n_index, np.log(e), const, float(w.sum()))


_CHUNK = 1 << 15  # points per block: keeps temporaries small (large ones are slow here)


def _logaddexp(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log(exp(x) + exp(y)); ``np.logaddexp`` is many times slower than this."""
    m = np.maximum(x, y)
    return m + np.log1p(np.exp(-np.abs(x - y)))


def _component_terms(n, e, log_e, n_index, gl, dg, alpha: float, beta: float):
    """Per point: log f(n) (without -lgamma(n+1)), d/d alpha, d/d beta, and the same for
    z = log f(0). ``gl``/``dg`` are lgamma/digamma differences per distinct count."""
    l_eb = np.log1p(e / beta)                       # log((beta + E)/beta), exact for tiny E
    l_be = l_eb + (np.log(beta) - log_e)            # log((beta + E)/E)
    log_f = gl[n_index] - alpha * l_eb - n * l_be
    df_da = dg[n_index] - l_eb
    inv_be = 1.0 / (beta + e)
    df_db = alpha / beta - (alpha + n) * inv_be
    z = -alpha * l_eb
    dz_db = (alpha / beta) * e * inv_be
    return log_f, df_da, df_db, z, -l_eb, dz_db


def _block(n, e, log_e, n_index, w, tables, a1, b1, a2, b2, p, truncation):
    """Weighted log-likelihood sum and gradient sums (natural parameters) for a block."""
    f1, f1a, f1b, z1, z1a, z1b = _component_terms(n, e, log_e, n_index, *tables[0], a1, b1)
    f2, f2a, f2b, z2, z2a, z2b = _component_terms(n, e, log_e, n_index, *tables[1], a2, b2)
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
        lm = _logaddexp(lp + f1, lq + f2)
        lz = _logaddexp(lp + z1, lq + z2)         # log m(0)
        lt = _log1mexp(lz)                        # log(1 - m(0))
        ll = lm - lt
        w1 = np.exp(lp + f1 - lm)
        w2 = 1.0 - w1
        u1 = np.exp(lp + z1 - lt)                 # P f1(0) / (1 - m(0))
        u2 = np.exp(lq + z2 - lt)
        d_a1 = w1 * f1a + u1 * z1a
        d_b1 = w1 * f1b + u1 * z1b
        d_a2 = w2 * f2a + u2 * z2a
        d_b2 = w2 * f2b + u2 * z2b
        d_p = w1 / p - w2 / (1.0 - p) + (np.exp(z1 - lt) - np.exp(z2 - lt))
    else:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}")
    return np.dot(w, ll), np.array([np.dot(w, d) for d in (d_a1, d_b1, d_a2, d_b2, d_p)])


def _objective(x: np.ndarray, pts: _Points, truncation: str) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its gradient in x = (log a1, log b1, log a2,
    log b2, logit P). Averaging keeps optimiser tolerances independent of data size.
    Outside the box the objective is flat (clipped x, zero gradient there)."""
    inside = (x >= _BOX_LO) & (x <= _BOX_HI)
    x = np.clip(x, _BOX_LO, _BOX_HI)
    a1, b1, a2, b2 = np.exp(x[:4])
    p = float(special.expit(x[4]))
    tables = [(special.gammaln(pts.n_values + a) - special.gammaln(a),
               special.digamma(pts.n_values + a) - special.digamma(a)) for a in (a1, a2)]
    total, grad = 0.0, np.zeros(5)
    for i in range(0, pts.n.shape[0], _CHUNK):
        sl = slice(i, i + _CHUNK)
        ll, g = _block(pts.n[sl], pts.e[sl], pts.log_e[sl], pts.n_index[sl], pts.w[sl], tables,
                       a1, b1, a2, b2, p, truncation)
        total += ll
        grad += g
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


def _minimise(pts: _Points, start: Prior, truncation: str, param_limit: float,
              max_iter: int = 2000, hess_inv0: np.ndarray | None = None) -> StartResult:
    """BFGS on the unconstrained transformed parameters (as openEBGM's nlminb runs
    unconstrained), then an in-bounds check. BFGS rather than L-BFGS-B: for five
    parameters it needs no LAPACK calls, whose threads stall when the machine is busy."""
    if hess_inv0 is not None:
        hess_inv0 = 0.5 * (hess_inv0 + hess_inv0.T)
        try:
            np.linalg.cholesky(hess_inv0)
        except np.linalg.LinAlgError:
            hess_inv0 = None  # not positive definite: start from the identity
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = optimize.minimize(_objective, _to_x(start), args=(pts, truncation), jac=True,
                                method="BFGS", options={"maxiter": max_iter, "gtol": 1e-8,
                                                        "hess_inv0": hess_inv0})
    est = _from_x(np.clip(res.x, _BOX_LO, _BOX_HI))
    nll = float(res.fun) * pts.total_w if np.isfinite(res.fun) else np.inf
    # BFGS reports "precision loss" when the line search cannot improve an objective
    # already flat to rounding; that is convergence if the gradient is ~0 there.
    flat = res.status == 2 and float(np.max(np.abs(res.jac))) < _GRAD_TOL
    return StartResult(start=start, estimate=est, neg_log_likelihood=nll,
                       converged=bool((res.success or flat) and np.isfinite(res.fun)),
                       in_bounds=_in_bounds(est, param_limit), iterations=int(res.nit),
                       message=str(res.message), hess_inv=getattr(res, "hess_inv", None))


# ----------------------------------------------------------------------------------
# squashing
# ----------------------------------------------------------------------------------


def collapse_ties(n, e) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (n, E) points, their multiplicities, and each input's point index.
    Lossless: the likelihood and the posterior depend on a pair only through (n, E)."""
    n = np.asarray(n)
    e = np.asarray(e, dtype=np.float64)
    e_codes, e_values = pd.factorize(e)
    n_codes, n_values = pd.factorize(n)
    key = n_codes.astype(np.int64) * max(1, len(e_values)) + e_codes
    point, keys = pd.factorize(key)
    keys = np.asarray(keys)
    weights = np.bincount(point, minlength=len(keys)).astype(np.float64)
    return (np.asarray(n_values)[keys // max(1, len(e_values))].astype(np.float64),
            np.asarray(e_values)[keys % max(1, len(e_values))], weights, point)


def squash(n, e, weights=None, *, bins_per_count: int = 500, keep_top: int = 50
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Approximate data squashing (DuMouchel et al. 2001; openEBGM ``squashData``).

    Within each count n with more than ``bins_per_count + keep_top`` points, points are
    sorted by E and grouped into ``bins_per_count`` bins of (nearly) equal weight, each
    replaced by its weighted mean E carrying the summed weight. The ``keep_top``
    largest E of each count are kept as they are: the likelihood changes fastest
    there. Returns (n, E, weight). Vectorised: one lexsort and a few bincounts.
    """
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    w = np.ones_like(e) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.lexsort((e, n))
    n, e, w = n[order], e[order], w[order]
    group_start = _group_starts(n)
    size = np.diff(np.append(group_start, n.shape[0]))
    gid = np.repeat(np.arange(size.shape[0]), size)
    rank = np.arange(n.shape[0]) - group_start[gid]
    squashable = size[gid] > bins_per_count + keep_top
    n_sq = size[gid] - keep_top
    in_top = rank >= n_sq
    # bin index within a squashed group: equal-count bins over the non-top ranks
    bin_in_group = np.where(squashable & ~in_top,
                            (rank * bins_per_count) // np.maximum(n_sq, 1),
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


def fit_prior(n, e, *, truncation: str = "mixture", starts=DEFAULT_STARTS,
              squash_data: bool | None = None, max_points: int = 20_000,
              param_limit: float = 100.0) -> MGPSFit:
    """Maximum-likelihood hyperparameters from observed pair counts n >= 1 and E > 0.

    ``squash_data=None`` squashes only when the tie-collapsed data has more than
    ``max_points`` points (openEBGM's suggested ceiling); the estimate is then refined
    on all the data, so squashing buys speed, not a different answer. ``param_limit``
    bounds alpha and beta as openEBGM's ``param_limit`` does.
    """
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}")
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    if n.size == 0:
        raise ValueError("no pairs to fit")
    if np.any(n < 1) or np.any(~np.isfinite(e)) or np.any(e <= 0):
        raise ValueError("fit_prior needs counts n >= 1 and finite expected counts E > 0")
    n_u, e_u, w_u, _ = collapse_ties(n, e)
    full = _Points.build(n_u, e_u, w_u)
    use_squash = len(n_u) > max_points if squash_data is None else squash_data
    fit_pts = _Points.build(*squash(n_u, e_u, w_u)) if use_squash else full

    results = tuple(_minimise(fit_pts, Prior(*s) if not isinstance(s, Prior) else s,
                              truncation, param_limit) for s in starts)
    accepted = [r for r in results if r.converged and r.in_bounds]
    if not accepted:
        best = min(results, key=lambda r: r.neg_log_likelihood)
        prior = best.estimate.canonical()
        return MGPSFit(prior=prior, log_likelihood=_total_ll(prior, full, truncation),
                       converged=False, truncation=truncation, n_pairs=int(n.size),
                       n_points=int(fit_pts.n.size), squashed=use_squash, n_agree=0,
                       message="no start converged inside the parameter space", starts=results)
    best = min(accepted, key=lambda r: r.neg_log_likelihood)
    n_agree = sum(1 for r in accepted if r is not best and np.all(
        np.abs(r.estimate.canonical().as_array() - best.estimate.canonical().as_array())
        < AGREEMENT_TOL))
    chosen, message = best, "converged"
    if use_squash:  # refine on the exact data from the squashed optimum
        # warm start: the curvature learnt on the squashed points is close to the real one
        chosen = _minimise(full, best.estimate, truncation, param_limit, hess_inv0=best.hess_inv)
        message = "converged on squashed data, refined on all data"
        if not (chosen.converged and chosen.in_bounds):
            prior = chosen.estimate.canonical()
            return MGPSFit(prior=prior, log_likelihood=_total_ll(prior, full, truncation),
                           converged=False, truncation=truncation, n_pairs=int(n.size),
                           n_points=int(fit_pts.n.size), squashed=True, n_agree=n_agree,
                           message="refinement on all data did not converge: " + chosen.message,
                           starts=results)
    prior = chosen.estimate.canonical()
    return MGPSFit(prior=prior, log_likelihood=_total_ll(prior, full, truncation),
                   converged=True, truncation=truncation, n_pairs=int(n.size),
                   n_points=int(fit_pts.n.size), squashed=use_squash, n_agree=n_agree,
                   message=message, starts=results)


def _total_ll(prior: Prior, pts: _Points, truncation: str) -> float:
    return -neg_log_likelihood(prior.as_array(), pts.n, pts.e, pts.w, truncation)


# ----------------------------------------------------------------------------------
# posterior
# ----------------------------------------------------------------------------------


def posterior_weight(prior: Prior, n, e) -> np.ndarray:
    """Q_n: posterior probability that lambda comes from the first component
    (DuMouchel 1999 eq. 6), computed on the log scale."""
    l1 = np.log(prior.p) + nb_logpmf(n, prior.alpha1, prior.beta1, e)
    l2 = np.log1p(-prior.p) + nb_logpmf(n, prior.alpha2, prior.beta2, e)
    return special.expit(l1 - l2)


def ebgm(prior: Prior, n, e) -> np.ndarray:
    """Empirical Bayes geometric mean exp(E[log lambda | N = n]) (DuMouchel 1999 eqs. 9-11)."""
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    q = posterior_weight(prior, n, e)
    m1 = special.digamma(prior.alpha1 + n) - np.log(prior.beta1 + e)
    m2 = special.digamma(prior.alpha2 + n) - np.log(prior.beta2 + e)
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
    k1, r1 = prior.alpha1 + n, prior.beta1 + e
    k2, r2 = prior.alpha2 + n, prior.beta2 + e
    # gammaincinv is costly and depends on the pair only through n: once per distinct n
    codes, n_values = pd.factorize(n)
    n_values = np.asarray(n_values, dtype=np.float64)
    x1 = special.gammaincinv(prior.alpha1 + n_values, prob)[codes] / r1
    x2 = special.gammaincinv(prior.alpha2 + n_values, prob)[codes] / r2
    lo, hi = np.minimum(x1, x2), np.maximum(x1, x2)
    x = q * x1 + (1.0 - q) * x2
    lg1 = k1 * np.log(r1) - special.gammaln(k1)   # log-density constants
    lg2 = k2 * np.log(r2) - special.gammaln(k2)
    active = np.flatnonzero(hi - lo > rtol * hi)
    for _ in range(max_iter):
        if active.size == 0:
            break
        xa, qa = x[active], q[active]
        cdf = qa * special.gammainc(k1[active], r1[active] * xa) \
            + (1.0 - qa) * special.gammainc(k2[active], r2[active] * xa) - prob
        below = cdf < 0
        lo[active] = np.where(below, xa, lo[active])
        hi[active] = np.where(below, hi[active], xa)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            lx = np.log(xa)
            pdf = qa * np.exp(lg1[active] + (k1[active] - 1.0) * lx - r1[active] * xa) \
                + (1.0 - qa) * np.exp(lg2[active] + (k2[active] - 1.0) * lx - r2[active] * xa)
            x_newton = xa - cdf / pdf
        la, ha = lo[active], hi[active]
        newton_ok = np.isfinite(x_newton) & (x_newton >= la) & (x_newton <= ha)
        x_new = np.where(newton_ok, x_newton, 0.5 * (la + ha))
        x_new = np.where(cdf == 0, xa, x_new)
        x[active] = x_new
        done = ((cdf == 0) | (newton_ok & (np.abs(x_newton - xa) <= rtol * xa))
                | (ha - la <= rtol * ha))
        active = active[~done]
    return x


def posterior_scores(prior: Prior, n, e) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(EBGM, EB05, EB95) per pair, computed once per distinct (n, E)."""
    n_u, e_u, _, point = collapse_ties(n, e)
    g, q05, q95 = (np.empty(n_u.shape[0]) for _ in range(3))
    for i in range(0, n_u.shape[0], _CHUNK):  # blocks: small temporaries are faster
        sl = slice(i, i + _CHUNK)
        g[sl] = ebgm(prior, n_u[sl], e_u[sl])
        q05[sl] = posterior_quantile(prior, n_u[sl], e_u[sl], 0.05)
        q95[sl] = posterior_quantile(prior, n_u[sl], e_u[sl], 0.95)
    return g[point], q05[point], q95[point]

"""Frequentist and Bayesian-confidence disproportionality measures, vectorised.

Every function takes numpy arrays (or scalars) and works element-wise, so one call
scores every product-event pair at once. Notation for one pair (PRIMER section 6)::

                 event   not event
    product        a         b        a+b = n_product
    not product    c         d        c+d
                 a+c = n_event        n = n_total

Division by zero is part of the domain here (an event reported only with this
product has c = 0), so results are computed under ``np.errstate`` and come back as
``inf`` or ``nan`` rather than raising or warning. Conventions for intervals:

* an estimate of ``nan`` gives ``nan`` limits;
* an infinite standard error (a zero cell) gives the uninformative interval
  ``(0, inf)``, which still contains the estimate.

Stratified (Mantel-Haenszel) versions work from per-stratum *terms* that are summed
over strata (:class:`MHSums`), so the caller can sum them however suits its data
layout: densely over a (pairs x strata) array (:func:`mh_sums`), or sparsely as
``compute.py`` does for millions of pairs.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special

#: Normal quantile used by the published 95% intervals (Evans 2001, Rothman) - kept at
#: 1.96 rather than 1.959964 so figures match the papers and other tools.
Z95 = 1.96

ArrayLike = np.ndarray | float | int


class Interval(NamedTuple):
    """A point estimate with its lower and upper limit."""

    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def _f(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def two_by_two(a: ArrayLike, n_product: ArrayLike, n_event: ArrayLike,
               n_total: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells (a, b, c, d) of the 2x2 table from a pair count and its marginals.

    b = n_product - a, c = n_event - a, d = n_total - n_product - n_event + a.
    """
    a, n_product, n_event, n_total = map(_f, (a, n_product, n_event, n_total))
    return a, n_product - a, n_event - a, n_total - n_product - n_event + a


def expected_count(n_product: ArrayLike, n_event: ArrayLike, n_total: ArrayLike) -> np.ndarray:
    """E = n_product * n_event / n_total: count expected if product and event were
    reported independently (DuMouchel 1999, eq. 1 without strata)."""
    return _f(n_product) * _f(n_event) / _f(n_total)


def _log_interval(log_est: np.ndarray, se: np.ndarray, z: float) -> Interval:
    """exp(log_est -/+ z*se), with the conventions of the module docstring."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        est = np.exp(log_est)
        lower = np.exp(log_est - z * se)
        upper = np.exp(log_est + z * se)
    se_inf = np.isinf(se)
    lower = np.where(se_inf, 0.0, lower)
    upper = np.where(se_inf, np.inf, upper)
    bad = np.isnan(log_est) | np.isnan(se)
    lower = np.where(bad, np.nan, lower)
    upper = np.where(bad, np.nan, upper)
    return Interval(est, lower, upper)


def prr(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, z: float = Z95) -> Interval:
    """Proportional reporting ratio with its 95% confidence interval.

    PRR = [a/(a+b)] / [c/(c+d)];
    CI = exp(ln PRR -/+ z*sqrt(1/a - 1/(a+b) + 1/c - 1/(c+d)))
    (Evans, Waller & Davis 2001, Pharmacoepidemiol Drug Saf 10:483; the usual
    delta-method variance of a log risk ratio).
    """
    a, b, c, d = map(_f, (a, b, c, d))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_prr = np.log(a / (a + b)) - np.log(c / (c + d))
        var = 1.0 / a - 1.0 / (a + b) + 1.0 / c - 1.0 / (c + d)
        se = np.sqrt(var)
    return _log_interval(log_prr, se, z)


def ror(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, z: float = Z95) -> Interval:
    """Reporting odds ratio with Woolf's 95% confidence interval.

    ROR = ad/bc; CI = exp(ln ROR -/+ z*sqrt(1/a + 1/b + 1/c + 1/d))
    (Woolf 1955; van Puijenbroek et al. 2002, Pharmacoepidemiol Drug Saf 11:3).
    No Haldane +0.5 correction: a zero cell gives ROR of 0 or inf and CI (0, inf).
    """
    a, b, c, d = map(_f, (a, b, c, d))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ror = np.log(a) + np.log(d) - np.log(b) - np.log(c)
        se = np.sqrt(1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d)
    return _log_interval(log_ror, se, z)


def chi2_yates(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> np.ndarray:
    """Pearson chi-square of the 2x2 table with Yates' continuity correction.

    chi2 = n * max(|ad - bc| - n/2, 0)^2 / [(a+b)(c+d)(a+c)(b+d)]

    This is the statistic of Evans et al. 2001 (signal: PRR >= 2, chi2 >= 4, a >= 3).
    The correction is capped so it never overshoots (|O - E| is reduced by at most
    itself), which is what ``scipy.stats.chi2_contingency(correction=True)`` does;
    |O - E| = |ad - bc|/n for every cell of a 2x2 table. A zero marginal gives nan.
    """
    a, b, c, d = map(_f, (a, b, c, d))
    n = a + b + c + d
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        excess = np.maximum(np.abs(a * d - b * c) - n / 2.0, 0.0)
        # divide in two steps: the product of the four marginals overflows int range
        # long before float range, but keep it in floats anyway
        return n * excess / ((a + b) * (c + d)) * excess / ((a + c) * (b + d))


def information_component(a: ArrayLike, expected: ArrayLike) -> np.ndarray:
    """IC = log2((a + 0.5) / (E + 0.5)) (Noren et al. 2013, Stat Methods Med Res 22:57,
    the shrunk observed-to-expected ratio used by WHO-UMC)."""
    return np.log2((_f(a) + 0.5) / (_f(expected) + 0.5))


def ic_credibility(a: ArrayLike, expected: ArrayLike, prob: float | ArrayLike) -> np.ndarray:
    """Quantile of the IC: log2 of the ``prob`` quantile of Gamma(shape=a+0.5, rate=E+0.5).

    Noren et al. 2013 (eq. for IC_0.025 / IC_0.975): the posterior of the
    observed-to-expected ratio is Gamma(a + 0.5, E + 0.5) (rate parametrisation),
    so its quantile is ``gammaincinv(a + 0.5, prob) / (E + 0.5)``.
    """
    if np.ndim(prob) == 0:
        return _ic_quantiles(a, expected, (prob,))[0]
    a, rate = np.broadcast_arrays(_f(a), _f(expected) + 0.5)
    return np.log2(special.gammaincinv(a + 0.5, prob) / rate)


def _ic_quantiles(a: ArrayLike, expected: ArrayLike, probs: tuple[float, ...]) -> list[np.ndarray]:
    """:func:`ic_credibility` at each of ``probs`` (scalars), the counts factorised once."""
    a, rate = np.broadcast_arrays(_f(a), _f(expected) + 0.5)
    if a.size > 1000:
        # gammaincinv is costly and depends only on a: evaluate once per distinct count
        codes, values = pd.factorize(a.ravel())
        shape = np.asarray(values) + 0.5
        return [np.log2(special.gammaincinv(shape, prob)[codes].reshape(a.shape) / rate) for prob in probs]
    return [np.log2(special.gammaincinv(a + 0.5, prob) / rate) for prob in probs]


def ic(a: ArrayLike, expected: ArrayLike) -> Interval:
    """IC with its 95% credibility interval (IC025, IC975)."""
    return Interval(information_component(a, expected), *_ic_quantiles(a, expected, (0.025, 0.975)))


# ----------------------------------------------------------------------------------
# Mantel-Haenszel across strata
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MHSums:
    """Per-pair sums over strata of the terms the Mantel-Haenszel estimators need.

    With per-stratum cells a, b, c, d and n = a+b+c+d, and following Robins,
    Breslow & Greenland 1986 (Biometrics 42:311) notation P = (a+d)/n,
    Q = (b+c)/n, R = ad/n, S = bc/n:

    ``r`` = sum R, ``s`` = sum S, ``pr`` = sum PR, ``ps_qr`` = sum (PS + QR),
    ``qs`` = sum QS (odds ratio and its RBG variance);
    ``rr_num`` = sum a(c+d)/n, ``rr_den`` = sum c(a+b)/n, ``rr_var`` =
    sum [(a+b)(a+c)(c+d) - a c n]/n^2 (risk ratio and its Greenland & Robins 1985
    variance, Biometrics 41:55);
    ``a``, ``expected`` = sum (a+b)(a+c)/n and ``variance`` =
    sum (a+b)(c+d)(a+c)(b+d) / (n^2 (n-1)) (Cochran-Mantel-Haenszel test).

    These are the same sums ``statsmodels.stats.contingency_tables.StratifiedTable``
    forms for ``oddsratio_pooled``, ``logodds_pooled_se`` and ``test_null_odds``.
    """

    r: np.ndarray
    s: np.ndarray
    pr: np.ndarray
    ps_qr: np.ndarray
    qs: np.ndarray
    rr_num: np.ndarray
    rr_den: np.ndarray
    rr_var: np.ndarray
    a: np.ndarray
    expected: np.ndarray
    variance: np.ndarray


MH_TERMS = tuple(f.name for f in fields(MHSums))


def mh_stratum_terms(a: ArrayLike, n_product: ArrayLike, n_event: ArrayLike,
                     n_total: ArrayLike) -> dict[str, np.ndarray]:
    """The summands of :class:`MHSums` for each (pair, stratum), element-wise.

    A stratum with a single report (n = 1) carries no variance and contributes 0 to
    ``variance``; every other term is finite whenever n >= 1.
    """
    a, n_product, n_event, n_total = np.broadcast_arrays(*map(_f, (a, n_product, n_event, n_total)))
    a, b, c, d = two_by_two(a, n_product, n_event, n_total)
    n = n_total
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_n = 1.0 / n
        r = a * d * inv_n
        s = b * c * inv_n
        p = (a + d) * inv_n
        q = (b + c) * inv_n
        rr_var = ((a + b) * (a + c) * (c + d) * inv_n - a * c) * inv_n
        var = (a + b) * (c + d) * inv_n * (a + c) * (b + d) * inv_n / (n - 1.0)
    var = np.where(n > 1.0, var, 0.0)
    return {
        "r": r, "s": s, "pr": p * r, "ps_qr": p * s + q * r, "qs": q * s,
        "rr_num": a * (c + d) * inv_n, "rr_den": c * (a + b) * inv_n, "rr_var": rr_var,
        "a": a, "expected": (a + b) * (a + c) * inv_n, "variance": var,
    }


def mh_sums(a: ArrayLike, n_product: ArrayLike, n_event: ArrayLike, n_total: ArrayLike,
            axis: int = -1) -> MHSums:
    """Sum :func:`mh_stratum_terms` over the strata ``axis`` of dense arrays."""
    terms = mh_stratum_terms(a, n_product, n_event, n_total)
    return MHSums(**{k: v.sum(axis=axis) for k, v in terms.items()})


def mh_ror(sums: MHSums, z: float = Z95) -> Interval:
    """Mantel-Haenszel odds ratio sum(ad/n) / sum(bc/n) with the Robins-Breslow-Greenland
    variance: Var(ln OR_MH) = sum PR/(2 R+^2) + sum(PS+QR)/(2 R+ S+) + sum QS/(2 S+^2).
    With one stratum this is the ROR with Woolf's interval."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_or = np.log(sums.r) - np.log(sums.s)
        var = (sums.pr / (2.0 * sums.r ** 2) + sums.ps_qr / (2.0 * sums.r * sums.s)
               + sums.qs / (2.0 * sums.s ** 2))
        se = np.sqrt(var)
    # a zero sum makes the estimate 0 or inf and its variance 0/0: uninformative interval
    se = np.where((sums.r > 0) & (sums.s > 0), se, np.inf)
    return _log_interval(log_or, se, z)


def mh_rr(sums: MHSums, z: float = Z95) -> Interval:
    """Mantel-Haenszel risk ratio sum(a(c+d)/n) / sum(c(a+b)/n) (the stratified PRR)
    with the Greenland-Robins variance
    Var(ln RR_MH) = sum[(a+b)(a+c)(c+d)/n^2 - ac/n] / (sum a(c+d)/n * sum c(a+b)/n).
    With one stratum this is the PRR with its usual interval."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rr = np.log(sums.rr_num) - np.log(sums.rr_den)
        se = np.sqrt(sums.rr_var / (sums.rr_num * sums.rr_den))
    se = np.where((sums.rr_num > 0) & (sums.rr_den > 0), se, np.inf)
    return _log_interval(log_rr, se, z)


def cmh_chi2(sums: MHSums) -> np.ndarray:
    """Cochran-Mantel-Haenszel chi-square with continuity correction,
    (|sum a - sum E| - 0.5)^2 / sum Var, Var = (a+b)(c+d)(a+c)(b+d)/(n^2 (n-1))
    (Mantel & Haenszel 1959; statsmodels ``test_null_odds(correction=True)``).
    Used in place of the Yates chi-square when strata are given; the correction is
    capped at |sum a - sum E| as in :func:`chi2_yates`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.maximum(np.abs(sums.a - sums.expected) - 0.5, 0.0)
        return excess ** 2 / sums.variance

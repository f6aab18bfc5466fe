"""Which MGPS prior a run uses, and why: the documented fallback order.

1. A prior **supplied** for the run (``signals compute --prior HYPER.json``, the nightly
   job's ``mgps_prior`` with ``use: always``, or the preferred-term run's prior for the
   group run): no fit.
2. The **fitted** two-component prior (inside the parameter space, or on its boundary
   with a point-mass component), when the data identify it: at least
   :data:`MIN_PAIRS_TWO_COMPONENT` pairs and a converged fit.
3. The **configured** fallback prior (``mgps_prior`` with ``use: fallback``, given
   inline or as a stored run's prior), when the fit is not identifiable.
4. A **one-component** gamma prior fitted by maximum likelihood.
5. **None**: EBGM, EB05 and EB95 are left empty and ``reason`` says why.

Pure: no web or database imports.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mgps import MGPSFit, Prior, fit_prior, fit_single_gamma

#: Below this many observed pairs the five hyperparameters are not fitted (about ten
#: pairs per parameter); the fallback order starts at the configured prior.
MIN_PAIRS_TWO_COMPONENT = 50

SOURCES = ("supplied", "fitted", "configured", "one_component", "none")


@dataclass(frozen=True)
class PriorChoice:
    """The prior a run used (None: no EB scores), where it came from and why.

    ``source`` is one of :data:`SOURCES`; ``origin`` names where a supplied or configured
    prior came from (a file name, ``run 12``, ``alerts/signal_rules.yaml``); ``reason``
    says why the steps before it were not taken (empty for a supplied or fitted prior).
    """

    prior: Prior | None
    source: str
    origin: str | None
    message: str
    reason: str
    fit: MGPSFit | None = None
    log_likelihood: float | None = None

    def to_dict(self) -> dict:
        """What a stored run keeps (``hyperparameters``) and HYPER.json holds."""
        out: dict = dict(self.prior.to_dict()) if self.prior is not None else {}
        out.update({"source": self.source, "origin": self.origin, "message": self.message,
                    "reason": self.reason, "summary": self.summary,
                    "converged": self.prior is not None})
        if self.log_likelihood is not None:
            out["log_likelihood"] = self.log_likelihood
        if self.fit is not None:
            fit = self.fit.to_dict()
            out["fit"] = {k: fit[k] for k in ("log_likelihood", "converged", "truncation", "n_pairs",
                                              "n_points", "squashed", "n_agree", "n_starts_run",
                                              "n_starts_skipped", "message")}
        return out

    @property
    def summary(self) -> str:
        """One line for people: which prior, and why EB scores are absent when they are."""
        where = f" ({self.origin})" if self.origin else ""
        if self.prior is None:
            return f"no MGPS prior: {self.reason}; EBGM, EB05 and EB95 left empty"
        text = {"supplied": f"supplied prior{where}", "fitted": f"fitted prior: {self.message}",
                "configured": f"configured prior{where}",
                "one_component": "one-component gamma prior by maximum likelihood"}[self.source]
        return text + (f" (because {self.reason})" if self.reason else "")


def choose_prior(n, e, *, supplied: Prior | None = None, supplied_origin: str | None = None,
                 fallback: Prior | None = None, fallback_origin: str | None = None,
                 truncation: str = "mixture", squash: bool | None = None, ties=None) -> PriorChoice:
    """Apply the fallback order to the observed pairs (counts n >= 1, expected E);
    ``ties``: their :func:`~pv_service.signals.mgps.collapse_ties`, if already built."""
    if supplied is not None:
        return PriorChoice(supplied, "supplied", supplied_origin, "supplied: no fit", "")
    n = np.asarray(n, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    fit: MGPSFit | None = None
    if n.size >= MIN_PAIRS_TWO_COMPONENT:
        fit = fit_prior(n, e, truncation=truncation, squash_data=squash, ties=ties)
        if fit.converged:
            return PriorChoice(fit.prior, "fitted", None, fit.message, "", fit, fit.log_likelihood)
        why = f"the two-component fit is not identifiable ({fit.message})"
    else:
        why = (f"{n.size} pair(s) are too few to fit a two-component prior "
               f"(at least {MIN_PAIRS_TWO_COMPONENT})")
    if fallback is not None:
        return PriorChoice(fallback, "configured", fallback_origin, "configured fallback prior", why, fit)
    why += "; no fallback prior configured"
    if n.size == 0:
        return PriorChoice(None, "none", None, "no pairs", why + "; no pairs", fit)
    single, ll, message = fit_single_gamma(n, e, truncation=truncation, ties=ties)
    if single is not None:
        return PriorChoice(single, "one_component", None, message, why, fit, ll)
    return PriorChoice(None, "none", None, message, f"{why}; {message}", fit)

"""Disproportionality analysis of spontaneous reports (PRIMER section 6).

Pure statistics: numpy, scipy and pandas only, no web or database imports.

* :mod:`.counts` - pair counts and marginals from report rows or pre-aggregated counts;
* :mod:`.measures` - PRR, ROR, chi-square, IC and their Mantel-Haenszel versions;
* :mod:`.mgps` - DuMouchel's gamma-Poisson shrinker (hyperparameter fit, inside the
  parameter space or on its boundary with a point-mass component; EBGM, EB05/95);
* :mod:`.priors` - which prior a run uses and why (the documented fallback order);
* :mod:`.files` - pair counts straight from CSV/Parquet files, out of core (DuckDB);
* :mod:`.compute` - the orchestration returning one table of all measures;
* :mod:`.cli` - the analyst command ``signals compute``.
"""
from __future__ import annotations

import importlib

# Names load with their module on first use (PEP 562): the command line and the web
# app import submodules such as .options and .trend_queries without the engine.
_EXPORTS = {
    "compute": ("OUTPUT_COLUMNS", "SignalResult", "compute_signals", "compute_from_counts",
                "compute_from_stratum_counts"),
    "counts": ("PairCounts", "SignalInputError", "count_pairs", "counts_from_stratum_table",
               "invert_groups", "map_event_groups", "restrict_to_comparator"),
    "mgps": ("MGPSFit", "Prior", "fit_prior", "posterior_scores"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

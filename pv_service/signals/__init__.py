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

from .compute import (
                      OUTPUT_COLUMNS,
                      SignalResult,
                      compute_from_counts,
                      compute_from_stratum_counts,
                      compute_signals,
)
from .counts import (
                      PairCounts,
                      SignalInputError,
                      count_pairs,
                      counts_from_stratum_table,
                      invert_groups,
                      map_event_groups,
                      restrict_to_comparator,
)
from .mgps import MGPSFit, Prior, fit_prior, posterior_scores

__all__ = [
    "OUTPUT_COLUMNS", "SignalResult", "compute_signals", "compute_from_counts",
    "compute_from_stratum_counts", "PairCounts", "SignalInputError", "count_pairs",
    "counts_from_stratum_table", "invert_groups", "map_event_groups", "restrict_to_comparator",
    "MGPSFit", "Prior", "fit_prior", "posterior_scores",
]

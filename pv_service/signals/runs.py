"""Signal runs over the database: counts by SQL, measures by the pure engine, results stored."""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from pv_service.signals.compute import compute_from_stratum_counts
from pv_service.signals.dataset import pair_counts
from pv_service.signals.mgps import Prior
from pv_service.signals.models import MEASURE_COLUMNS, SignalPair, SignalRun


def _clean(value) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, (np.integer, int)):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else value


def stored_prior(run: SignalRun) -> Prior | None:
    """The prior a stored run used, or None when it had none (or predates point masses)."""
    h = run.hyperparameters or {}
    if not h.get("converged"):
        return None
    try:
        return Prior.from_dict(h, where=f"run {run.id}")
    except ValueError:
        return None


def run_signals(session: Session, now: dt.datetime, *, strata: Sequence[str] = (),
                groups: Mapping[str, Sequence[str]] | None = None, level: str = "pt",
                min_count: int = 1, product_scope: Sequence[str] | None = None,
                prior_from: SignalRun | None = None, prior: Prior | None = None,
                prior_origin: str | None = None, fallback_prior: Prior | None = None,
                fallback_origin: str | None = None) -> SignalRun | None:
    """Compute and store one run; None when the database holds no analysable case yet.

    `prior_from` reuses another run's MGPS prior instead of fitting one: a handful of
    grouped pairs cannot support a five-parameter fit, while the prior fitted over all
    preferred-term pairs describes the same database. `prior` (with `prior_origin`) is a
    prior to use as given; `fallback_prior` one to use only when the fit is not
    identifiable. The run's `hyperparameters` record the prior used, its `source`
    (supplied, fitted, configured, one_component, none), `origin` and `reason`.
    """
    frame = pair_counts(session, strata=strata, groups=groups, product_scope=product_scope)
    params = {"strata": list(strata), "min_count": min_count, "level": level,
              "product_scope": list(product_scope) if product_scope else None,
              "groups": {k: list(v) for k, v in groups.items()} if groups else None}
    if frame.empty:
        return None
    if prior is None and prior_from is not None:
        prior = stored_prior(prior_from)
        if prior is not None:
            prior_origin = f"run {prior_from.id}"
            params["prior_from_run"] = prior_from.id
    result = compute_from_stratum_counts(
        frame["product"], frame["event"], frame["a"], frame["n_product"], frame["n_event"], frame["n_total"],
        stratum=frame[list(strata)] if strata else None, min_count=min_count, prior=prior,
        prior_origin=prior_origin, fallback_prior=fallback_prior, fallback_origin=fallback_origin,
    )
    hyper = result.prior.to_dict()
    n_reports = int(session.connection().execute(sa.text("SELECT COUNT(*) FROM safety_case")).scalar_one()) \
        if product_scope is None else int(frame.drop_duplicates(list(strata) or None)["n_total"].sum()) if strata \
        else int(frame["n_total"].iloc[0])
    run = SignalRun(started_at=now, finished_at=now, as_of=now.date(), level=level, params=params,
                    n_reports=n_reports, n_pairs=len(result.table), hyperparameters=hyper)
    session.add(run)
    session.flush()
    table = result.table
    rows = [
        {"run_id": run.id, "product": str(p), "event": str(e), **{c: _clean(v) for c, v in zip(MEASURE_COLUMNS, vals)}}
        for p, e, *vals in table[["product", "event", *MEASURE_COLUMNS]].itertuples(index=False, name=None)
    ]
    if rows:
        session.execute(sa.insert(SignalPair.__table__), rows)
    return run

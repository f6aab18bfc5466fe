"""Signal runs over the database: counts by SQL, measures by the pure engine, results stored."""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from pv_service.cases.models import Case, CaseReaction
from pv_service.signals.compute import compute_from_stratum_counts
from pv_service.signals.dataset import pair_counts
from pv_service.signals.hierarchy import term_names, unmapped_pt_codes
from pv_service.signals.levels import PT, Level
from pv_service.signals.mgps import Prior
from pv_service.signals.models import MEASURE_COLUMNS, SignalPair, SignalRun


def _clean(value) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, (np.integer, int)):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else value


def meddra_versions(session: Session) -> list[str | None]:
    """The MedDRA versions the analysed reactions (latest case versions) are coded in; None: not coded."""
    r, c = CaseReaction.__table__, Case.__table__
    rows = session.connection().execute(sa.select(r.c.meddra_version).distinct()
                                        .join(c, c.c.latest_version_id == r.c.case_version_id)).scalars().all()
    return sorted(rows, key=lambda v: (v is None, v or ""))


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
                groups: Mapping[str, Sequence[str]] | None = None, level: Level = PT,
                meddra_version: str | None = None, min_count: int = 1,
                product_scope: Sequence[str] | None = None,
                prior_from: SignalRun | None = None, prior: Prior | None = None,
                prior_origin: str | None = None, fallback_prior: Prior | None = None,
                fallback_origin: str | None = None, data_lock_point: dt.date | None = None,
                listed: Callable[[str, str], bool | None] | None = None) -> SignalRun | None:
    """Compute and store one run; None when the database holds no analysable case yet.

    Events are codes at `level` in `meddra_version` (a loaded version; needed above PT), or
    the names of `groups` (name -> PT codes; the run's level is then "group"). Each pair
    keeps the term's name for display.

    `prior_from` reuses another run's MGPS prior instead of fitting one: a handful of
    grouped pairs cannot support a five-parameter fit, while the prior fitted over all
    preferred-term pairs describes the same database. `prior` (with `prior_origin`) is a
    prior to use as given; `fallback_prior` one to use only when the fit is not
    identifiable. The run's `hyperparameters` record the prior used, its `source`
    (supplied, fitted, configured, one_component, none), `origin` and `reason`.

    `data_lock_point` (default: the run's date): only cases first received by then count. `listed`
    says whether a pair's event is in the product's label (stored on each pair).
    """
    data_lock_point = data_lock_point or now.date()
    frame = pair_counts(session, strata=strata, groups=groups, product_scope=product_scope, level=level,
                        meddra_version=meddra_version, data_lock_point=data_lock_point)
    label = "group" if groups is not None else level.label
    params = {"strata": list(strata), "min_count": min_count, "level": label, "meddra_version": meddra_version,
              "product_scope": list(product_scope) if product_scope else None,
              "groups": {k: sorted(v) for k, v in groups.items()} if groups else None,
              "meddra_versions": meddra_versions(session), "data_lock_point": data_lock_point.isoformat()}
    if groups is None:
        params["level_options"] = level.describe()
    if frame.empty:
        return None
    conn = session.connection()
    if groups is None and level.needs_dictionary:
        submitted = conn.execute(sa.select(CaseReaction.pt_code).distinct()).scalars().all()
        outside = unmapped_pt_codes(conn, meddra_version, submitted)
        # Their reactions reach no term at this level; their cases stay in the background.
        params["pt_codes_not_in_version"] = {"count": len(outside), "examples": outside[:10]}
    names = {g: g for g in groups} if groups is not None else term_names(conn, level, meddra_version,
                                                                         frame["event"].unique())
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
    run = SignalRun(started_at=now, finished_at=now, as_of=now.date(), level=label, params=params,
                    n_reports=n_reports, n_pairs=len(result.table), hyperparameters=hyper)
    session.add(run)
    session.flush()
    table = result.table
    rows = [
        {"run_id": run.id, "product": str(p), "event": str(e), "event_name": names.get(str(e)),
         "listed": listed(str(p), str(e)) if listed is not None else None,
         **{c: _clean(v) for c, v in zip(MEASURE_COLUMNS, vals)}}
        for p, e, *vals in table[["product", "event", *MEASURE_COLUMNS]].itertuples(index=False, name=None)
    ]
    if rows:
        session.execute(sa.insert(SignalPair.__table__), rows)
    return run

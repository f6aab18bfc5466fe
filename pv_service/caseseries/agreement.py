"""Why the listed cases and the alert's 2x2 count may differ: the run counted reports as of its
date; the listing shows cases as they are now."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from pv_service.alerting.models import Alert
from pv_service.cases.models import Case, CaseVersion
from pv_service.caseseries.selection import series_conditions
from pv_service.signals.models import SignalRun


@dataclass
class Agreement:
    counted: int | None  # a of the 2x2 table (the alert's n at its latest run)
    listed: int
    run_id: int | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return self.counted is None or self.counted == self.listed


def agreement(session: Session, alert: Alert, listing: pd.DataFrame) -> Agreement:
    n = alert.detail.get("n") if alert.type == "signal" else None
    counted = int(n) if isinstance(n, (int, float)) else None
    out = Agreement(counted, len(listing), alert.detail.get("run_id"))
    if out.agrees or alert.type != "signal":
        return out
    run = session.get(SignalRun, out.run_id) if out.run_id else None
    conn = session.connection()
    if run is not None and len(listing):
        ids = [int(c) for c in listing["case_id"]]
        rows = conn.execute(sa.select(Case.id, Case.latest_version, CaseVersion.created_at)
                            .join(CaseVersion, CaseVersion.id == Case.latest_version_id).where(Case.id.in_(ids))).all()
        since = [(v, at) for _, v, at in rows if at is not None and at > run.started_at]
        new = sum(1 for v, _ in since if v == 1)
        later = len(since) - new
        if new:
            out.reasons.append(f"{new} case(s) received after run {run.id} ({run.as_of}), counted at the next run")
        if later:
            out.reasons.append(f"{later} case(s) changed by a later version after run {run.id}: the run counted "
                               "the version it saw")
    nullified_conditions = series_conditions(session, alert, with_nullified=True)
    if nullified_conditions is not None:
        everything = conn.execute(sa.select(sa.func.count()).select_from(Case).where(*nullified_conditions)).scalar()
        gone = int(everything) - len(listing)
        if gone:
            out.reasons.append(f"{gone} case(s) nullified (E2B C.1.11) or confirmed as duplicates: not listed; "
                               "a run after that no longer counts them")
    dupes = _duplicates(conn, listing)
    if dupes:
        out.reasons.append(f"{dupes} listed case(s) share a worldwide case id (C.1.8.1) with another listed case: "
                           "possible duplicates, counted once each")
    if not out.reasons:
        out.reasons.append("the run counted reports per product and term (a case with the term under two "
                           "products, or coded since the run, counts differently)")
    return out


def _duplicates(conn, listing: pd.DataFrame) -> int:
    if listing.empty:
        return 0
    ids = [int(c) for c in listing["case_id"]]
    rows = conn.execute(sa.select(CaseVersion.worldwide_id).join(Case, Case.latest_version_id == CaseVersion.id)
                        .where(Case.id.in_(ids), CaseVersion.worldwide_id.is_not(None))).all()
    counts = pd.Series([r[0] for r in rows]).value_counts()
    return int(counts[counts > 1].sum())

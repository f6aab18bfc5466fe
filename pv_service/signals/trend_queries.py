"""Reading stored quarterly trends (pv_service.signals.trend computes them in the nightly job)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.signals.models import SignalRun, SignalTrend
from pv_service.signals.schemas import QuarterlyTrend, QuarterPublic


def quarterly(session: Session, product: str, event: str, level: str, scope=sa.true(),
              run_id: int | None = None) -> QuarterlyTrend:
    """The pair's quarters from `run_id`, else from the latest run at `level` that stored them."""
    if run_id is None:
        run_id = session.exec(
            select(sa.func.max(SignalTrend.run_id)).join(SignalRun, SignalRun.id == SignalTrend.run_id)
            .where(SignalTrend.product == product, SignalTrend.event == event, SignalRun.level == level, scope)
        ).first()
    rows = session.exec(select(SignalTrend).where(SignalTrend.run_id == run_id, SignalTrend.product == product,
                                                  SignalTrend.event == event)
                        .order_by(SignalTrend.quarter)).all() if run_id is not None else []
    run = session.get(SignalRun, run_id) if run_id is not None else None
    dlp = (run.params or {}).get("data_lock_point") if run is not None else None
    return QuarterlyTrend(run_id=run_id if rows else None, data_lock_point=dt.date.fromisoformat(dlp) if dlp else None,
                          product=product, event=event, level=level,
                          quarters=[QuarterPublic.model_validate(r) for r in rows])

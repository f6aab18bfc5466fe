"""What the API and the page share: the current step's due date, a download, the report."""
from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from fastapi import Response
from sqlmodel import Session, select

from pv_service.alerting.models import Alert, AlertEvent, SignalAttachment
from pv_service.caseseries.agreement import agreement
from pv_service.caseseries.listing import case_series
from pv_service.common.errors import Conflict
from pv_service.products.models import Product
from pv_service.signal_records import report, service
from pv_service.signal_records.due import StepDue, step_due


def current_due(alert: Alert, now: dt.datetime) -> StepDue | None:
    from pv_service.jobs.definitions import current_rules

    return step_due(alert.status, alert.status_since, alert.first_raised_at, current_rules().signal_timelines,
                    now.date())


def download(row: SignalAttachment) -> Response:
    # Always a download, never rendered inline by the browser; the type is the one checked at upload.
    ascii_name = row.filename.encode("ascii", "replace").decode().replace("?", "_")
    return Response(row.content, media_type=row.content_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.filename)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


def report_pdf(session: Session, alert: Alert, now: dt.datetime) -> tuple[bytes, str]:
    service.signal_only(alert)
    if alert.status != "closed":
        raise Conflict(f"the assessment report is for a closed signal; alert {alert.id} is {alert.status}")
    series = case_series(session, alert)
    code = session.exec(select(Product.code).where(Product.id == alert.product_id)).first() if alert.product_id else None
    events = list(session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id)).all())
    body = report.render(report.ReportInput(
        alert, code, events, service.notes(session, alert.id), service.attachments(session, alert.id), series.rows,
        agreement(session, alert, series.rows), now))
    return body, f"signal-assessment-alert-{alert.id}.pdf"

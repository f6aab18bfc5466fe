"""An alert's case series as the page and the API show it: filtered, sorted, one page, with the
2x2 agreement; and as the exported files."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlmodel import Session

from pv_service.alerting.models import Alert
from pv_service.caseseries import export, filters
from pv_service.caseseries.agreement import Agreement, agreement
from pv_service.caseseries.listing import case_series


@dataclass
class SeriesView:
    alert: Alert
    has_series: bool
    rows: pd.DataFrame  # this page
    matched: int  # rows passing the filters
    total: int  # every case of the series
    agreement: Agreement
    options: dict[str, list[str]]


def series_view(session: Session, alert: Alert, f: filters.SeriesFilters, offset: int = 0,
                limit: int | None = None) -> SeriesView:
    series = case_series(session, alert)
    chosen = filters.apply(series.rows, f)
    page = chosen.iloc[offset: offset + limit] if limit is not None else chosen.iloc[offset:]
    return SeriesView(alert, series.has_series, page, len(chosen), len(series.rows),
                      agreement(session, alert, series.rows), filters.options(series.rows))


def _about(view: SeriesView, f: filters.SeriesFilters, now: dt.datetime) -> pd.DataFrame:
    a = view.agreement
    rows = [("alert", f"{view.alert.id}: {view.alert.title}"), ("exported_at", now.isoformat()),
            ("cases_in_series", str(view.total)), ("cases_exported", str(view.matched)),
            ("filters", ", ".join(f"{k}={v}" for k, v in vars(f).items() if v not in ("", None)) or "none"),
            ("two_by_two_a", "" if a.counted is None else str(a.counted)),
            ("agreement", "agrees" if a.agrees else "; ".join(a.reasons)),
            ("definition", ("one row per case, its latest version; product and lot of the alert's product; "
                            "days_to_onset from the infusion to the earliest onset of the matching reactions"))]
    return pd.DataFrame(rows, columns=["item", "value"])


def exported(session: Session, alert: Alert, f: filters.SeriesFilters, fmt: str,
             now: dt.datetime) -> tuple[bytes, str, str]:
    """(body, media type, filename) of the whole filtered listing."""
    view = series_view(session, alert, f)
    name = f"case-series-alert-{alert.id}.{fmt}"
    if fmt == "csv":
        return export.listing_csv(view.rows), export.MEDIA_TYPES["csv"], name
    return export.listing_xlsx(view.rows, _about(view, f, now)), export.MEDIA_TYPES["xlsx"], name


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts, missing values (NaN, NA, NaT) as None."""
    return [{k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]

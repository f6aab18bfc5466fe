"""CSV rendering: one tidy CSV per table (UTF-8, ISO dates, empty = missing), zipped together."""
from __future__ import annotations

import io
import zipfile

import pandas as pd

from pv_service.exports.summary import ComplianceSummary

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
ZIP_MEDIA_TYPE = "application/zip"
ABOUT = "about"  # period and definitions


def table_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n").encode("utf-8")


def tables_of(summary: ComplianceSummary) -> dict[str, pd.DataFrame]:
    return {ABOUT: summary.about(), **summary.tables}


def render_csv_table(summary: ComplianceSummary, name: str) -> bytes:
    tables = tables_of(summary)
    if name not in tables:
        raise KeyError(f"no table {name!r}; one of {', '.join(tables)}")
    return table_csv(tables[name])


def render_csv_zip(summary: ComplianceSummary) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, frame in tables_of(summary).items():
            zf.writestr(f"{name}.csv", table_csv(frame))
    return buf.getvalue()

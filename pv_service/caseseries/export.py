"""A line listing as CSV and Excel, reusing the compliance exports' renderers."""
from __future__ import annotations

import io

import pandas as pd
from openpyxl import Workbook

from pv_service.exports.render_csv import CSV_MEDIA_TYPE, table_csv
from pv_service.exports.render_xlsx import MEDIA_TYPE as XLSX_MEDIA_TYPE
from pv_service.exports.render_xlsx import write_sheet

# Text that a spreadsheet would run as a formula (OWASP CSV injection): reporters write narratives.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defused(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v)
    return out


def listing_csv(frame: pd.DataFrame) -> bytes:
    return table_csv(_defused(frame))


def listing_xlsx(frame: pd.DataFrame, about: pd.DataFrame) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    write_sheet(wb, "case_series", _defused(frame))
    write_sheet(wb, "about", about)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


MEDIA_TYPES = {"csv": CSV_MEDIA_TYPE, "xlsx": XLSX_MEDIA_TYPE}

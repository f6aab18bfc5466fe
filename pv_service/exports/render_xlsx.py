"""Excel rendering (openpyxl): one sheet per table, bold frozen header, widths from content, real dates."""
from __future__ import annotations

import datetime as dt
import io

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from pv_service.exports.render_csv import tables_of
from pv_service.exports.render_json import plain
from pv_service.exports.summary import ComplianceSummary

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "yyyy-mm-dd"
MAX_WIDTH = 60
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE5F0")


def _is_date(s: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(s.dtype)


def _cell_values(frame: pd.DataFrame) -> list[list]:
    cols = []
    for c in frame.columns:
        s = frame[c]
        if _is_date(s):
            cols.append([None if pd.isna(v) else v.date() for v in s])
        else:
            cols.append([plain(v) for v in s])
    return [list(r) for r in zip(*cols)] if cols else []


def write_sheet(wb: Workbook, name: str, frame: pd.DataFrame) -> None:
    ws = wb.create_sheet(title=name[:31])
    ws.append(list(frame.columns))
    for cell in ws[1]:
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    rows = _cell_values(frame)
    widths = [len(str(c)) for c in frame.columns]
    date_cols = {i for i, c in enumerate(frame.columns) if _is_date(frame[c])}
    for row in rows:
        ws.append(row)
        for i, v in enumerate(row):
            if v is not None:
                widths[i] = max(widths[i], 10 if isinstance(v, dt.date) else len(str(v)))
    for i in date_cols:
        for (cell,) in ws.iter_rows(min_row=2, min_col=i + 1, max_col=i + 1):
            cell.number_format = DATE_FORMAT
    for i, w in enumerate(widths):
        ws.column_dimensions[get_column_letter(i + 1)].width = min(w + 2, MAX_WIDTH)
    ws.freeze_panes = "A2"
    if rows:
        ws.auto_filter.ref = ws.dimensions


def render_xlsx(summary: ComplianceSummary) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for name, frame in tables_of(summary).items():
        write_sheet(wb, name, frame)
    about = wb["about"]
    about.column_dimensions["B"].width = 120
    for (cell,) in about.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

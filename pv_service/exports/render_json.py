"""JSON rendering of a compliance summary: one object per product, tables as lists of records."""
from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from pv_service.common import finite
from pv_service.exports.summary import ComplianceSummary

MEDIA_TYPE = "application/json"
# Tables shown per product under "tables" (products and key_figures are shown as objects, the figures'
# labels beside them).
PRODUCT_TABLES_SKIPPED = ("products", "key_figures")


def plain(value: Any) -> Any:
    """A pandas / numpy scalar as JSON: dates as YYYY-MM-DD, missing as null."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(value)
        return None if pd.isna(ts) else ts.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(frame.columns)
    return [{c: plain(v) for c, v in zip(cols, row)} for row in frame.itertuples(index=False, name=None)]


def as_document(summary: ComplianceSummary) -> dict[str, Any]:
    products = []
    for code in summary.product_codes:
        info = records(summary.table("products", code))[0]
        figures = summary.table("key_figures", code)
        products.append({
            "product": code, **info,
            "key_figures": {s: {k: plain(v) for k, v in figs.items()} for s, figs in summary.key_figures(code).items()},
            "key_figure_labels": dict(zip(figures["figure"], figures["label"])),
            "tables": {name: records(summary.table(name, code))
                       for name in summary.tables if name not in PRODUCT_TABLES_SKIPPED},
        })
    return {"as_of": summary.as_of.isoformat(), "start": summary.start.isoformat(), "end": summary.end.isoformat(),
            "notes": list(summary.notes), "products": products}


def render_json(summary: ComplianceSummary) -> bytes:
    # Strict JSON: a non-finite number (a rate over nothing) is null plus its non_finite marker.
    return json.dumps(finite.mark(as_document(summary)), ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")

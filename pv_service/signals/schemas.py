from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    as_of: dt.date
    level: str
    params: dict[str, Any]
    n_reports: int
    n_pairs: int
    hyperparameters: dict[str, Any]
    status: str


class PairPublic(BaseModel):
    """Measures of one pair in one run; null where a measure is undefined or infinite."""
    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="null")
    run_id: int
    product: str
    event: str
    n: int
    n_product: int
    n_event: int
    n_total: int
    expected: float
    prr: float | None
    prr_lower: float | None
    prr_upper: float | None
    chi2: float | None
    ror: float | None
    ror_lower: float | None
    ror_upper: float | None
    ic: float | None
    ic025: float | None
    ic975: float | None
    ebgm: float | None
    eb05: float | None
    eb95: float | None


class TrendPoint(PairPublic):
    as_of: dt.date

from __future__ import annotations

import datetime as dt
import math

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer

from pv_service.common import finite
from pv_service.common.finite import JSONObject


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    as_of: dt.date
    level: str
    params: JSONObject
    n_reports: int
    n_pairs: int
    hyperparameters: JSONObject
    status: str

    @computed_field(description="Where the run's MGPS prior came from: supplied, fitted, configured, "
                                "one_component or none (no EBGM/EB05/EB95; see prior_summary)")
    @property
    def prior_source(self) -> str | None:
        return self.hyperparameters.get("source")

    @computed_field(description="Which MGPS prior the run used and why, or why EBGM is absent")
    @property
    def prior_summary(self) -> str | None:
        return self.hyperparameters.get("summary")


MEASURES = ("expected", "prr", "prr_lower", "prr_upper", "chi2", "ror", "ror_lower", "ror_upper",
            "ic", "ic025", "ic975", "ebgm", "eb05", "eb95")


class PairPublic(BaseModel):
    """Measures of one pair in one run: null where undefined, or where infinite (named in `non_finite`)."""
    model_config = ConfigDict(from_attributes=True)
    run_id: int
    product: str
    event: str
    event_name: str | None = None
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
    listed: bool | None = Field(default=None, description="The event is in the product's label in force at the "
                                                          "run's data lock point (null: no label in force)")

    @field_serializer(*MEASURES, when_used="json")
    def _finite_or_null(self, value: float | None) -> float | None:
        return value if value is None or math.isfinite(value) else None

    @computed_field(description='Measures that are not finite (infinite by a zero cell): "Infinity", '
                                '"-Infinity" or "NaN"; they are null in their own field')
    @property
    def non_finite(self) -> dict[str, str]:
        return finite.non_finite_fields({m: getattr(self, m) for m in MEASURES})


class TrendPoint(PairPublic):
    as_of: dt.date


QUARTER_MEASURES = ("prr", "ror", "ror_lower", "ic", "ic025", "interval_prr", "interval_ror", "interval_ror_lower",
                    "interval_ic025")


class QuarterPublic(BaseModel):
    """One calendar quarter of first receipt: cumulative counts and crude measures up to its end, and
    those of the cases received in it (interval). Non-finite measures are null."""
    model_config = ConfigDict(from_attributes=True)
    quarter: str
    a: int
    n_product: int
    n_event: int
    n_total: int
    prr: float | None
    ror: float | None
    ror_lower: float | None
    ic: float | None
    ic025: float | None
    interval_a: int
    interval_n_product: int
    interval_n_event: int
    interval_n_total: int
    interval_prr: float | None
    interval_ror: float | None
    interval_ror_lower: float | None
    interval_ic025: float | None
    interval_serious: int

    @field_serializer(*QUARTER_MEASURES, when_used="json")
    def _finite_or_null(self, value: float | None) -> float | None:
        return value if value is None or math.isfinite(value) else None


class QuarterlyTrend(BaseModel):
    run_id: int | None
    data_lock_point: dt.date | None
    product: str
    event: str
    level: str
    quarters: list[QuarterPublic]

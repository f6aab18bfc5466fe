"""Model of ``alerts/reporting_clocks.yaml``: expedited reporting clocks (PRIMER section 2)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from pv_service.rules.common import Issue, RuleModel

# Case flags a clock can require. "serious" is true when any seriousness criterion is
# (death and life-threatening included); "fatal_or_life_threatening" is death or
# life-threatening; "unexpected" is expectedness against the reference safety
# information; "any" matches every case.
Condition = Literal["any", "serious", "death", "life_threatening", "fatal_or_life_threatening", "unexpected"]


class Clock(RuleModel):
    when: tuple[Condition, ...] = Field(min_length=1)  # all must hold
    days: int | Literal["immediately"]
    basis: str = ""

    @field_validator("when", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, v: Any) -> Any:
        if v == "immediately" or (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
            return v
        raise ValueError(f"must be a number of calendar days >= 0 or 'immediately' (got {v!r})")


class JurisdictionClocks(RuleModel):
    basis: str = ""
    clocks: tuple[Clock, ...] = Field(min_length=1)
    # What happens to a case no clock takes (e.g. FDA: periodic reports); shown as its basis.
    otherwise: str = ""
    warning_lead_days: tuple[int, ...] | None = None  # overrides the default


class ReportingClockRules(RuleModel):
    # Operational meaning of "immediately": due this many calendar days after day 0
    # (1 = by the end of the next calendar day).
    immediately_days: int = Field(ge=0)
    # Warn when a pending report is due in this many days or fewer.
    warning_lead_days: tuple[int, ...] = Field(min_length=1)
    jurisdictions: dict[str, JurisdictionClocks] = Field(min_length=1)
    # The entry whose clocks a report from a study (E2B C.1.3 = study) follows, whatever regulator it
    # goes to (ICH E2A); None: study reports follow the regulator's post-marketing clocks.
    study_cases: str | None = None

    def clock_days(self, clock: Clock) -> int:
        return self.immediately_days if clock.days == "immediately" else clock.days

    def leads_for(self, jurisdiction: str) -> tuple[int, ...]:
        j = self.jurisdictions.get(jurisdiction)
        leads = j.warning_lead_days if j is not None and j.warning_lead_days is not None else self.warning_lead_days
        return tuple(sorted(set(leads), reverse=True))

    def issues(self) -> list[Issue]:
        out: list[Issue] = []
        if self.study_cases is not None and self.study_cases not in self.jurisdictions:
            out.append((("study_cases",), f"names no entry of jurisdictions ({', '.join(self.jurisdictions)})"))
        for i, d in enumerate(self.warning_lead_days):
            if d < 0:
                out.append((("warning_lead_days", i), f"must be >= 0 (got {d})"))
        for name, j in self.jurisdictions.items():
            for i, d in enumerate(j.warning_lead_days or ()):
                if d < 0:
                    out.append((("jurisdictions", name, "warning_lead_days", i), f"must be >= 0 (got {d})"))
        return out

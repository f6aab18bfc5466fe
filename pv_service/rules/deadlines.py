"""Model of ``alerts/deadlines.yaml``: confirmatory-trial obligations of conditional
approvals (PRIMER section 4)."""
from __future__ import annotations

from pydantic import Field

from pv_service.rules.common import Issue, Offset, RuleModel

DEFAULT_MILESTONES = (
    "protocol_agreed",
    "first_patient_in",
    "enrolment_complete",
    "last_patient_last_visit",
    "final_report_submitted",
    "converted_to_full_approval",
)


class JurisdictionDeadlines(RuleModel):
    basis: str = ""
    # In-principle deadline for completing confirmatory studies, from the conditional
    # approval date (calendar arithmetic). None: set per obligation only.
    in_principle_deadline: Offset | None = None
    # Cadence of written progress reports (informational; not tracked yet).
    progress_report_every: Offset | None = None


class DeadlineRules(RuleModel):
    # Alert when an open obligation's due date is this many days away or fewer.
    warning_horizons_days: tuple[int, ...] = Field(min_length=1)
    jurisdictions: dict[str, JurisdictionDeadlines] = Field(default_factory=dict)
    # Milestone kinds, in their expected order.
    milestone_kinds: tuple[str, ...] = Field(min_length=1)
    # Achieving any of these fulfils the obligation.
    completed_by: tuple[str, ...] = Field(min_length=1)

    @property
    def horizons_desc(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.warning_horizons_days), reverse=True))

    def issues(self) -> list[Issue]:
        out: list[Issue] = []
        for i, h in enumerate(self.warning_horizons_days):
            if h < 0:
                out.append((("warning_horizons_days", i), f"must be >= 0 (got {h})"))
        seen: set[str] = set()
        for i, k in enumerate(self.milestone_kinds):
            if k in seen:
                out.append((("milestone_kinds", i), f"duplicate milestone kind {k!r}"))
            seen.add(k)
        for i, k in enumerate(self.completed_by):
            if k not in seen:
                out.append((("completed_by", i), f"unknown milestone kind {k!r}; one of {list(self.milestone_kinds)}"))
        for name, j in self.jurisdictions.items():
            for key in ("in_principle_deadline", "progress_report_every"):
                off = getattr(j, key)
                if off is not None and off.n <= 0:
                    out.append((("jurisdictions", name, key), "must be a positive duration"))
        return out

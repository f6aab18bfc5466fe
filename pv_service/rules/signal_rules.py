"""Model of ``alerts/signal_rules.yaml``: when a statistics run raises a signal alert, and
which designated medical events alert on the first case (PRIMER sections 5 and 6)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pv_service.rules.common import Issue, RuleModel
from pv_service.rules.term_groups import CodedTermGroup, group_issues
from pv_service.signals.levels import Level

MEASURES = ("n", "prr", "chi2", "ror", "ror_lower", "ic", "ic025", "ebgm", "eb05")
STRATA = ("sex", "age_band", "report_year")


class Criterion(RuleModel):
    """A named criterion: every listed measure must reach its minimum (>=, or > with strict)."""
    name: str
    basis: str = ""
    minimum: dict[str, float] = Field(min_length=1)
    strict: tuple[str, ...] = ()


class DesignatedMedicalEvent(CodedTermGroup):
    """A code-defined term group that alerts on the first case for products of the listed modalities."""
    severity: Literal["low", "medium", "high", "critical"] = "critical"


class LevelRule(RuleModel):
    """A level the nightly run counts at: `pt`, or a mapping such as {level: soc, paths: all}."""
    level: Literal["pt", "hlt", "hlgt", "soc", "smq"]
    paths: Literal["primary", "all"] = "primary"
    scope: Literal["narrow", "broad"] = "narrow"

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, value: Any) -> Any:
        return {"level": value} if isinstance(value, str) else value

    def to_level(self) -> Level:
        return Level(self.level, self.paths, self.scope)


class Reopen(RuleModel):
    """A closed signal alert reopens only when its evidence clearly changed."""
    min_new_cases: int = Field(ge=1)
    growth_factor: float = Field(ge=1.0)
    dme_any_new_case: bool = True


class MgpsPrior(RuleModel):
    """A prior for the nightly MGPS run: inline hyperparameters (as HYPER.json holds
    them) or a stored run's prior. ``use: always`` skips the fit; ``use: fallback``
    applies it only when the fit is not identifiable (see pv_service/signals/priors.py)."""
    use: Literal["always", "fallback"] = "fallback"
    hyperparameters: dict[str, float | int | list[int] | None] | None = None
    run: int | None = Field(default=None, ge=1)

    def issues(self) -> list[Issue]:
        if (self.hyperparameters is None) == (self.run is None):
            return [((), "give exactly one of `hyperparameters` or `run`")]
        if self.hyperparameters is not None:
            from pv_service.signals.mgps import Prior  # pure module: no cycle, no I/O
            try:
                Prior.from_dict(dict(self.hyperparameters), where="hyperparameters")
            except ValueError as exc:
                return [(("hyperparameters",), str(exc))]
        return []


TREND_MEASURES = ("prr", "ror", "ror_lower", "ic", "ic025")


class RisingDisproportionality(RuleModel):
    """The cumulative measure, by calendar quarter, rose in each of the last `quarters` quarters
    (each quarter's value above the one before by more than `min_increase`), ending at or above `minimum`."""
    basis: str = ""
    measure: Literal["prr", "ror", "ror_lower", "ic", "ic025"] = "ror_lower"
    quarters: int = Field(ge=1, le=40)
    min_increase: float = Field(default=0.0, ge=0.0)
    minimum: float | None = None


class SeverityShift(RuleModel):
    """The serious share of the pair's cases received in the last `recent_quarters` quarters exceeds
    the share before them by at least `min_increase`, with at least `min_recent_cases` recent cases."""
    basis: str = ""
    recent_quarters: int = Field(ge=1, le=40)
    min_increase: float = Field(gt=0.0, le=1.0)
    min_recent_cases: int = Field(default=3, ge=1)


class ListedEvents(RuleModel):
    """When a pair whose event is in the product's label raises a signal alert: only when one of the
    configured rules holds (with none configured, never). Designated medical events are kept apart."""
    rising_disproportionality: RisingDisproportionality | None = None
    severity_shift: SeverityShift | None = None
    # A designated medical event alerts on the first case even when its terms are labelled.
    designated_medical_events_alert: bool = True


class SignalRules(RuleModel):
    strata: tuple[str, ...] = ()
    min_count: int = Field(default=3, ge=1)
    criteria: tuple[Criterion, ...] = Field(min_length=1)
    # How criteria combine: "any" one of them, "all", or at least N of them.
    combine: Literal["any", "all"] | int = "any"
    comparator: Literal["all_products", "same_modality"] = "all_products"
    designated_medical_events: tuple[DesignatedMedicalEvent, ...] = ()
    # The MedDRA levels of the nightly run; levels above PT run when a dictionary is loaded.
    levels: tuple[LevelRule, ...] = (LevelRule(level="pt"),)
    reopen: Reopen
    mgps_prior: MgpsPrior | None = None
    # Absent: listed and unlisted pairs alert alike (as before labels were known).
    listed_events: ListedEvents | None = None

    def issues(self) -> list[Issue]:
        out: list[Issue] = []
        if self.mgps_prior is not None:
            out += [(("mgps_prior", *loc), msg) for loc, msg in self.mgps_prior.issues()]
        for i, s in enumerate(self.strata):
            if s not in STRATA:
                out.append((("strata", i), f"unknown stratum {s!r}; one of {list(STRATA)}"))
        names = set()
        for i, c in enumerate(self.criteria):
            if c.name in names:
                out.append((("criteria", i, "name"), f"duplicate criterion {c.name!r}"))
            names.add(c.name)
            for m in c.minimum:
                if m not in MEASURES:
                    out.append((("criteria", i, "minimum", m), f"unknown measure {m!r}; one of {list(MEASURES)}"))
            for j, m in enumerate(c.strict):
                if m not in c.minimum:
                    out.append((("criteria", i, "strict", j), f"{m!r} is not one of this criterion's minimums"))
        if isinstance(self.combine, int) and not 1 <= self.combine <= len(self.criteria):
            out.append((("combine",), f"must be between 1 and the number of criteria ({len(self.criteria)})"))
        out += group_issues(self.designated_medical_events, "designated_medical_events")
        labels: dict[str, int] = {}
        for i, rule in enumerate(self.levels):
            label = rule.to_level().label
            if label in labels:
                out.append((("levels", i), f"level {label!r} is listed twice (first at item {labels[label] + 1})"))
            labels.setdefault(label, i)
            if rule.paths != "primary" and rule.level not in ("hlt", "hlgt", "soc"):
                out.append((("levels", i, "paths"), f"paths applies to hlt, hlgt and soc, not {rule.level}"))
            if rule.scope != "narrow" and rule.level != "smq":
                out.append((("levels", i, "scope"), f"scope applies to smq, not {rule.level}"))
        if self.levels and "pt" not in labels:
            out.append((("levels",), "must include pt: the designated-medical-event run borrows the PT run's prior"))
        return out

    def required_hits(self) -> int:
        if self.combine == "any":
            return 1
        if self.combine == "all":
            return len(self.criteria)
        return int(self.combine)

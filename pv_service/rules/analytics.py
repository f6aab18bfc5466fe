"""Models of ``alerts/analytics.yaml`` (cohort analytics: person-time rules, adverse events of
special interest, sequential monitoring, lot clusters) and ``alerts/background_rates.yaml``
(population incidence rates by age band and sex, each naming its source)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from pv_service.rules.common import Issue, RuleModel
from pv_service.rules.term_groups import CodedTermGroup, group_issues


class PersonTimeRules(RuleModel):
    """How a patient's time at risk for a product is counted (see pv_service/analytics/persontime.py)."""
    # Follow-up of a patient still active ends at the as-of date, or at the last contact (conservative).
    active_until: Literal["as_of", "last_contact"] = "as_of"
    # A later infusion of another product: ends the first product's time at risk, or not.
    other_product_infusion: Literal["censor", "continue"] = "censor"
    # A reaction without an onset date: dated at the case's first receipt (its latest possible onset), or left out.
    missing_onset: Literal["first_received", "exclude"] = "first_received"


class OnsetPeriod(RuleModel):
    label: str
    until_days: int | None = Field(default=None, ge=1)  # None: open-ended (the last period)


class SpecialInterestGroup(CodedTermGroup):
    """An adverse event of special interest: a code-defined term group analysed for products of the listed modalities."""


class SequentialRules(RuleModel):
    """Poisson MaxSPRT (Kulldorff et al. 2011) per product and monitored group."""
    alpha: float = Field(default=0.05, gt=0, le=0.5)
    # End of surveillance, as the number of events expected under the null (the method's T).
    surveillance_expected: float = Field(default=10.0, gt=0, le=1000)
    # No signal before this many events (Kulldorff and Silva 2015 suggest 4; PRIMER section 6).
    min_events: int = Field(default=4, ge=1, le=100)
    severity: Literal["low", "medium", "high", "critical"] = "critical"


class LotRules(RuleModel):
    """Observed vs expected events per manufacturing lot, one-sided exact test, multiplicity control."""
    alpha: float = Field(default=0.05, gt=0, le=0.5)
    multiplicity: Literal["holm", "benjamini_hochberg"] = "holm"
    min_events: int = Field(default=3, ge=1)
    severity: Literal["low", "medium", "high", "critical"] = "high"


class AnalyticsRules(RuleModel):
    person_time: PersonTimeRules = PersonTimeRules()
    # Lower bounds of the age bands (years, attained age) for strata; the first must be 0.
    age_bands: tuple[int, ...] = Field(default=(0, 18, 40, 65), min_length=1)
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    cumulative_incidence_years: tuple[float, ...] = Field(default=(1, 2, 5, 10), min_length=1)
    onset_periods: tuple[OnsetPeriod, ...] = Field(min_length=1)
    adverse_events_of_special_interest: tuple[SpecialInterestGroup, ...] = ()
    sequential: SequentialRules = SequentialRules()
    lots: LotRules = LotRules()

    def issues(self) -> list[Issue]:
        out: list[Issue] = []
        out += _band_issues(self.age_bands, ("age_bands",))
        last = 0
        for i, p in enumerate(self.onset_periods):
            final = i == len(self.onset_periods) - 1
            if p.until_days is None and not final:
                out.append((("onset_periods", i, "until_days"), "only the last period may be open-ended"))
            elif p.until_days is not None:
                if p.until_days <= last:
                    out.append((("onset_periods", i, "until_days"), f"must be greater than the previous period's ({last})"))
                last = p.until_days
            if final and p.until_days is not None:
                out.append((("onset_periods", i, "until_days"), "the last period must be open-ended (leave until_days out)"))
        return out + group_issues(self.adverse_events_of_special_interest, "adverse_events_of_special_interest")


def _band_issues(bands: tuple[int, ...], loc) -> list[Issue]:
    out: list[Issue] = []
    if bands and bands[0] != 0:
        out.append(((*loc, 0), "the first age band must start at 0"))
    for i in range(1, len(bands)):
        if bands[i] <= bands[i - 1]:
            out.append(((*loc, i), f"must be greater than the previous band's start ({bands[i - 1]})"))
    return out


class BackgroundRate(RuleModel):
    """Incidence in the general population of one event group, per `per` person-years, by age band and sex."""
    group: str
    source: str = Field(min_length=10)  # where the figures come from, in words a reviewer can check
    per: float = Field(default=100_000, gt=0)
    age_bands: tuple[int, ...] = Field(min_length=1)  # lower bounds, years; the first must be 0
    male: tuple[float, ...]
    female: tuple[float, ...]

    def rate(self, sex: str) -> tuple[float, ...]:
        return self.male if sex == "male" else self.female


class NoBackground(RuleModel):
    """A group deliberately left without a population rate, and why (shown where its SIR would be)."""
    group: str
    reason: str = Field(min_length=10)


class BackgroundRates(RuleModel):
    rates: tuple[BackgroundRate, ...] = ()
    without_background: tuple[NoBackground, ...] = ()

    def issues(self) -> list[Issue]:
        out = _duplicates([r.group for r in self.rates], "rates", "group")
        out += _duplicates([r.group for r in self.without_background], "without_background", "group")
        rated = {r.group for r in self.rates}
        for i, r in enumerate(self.without_background):
            if r.group in rated:
                out.append((("without_background", i, "group"), f"{r.group!r} also has a rate under rates"))
        for i, r in enumerate(self.rates):
            out += _band_issues(r.age_bands, ("rates", i, "age_bands"))
            for sex in ("male", "female"):
                values = getattr(r, sex)
                if len(values) != len(r.age_bands):
                    out.append((("rates", i, sex), f"needs one rate per age band ({len(r.age_bands)}), got {len(values)}"))
                for j, v in enumerate(values):
                    if not v >= 0:
                        out.append((("rates", i, sex, j), f"must be >= 0 (got {v})"))
        return out

    def for_group(self, name: str) -> BackgroundRate | None:
        return next((r for r in self.rates if r.group == name), None)

    def why_none(self, name: str) -> str:
        """Why a group has no SIR: the reason configured for it, or that no rate was supplied."""
        reason = next((r.reason for r in self.without_background if r.group == name), None)
        return reason or "no background rate in background_rates.yaml for this group"


def _duplicates(names: list[str], section: str, key: str) -> list[Issue]:
    seen: set[str] = set()
    out: list[Issue] = []
    for i, name in enumerate(names):
        if name in seen:
            out.append(((section, i, key), f"duplicate group {name!r}"))
        seen.add(name)
    return out

"""Model of ``alerts/followup_plans.yaml``: long-term follow-up plans (PRIMER section 3)."""
from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from pv_service.common.vocab import ContactKind, Modality
from pv_service.rules.common import Issue, Offset, RuleModel, parse_offset_text


class Assessment(StrEnum):
    """Assessments a timepoint can require (PRIMER section 3). A closed list, so a typo
    in the rules is an error rather than a requirement nobody can satisfy."""
    vital_status = "vital_status"
    malignancy_screening = "malignancy_screening"
    vector_test = "vector_test"
    blood_counts = "blood_counts"
    immunoglobulins = "immunoglobulins"
    infections = "infections"
    neurological_status = "neurological_status"
    tumour_formation = "tumour_formation"
    ectopic_tissue = "ectopic_tissue"
    thromboembolic_events = "thromboembolic_events"


class _Window(RuleModel):
    window_days: int | None = Field(default=None, ge=0)
    window_before_days: int | None = Field(default=None, ge=0)
    window_after_days: int | None = Field(default=None, ge=0)
    grace_days: int | None = Field(default=None, ge=0)
    assessments: tuple[Assessment, ...] = ()

    @property
    def before(self) -> int:
        return self.window_before_days if self.window_before_days is not None else self.window_days

    @property
    def after(self) -> int:
        return self.window_after_days if self.window_after_days is not None else self.window_days

    def window_issues(self) -> list[Issue]:
        if self.before is None or self.after is None:
            return [((), "needs window_days, or both window_before_days and window_after_days")]
        return []


class Timepoint(_Window):
    label: str = Field(min_length=1, max_length=20)
    offset: Offset


class LifelongContact(_Window):
    """Yearly contacts after the last listed timepoint, for as long as the patient lives."""
    every: Offset = Field(default_factory=lambda: Offset.model_validate("1 year"))
    label: str = "Y{n}"

    @field_validator("label")
    @classmethod
    def _template(cls, v: str) -> str:
        if v.count("{n}") != 1 or "{" in v.replace("{n}", "") or "}" in v.replace("{n}", ""):
            raise ValueError("must contain '{n}' (years since infusion) exactly once, e.g. 'Y{n}'")
        return v

    @field_validator("every")
    @classmethod
    def _whole_years(cls, v: Offset) -> Offset:
        if not v.is_whole_years:
            raise ValueError("must be a whole number of years, e.g. '1 year'")
        return v

    def label_for(self, years: int) -> str:
        return self.label.replace("{n}", str(years))

    def parse_label(self, label: str) -> int | None:
        pre, post = self.label.split("{n}")
        m = re.fullmatch(re.escape(pre) + r"(\d+)" + re.escape(post), label)
        return int(m.group(1)) if m else None


class LostToFollowUp(RuleModel):
    """Either condition (or both) makes a patient lost to follow-up."""
    consecutive_missed: int | None = Field(default=None, ge=1)
    # Which timepoints count towards the consecutive-missed streak: only the yearly
    # ones (offset a whole number of years, including lifelong contacts), or all.
    counting: Literal["yearly", "all"] = "yearly"
    no_contact_months: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_rule(self) -> "LostToFollowUp":
        if self.consecutive_missed is None and self.no_contact_months is None:
            raise ValueError("give consecutive_missed, no_contact_months, or both")
        return self


class Duration(RuleModel):
    lifelong: bool = False
    years: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "lifelong":
            return {"lifelong": True}
        if isinstance(value, (dict, Duration)):
            return value
        off = parse_offset_text(value) if isinstance(value, str) else None
        if off is None or off["unit"] != "years" or off["n"] < 1:
            raise ValueError(f"expected 'lifelong' or a number of years like '5 years', got {value!r}")
        return {"years": off["n"]}


class Plan(RuleModel):
    label: str = Field(default="", max_length=80)  # for people (exports, pages): "CAR-T, lifelong"
    description: str = ""
    duration: Duration
    grace_days: int = Field(ge=0)
    lost_to_follow_up: LostToFollowUp
    timepoints: tuple[Timepoint, ...] = Field(min_length=1)
    lifelong_contact: LifelongContact | None = None

    def grace_for(self, tp: _Window) -> int:
        return tp.grace_days if tp.grace_days is not None else self.grace_days

    @property
    def first_lifelong_year(self) -> int | None:
        """Years since infusion of the first lifelong contact (after the last listed timepoint)."""
        if self.lifelong_contact is None:
            return None
        step = self.lifelong_contact.every.months // 12
        last_years = self.timepoints[-1].offset.nominal_days / 365.2425
        # the first multiple of the step after the last listed timepoint (closed form: no loop)
        return step * (math.floor((last_years + 1e-9) / step) + 1)

    def issues(self) -> list[Issue]:
        out: list[Issue] = []
        if self.duration.lifelong and self.lifelong_contact is None:
            out.append((("lifelong_contact",), "a lifelong plan needs lifelong_contact (the yearly contact after the last timepoint)"))
        if not self.duration.lifelong and self.lifelong_contact is not None:
            out.append((("lifelong_contact",), "only a lifelong plan can have lifelong_contact"))
        labels: dict[str, int] = {}
        for i, tp in enumerate(self.timepoints):
            out += [(("timepoints", i) + loc, msg) for loc, msg in tp.window_issues()]
            if tp.label in labels:
                out.append((("timepoints", i, "label"), f"duplicate label {tp.label!r} (also timepoints[{labels[tp.label]}])"))
            labels.setdefault(tp.label, i)
            if i and tp.offset.nominal_days <= self.timepoints[i - 1].offset.nominal_days:
                out.append((("timepoints", i, "offset"), "timepoints must be listed in increasing order of offset"))
            if self.duration.years is not None and tp.offset.nominal_days > self.duration.years * 365.2425 + 1e-6:
                out.append((("timepoints", i, "offset"), f"is after the plan's duration of {self.duration.years} years"))
        if self.lifelong_contact is not None:
            lc = self.lifelong_contact
            out += [(("lifelong_contact",) + loc, msg) for loc, msg in lc.window_issues()]
            first = self.first_lifelong_year
            for i, tp in enumerate(self.timepoints):
                n = lc.parse_label(tp.label)
                if n is not None and n >= first:
                    out.append((("timepoints", i, "label"), f"label {tp.label!r} collides with the lifelong contact labels ({lc.label})"))
        if out:
            return out
        out += self._overlap_issues()
        return out

    def _overlap_issues(self) -> list[Issue]:
        """Windows of consecutive timepoints must not share a day, for any infusion date.
        Checked over every start date of a four-year cycle (all month lengths, leap or not)."""
        from pv_service.followup.schedule import (
            add_offset,  # calendar arithmetic lives there
        )

        starts = np.arange(np.datetime64("2000-01-01"), np.datetime64("2004-01-01")).astype(np.int64)
        rows: list[tuple[tuple[str | int, ...], str, np.ndarray, np.ndarray]] = []
        for i, tp in enumerate(self.timepoints):
            due = add_offset(starts, tp.offset)
            rows.append((("timepoints", i), tp.label, due - tp.before, due + tp.after))
        if self.lifelong_contact is not None:
            lc = self.lifelong_contact
            step = lc.every.months // 12
            for k in range(2):
                n = self.first_lifelong_year + k * step
                due = add_offset(starts, Offset(n=n, unit="years"))
                rows.append((("lifelong_contact",), lc.label_for(n), due - lc.before, due + lc.after))
        out: list[Issue] = []
        for (_, prev_label, _, prev_close), (loc, label, open_, _) in zip(rows, rows[1:]):
            if np.any(open_ <= prev_close):
                gap = int(np.min(open_ - prev_close))
                out.append((loc, f"window of {label} overlaps the window of {prev_label} "
                                 f"(by {1 - gap} day(s) for some infusion dates)"))
        if self.timepoints[0].offset.unit == "days" and self.timepoints[0].before > self.timepoints[0].offset.n:
            out.append((("timepoints", 0), "window opens before the infusion date"))
        return out


STOP_KINDS = (ContactKind.death, ContactKind.withdrawal, ContactKind.transfer)


class FollowupRules(RuleModel):
    # Default plan per product modality; a product may name a plan explicitly.
    modality_defaults: dict[str, str]
    # Whether a death / withdrawal / transfer recorded under one treatment stops the
    # follow-up of all the patient's treatments ("patient") or only that one ("treatment").
    stop_scope: dict[Literal["death", "withdrawal", "transfer"], Literal["patient", "treatment"]] = Field(
        default_factory=lambda: {"death": "patient", "withdrawal": "patient", "transfer": "patient"}
    )
    plans: dict[str, Plan] = Field(min_length=1)

    def plan_for(self, modality: str, explicit: str | None = None) -> str:
        """Name of the plan for a product: its explicit plan, else its modality's default."""
        name, problem = self.resolve_plan(modality, explicit)
        if name is None:
            raise KeyError(problem)
        return name

    def resolve_plan(self, modality: str, explicit: str | None = None) -> tuple[str | None, str | None]:
        """(plan name, None), or (None, why there is none) for a product of ``modality``
        naming ``explicit`` (None, "" or a missing value: the modality's default)."""
        if explicit is not None and not isinstance(explicit, str):  # NaN / NA from a frame: not set
            explicit = None
        if explicit:
            if explicit not in self.plans:
                return None, (f"unknown follow-up plan {explicit!r} (not in the follow-up rules; "
                              f"known: {', '.join(sorted(self.plans))})")
            return explicit, None
        name = self.modality_defaults.get(str(modality))
        if name is None:
            return None, f"no follow-up plan: none set and none by default for modality {modality!r}"
        return name, None

    def check_plan_name(self, name: str | None) -> str | None:
        """None if ``name`` may be set on a product (a known plan, or None: the default), else why not."""
        if name is None or name in self.plans:
            return None
        return (f"unknown follow-up plan {name!r}; one of {', '.join(sorted(self.plans))} "
                "(or null for the modality's default)")

    def issues(self) -> list[Issue]:
        out: list[Issue] = []
        modalities = {m.value for m in Modality}
        for key, plan in self.modality_defaults.items():
            if key not in modalities:
                out.append((("modality_defaults", key), f"unknown modality {key!r}; one of {sorted(modalities)}"))
            elif plan not in self.plans:
                out.append((("modality_defaults", key), f"unknown plan {plan!r}; defined plans: {sorted(self.plans)}"))
        for name, plan in self.plans.items():
            out += [(("plans", name) + loc, msg) for loc, msg in plan.issues()]
        return out

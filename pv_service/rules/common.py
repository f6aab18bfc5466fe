"""Building blocks shared by the rule-file models: strict models, offsets, issues.

A rule-file model is a pydantic model for shape, types and ranges. Checks that need
the whole file (references between sections, overlapping windows) go in an
``issues()`` method that returns ``(location, message)`` pairs, so the loader can
point at the exact line instead of the enclosing mapping.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

# A location inside a YAML document: mapping keys and sequence indexes, root first.
Loc = tuple[str | int, ...]
Issue = tuple[Loc, str]


class RuleModel(BaseModel):
    """Unknown keys are errors: a misspelt key in a safety rule must not be ignored."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    def issues(self) -> list[Issue]:
        return []


_OFFSET_RE = re.compile(r"^\s*(\d+)\s*(d|days?|m|months?|y|years?)\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "m": "months", "y": "years"}


def parse_offset_text(value: Any) -> dict[str, Any]:
    if isinstance(value, Offset):
        return value.model_dump()
    if isinstance(value, dict):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected text like '28 days', '3 months' or '2 years', got {value!r}")
    m = _OFFSET_RE.match(value)
    if m is None:
        raise ValueError(f"expected text like '28 days', '3 months' or '2 years', got {value!r}")
    return {"n": int(m.group(1)), "unit": _UNITS[m.group(2)[0].lower()]}


class Offset(RuleModel):
    """A calendar offset. Months and years use calendar arithmetic (day clamped to the
    end of a shorter month: 31 Jan + 1 month = 28/29 Feb; 29 Feb + 1 year = 28 Feb);
    days are plain days."""
    n: int
    unit: Literal["days", "months", "years"]

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return parse_offset_text(value)

    @property
    def months(self) -> int | None:
        """Whole calendar months, or None for a day offset."""
        if self.unit == "days":
            return None
        return self.n * 12 if self.unit == "years" else self.n

    @property
    def nominal_days(self) -> float:
        if self.unit == "days":
            return float(self.n)
        return self.months * 30.436875  # mean Gregorian month

    @property
    def is_whole_years(self) -> bool:
        return self.unit != "days" and self.months % 12 == 0 and self.months > 0

    def __str__(self) -> str:
        return f"{self.n} {self.unit}"


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"

"""One model for the rule files' term groups (designated medical events of ``signal_rules.yaml``,
adverse events of special interest of ``analytics.yaml``): MedDRA codes, never names."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from pv_service.rules.common import Issue, RuleModel


def _code_text(value: Any) -> Any:
    # An unquoted code is read by YAML as a number; MedDRA codes have no leading zero.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


MeddraCode = Annotated[str, BeforeValidator(_code_text), StringConstraints(pattern=r"^[0-9]{8}$")]


class SmqReference(RuleModel):
    code: MeddraCode
    scope: Literal["narrow", "broad"] = "narrow"


class CodedTermGroup(RuleModel):
    """A group of MedDRA terms analysed for products of the listed modalities.

    Defined by codes, never by names: explicit PT codes, and HLTs and SMQs resolved to their PTs
    in the loaded dictionary (with none loaded, only the explicit PT codes count).
    """
    name: str
    modalities: tuple[str, ...] = Field(min_length=1)
    pt_codes: tuple[MeddraCode, ...] = ()
    hlt_codes: tuple[MeddraCode, ...] = ()
    smqs: tuple[SmqReference, ...] = ()
    basis: str = ""

    @model_validator(mode="before")
    @classmethod
    def _no_names(cls, value: Any) -> Any:
        if isinstance(value, dict) and "terms" in value:
            raise ValueError("terms by name are no longer read: a group is defined by MedDRA codes "
                             "(pt_codes, hlt_codes, smqs) from the licensed release in use")
        return value


def group_issues(groups: tuple[CodedTermGroup, ...], section: str) -> list[Issue]:
    """Duplicate names, and groups that name no code at all."""
    out: list[Issue] = []
    seen: set[str] = set()
    for i, g in enumerate(groups):
        if g.name in seen:
            out.append(((section, i, "name"), f"duplicate group {g.name!r}"))
        seen.add(g.name)
        if not (g.pt_codes or g.hlt_codes or g.smqs):
            out.append(((section, i), f"group {g.name!r} names no pt_codes, hlt_codes or smqs"))
    return out

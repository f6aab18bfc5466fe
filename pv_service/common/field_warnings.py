"""Warnings in a success answer: what was stored although it looks implausible."""
from __future__ import annotations

from pydantic import BaseModel

from pv_service.common.errors import FieldProblem


class FieldWarning(BaseModel):
    """Shaped like an item of a 422 `detail`: the field, why it looks wrong, a type to match on."""
    loc: list[str | int]
    msg: str
    type: str


def as_warnings(problems: list[FieldProblem], prefix: tuple = ()) -> list[dict]:
    """`prefix` replaces the leading "body" (a batch item: ("body", "reports", index))."""
    return [{"loc": [*prefix, *p.loc[1:]] if prefix else list(p.loc), "msg": p.msg, "type": p.type} for p in problems]

"""Non-finite numbers in JSON: null plus an explicit marker, reversibly.

JSON has no Infinity or NaN: PostgreSQL's json type refuses them and so must an API, yet a
PRR or ROR with a zero cell is genuinely infinite. In every object a non-finite float value
becomes null and its key is listed under ``"non_finite"`` with "Infinity", "-Infinity" or
"NaN"; inside a list the value becomes a marker object ``{"non_finite": ...}``. Readers that
know the convention restore the floats (``restore``); others see null and the reason.
"""
from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import PlainSerializer

KEY = "non_finite"
_NAMES = {math.inf: "Infinity", -math.inf: "-Infinity"}
_VALUES = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


def _name(value: Any) -> str | None:
    """The marker of a non-finite float (numpy scalars included), None for anything else."""
    if not isinstance(value, (float, np.floating)) or math.isfinite(value):
        return None
    return "NaN" if math.isnan(value) else _NAMES[float(value)]


def mark(obj: Any) -> Any:
    """A copy of obj with every non-finite float replaced by null and named under "non_finite"."""
    if isinstance(obj, dict):
        out, marked = {}, {}
        for k, v in obj.items():
            name = _name(v)
            if name is None:
                out[k] = mark(v)
            else:
                out[k], marked[k] = None, name
        if marked:
            out[KEY] = {**out.get(KEY, {}), **marked} if isinstance(out.get(KEY), dict) else marked
        return out
    if isinstance(obj, (list, tuple)):
        return [mark(v) for v in obj]
    name = _name(obj)  # a bare non-finite value (in a list, or the whole document): the marker object
    return obj if name is None else {KEY: name}


def restore(obj: Any) -> Any:
    """The inverse of mark: markers back to floats."""
    if isinstance(obj, dict):
        if set(obj) == {KEY} and obj[KEY] in _VALUES:
            return _VALUES[obj[KEY]]
        marked = obj.get(KEY)
        out = {k: restore(v) for k, v in obj.items() if k != KEY}
        if isinstance(marked, dict) and all(v in _VALUES for v in marked.values()):
            for k, v in marked.items():
                if out.get(k) is None:
                    out[k] = _VALUES[v]
            return out
        if marked is not None:
            out[KEY] = restore(marked)
        return out
    if isinstance(obj, list):
        return [restore(v) for v in obj]
    return obj


def non_finite_fields(values: dict[str, Any]) -> dict[str, str]:
    """{name: "Infinity" | "-Infinity" | "NaN"} for the non-finite floats of a flat mapping."""
    return {k: name for k, v in values.items() if (name := _name(v)) is not None}


# A free-form JSON object in an API answer: non-finite numbers as null plus their marker.
JSONObject = Annotated[dict[str, Any], PlainSerializer(mark, return_type=dict[str, Any])]

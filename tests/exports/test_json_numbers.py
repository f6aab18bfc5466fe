"""The JSON export is strict JSON: a non-finite number is null plus its non_finite marker."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pv_service.exports import render_json as module


def test_non_finite_numbers_are_named_not_written_bare(monkeypatch):
    doc = {"products": [{"key_figures": {"rate": np.float64(np.inf), "ratio": -math.inf, "n": 3}}]}
    monkeypatch.setattr(module, "as_document", lambda summary: doc)
    text = module.render_json(object()).decode()
    got = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the export"))
    assert got["products"][0]["key_figures"] == {"rate": None, "ratio": None, "n": 3,
                                                 "non_finite": {"rate": "Infinity", "ratio": "-Infinity"}}

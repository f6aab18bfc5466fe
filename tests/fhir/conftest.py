"""FHIR fixtures: HL7's AdverseEvent examples from ../shared, and a clinic's CAR-T patient."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import products, treated  # noqa: F401 (CART-1 of MAH A; P-001 of clinic A infused 2025-01-10, LOT-1)
from tests.conftest import IN_CI
from tests.e2b.conftest import ich_xsd, schema_settings  # noqa: F401 (the ICH schema set from ../shared)
from tests.meddra.test_intake import coded  # noqa: F401 (the made-up MedDRA dictionary 90.0 loaded)

EXAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "interop" / "fhir"


def example(relative: str) -> bytes:
    """One of HL7's FHIR examples (r4b/adverseevent-example.json, r5/adverseevent-example.xml)."""
    path = EXAMPLES / relative
    if not path.exists():
        if IN_CI:
            pytest.fail(f"fixture {path} is missing (CI is set)", pytrace=False)
        pytest.skip(f"fixture {path} is missing")
    return path.read_bytes()

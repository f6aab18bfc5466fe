"""schemas/ is generated from the API models; a stale committed schema fails here."""
from __future__ import annotations

import json

import pytest

from pv_service.contract import CONTRACT, SCHEMA_DIR, render


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_committed_schema_matches_code(name):
    committed = (SCHEMA_DIR / name).read_text()
    assert committed == render(CONTRACT[name]), f"schemas/{name} is stale: run `python -m pv_service.contract`"


def test_report_schema_lets_a_clinic_validate_before_sending():
    schema = json.loads((SCHEMA_DIR / "report.schema.json").read_text())
    assert "sender_case_id" in schema["required"] and "received_date" in schema["required"]
    assert schema["additionalProperties"] is False

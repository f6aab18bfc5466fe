"""Designated medical events are matched by MedDRA code, never by name (issue 12), on both databases.

The shipped rules (alerts/signal_rules.yaml) define T-cell malignancies by HLTs and Tumour formation
by explicit PT codes, all codes of the synthetic demo dictionary (pv_service/demo/dictionary.py):
PT 96000025 "T-cell lymphoma" sits under HLT 97001010; PT 96000024 "Neoplasm" is listed by code.
"""
from __future__ import annotations

import pytest
from sqlmodel import select

from pv_service.alerting.models import Alert
from pv_service.demo import dictionary as demo_dictionary
from pv_service.meddra.loader import load
from pv_service.rules import load_rules
from pv_service.signals.job import signal_detection
from tests.api.conftest import products, register, report_payload, treat  # noqa: F401
from tests.conftest import NOW

RULES = load_rules("alerts")


@pytest.fixture
def reported(client, session, world, products):  # noqa: F811
    """Case A: the T-cell lymphoma code under a sloppy name. Case B: a made-up code under the exact name.
    Case C: Neoplasm after the stem-cell product, by code."""
    ids = {}
    for key, product, code, name in (("A", "CART-1", "96000025", "T-Cell Lymphoma "),
                                      ("B", "CART-1", "LOCAL-0100", "T-cell lymphoma"),
                                      ("C", "MSC-1", "96000024", "neoplasm")):
        p = register(client, world.clinic, f"DME-{key}")
        t = treat(client, world.clinic, p["id"], product, "2025-01-01")
        body = report_payload(p["id"], t["id"], case_id=f"DME-{key}", received_date="2026-06-01",
                              transgene_in_tumour="not_tested")
        body["reactions"] = [{"pt_code": code, "pt_name": name, "onset_date": "2026-05-01",
                              "seriousness": {"other_medically_important": True}, "outcome": "not_recovered"}]
        r = client.post("/v1/reports", json=body, headers=world.clinic.headers)
        assert r.status_code == 201, r.text
        ids[key] = r.json()["id"]
    return ids


def _dme(session) -> dict[str, Alert]:
    return {a.key: a for a in session.exec(select(Alert).where(Alert.key.startswith("signal:dme:")))}


def test_the_right_code_counts_under_any_name_and_the_right_name_without_the_code_does_not(db, session, reported):
    load(db, demo_dictionary.directory(), NOW)
    result = signal_detection(session, NOW, RULES)
    session.commit()
    alerts = _dme(session)
    t_cell = alerts["signal:dme:CART-1:T-cell malignancies"]
    assert t_cell.detail["case_ids"] == [reported["A"]] and t_cell.detail["n"] == 1
    assert "96000025" in t_cell.detail["pt_codes"] and "LOCAL-0100" not in t_cell.detail["pt_codes"]
    assert t_cell.detail["meddra_version"] == demo_dictionary.VERSION
    tumour = alerts["signal:dme:MSC-1:Tumour formation"]
    assert tumour.detail["case_ids"] == [reported["C"]]
    assert result["group_problems"] == {} and result["skipped_levels"] == []
    assert result["levels"] == ["pt", "hlt", "soc", "smq"]


def test_without_a_dictionary_groups_by_explicit_pt_codes_still_work(session, reported):
    result = signal_detection(session, NOW, RULES)
    session.commit()
    alerts = _dme(session)
    assert "signal:dme:MSC-1:Tumour formation" in alerts  # PT codes listed in the rules
    assert "signal:dme:CART-1:T-cell malignancies" not in alerts  # HLTs need a dictionary...
    assert "need a loaded MedDRA dictionary" in result["group_problems"]["T-cell malignancies"][0]  # ...and it says so
    assert result["skipped_levels"] == ["hlt", "soc", "smq"] and result["levels"] == ["pt"]
    assert result["meddra_version"] is None

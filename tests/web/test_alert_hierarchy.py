"""The alert page shows the MedDRA hierarchy of the alert's terms and finds its cases by PT code.

Dictionary: tests/meddra/dictionaries.SMALL (synthetic): T-cell lymphoma 90000301 is multi-axial,
primary under "Neoplasms (synthetic)", secondary under "Blood and lymphatic system disorders (synthetic)".
"""
from __future__ import annotations

import re

from pv_service.meddra.loader import load
from tests.api.conftest import products, register, report_payload, treat  # noqa: F401
from tests.conftest import NOW
from tests.meddra import dictionaries
from tests.web.helpers import make_alert, signal_detail, signed_in


def _case(client, h, local_id, reaction):
    p = register(client, h, local_id)
    t = treat(client, h, p["id"], "CART-1")
    body = report_payload(p["id"], t["id"], local_id, received_date="2025-02-01", reactions=[reaction])
    r = client.post("/v1/reports", json=body, headers=h.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_alert_page_shows_each_terms_paths_and_finds_cases_by_code(client, session, world, products, db, tmp_path):  # noqa: F811
    h = world.clinic
    by_code = _case(client, h, "H1", {"pt_code": "90000301", "pt_name": "T-Cell Lymphoma ", "outcome": "not_recovered"})
    _case(client, h, "H2", {"pt_code": "LOCAL-0100", "pt_name": "T-cell lymphoma", "outcome": "not_recovered"})
    load(db, dictionaries.write(tmp_path), NOW)
    detail = {**signal_detail("CART-1", "90000202", level="hlt", terms=["T-cell lymphoma"]),
              "event_name": "T-cell lymphomas HLT", "pt_codes": ["90000301"], "meddra_version": "90.0"}
    alert = make_alert(session, key="signal:hlt:CART-1:90000202", product_id=products["cart"].id, detail=detail,
                       title="T-cell lymphomas HLT after CART-1: disproportionate reporting")
    session.commit()
    signed_in(client, session, world.safety.user)
    html = client.get(f"/ui/alerts/{alert.id}").text
    assert "T-cell lymphomas HLT" in html and "MedDRA high level term" in html
    panel = re.search(r'<section class="panel" id="hierarchy">(.*?)</section>', html, re.S).group(1)
    assert "version 90.0" in panel
    items = [" ".join(re.sub(r"<[^>]+>", " ", li).split())
             for li in re.findall(r"<li[^>]*>(.*?)(?=<ul>|</li>)", panel, re.S)]
    assert items == [
        "SOC Neoplasms (synthetic) 90000002", "HLGT Lymphomas HLGT 90000102", "HLT T-cell lymphomas HLT 90000202",
        "PT T-cell lymphoma 90000301",
        "SOC Blood and lymphatic system disorders (synthetic) 90000001", "HLGT Haematology HLGT 90000101",
        "HLT Neutropenias and lymphomas HLT 90000201", "PT T-cell lymphoma 90000301 (secondary path)",
    ]
    # Reported in the alert's cases: in bold on both paths.
    assert re.findall(r'<li class="(pt[^"]*)">', panel) == ["pt seen", "pt seen secondary"]
    # The case coded 90000301 (whatever its name) is behind the alert; the made-up code with the exact name is not.
    assert [int(x) for x in re.findall(r'href="/ui/cases/(\d+)"', html)] == [by_code]


def test_without_a_dictionary_the_page_says_so(client, session, world, products):  # noqa: F811
    detail = {**signal_detail("CART-1", "90000301"), "pt_codes": ["90000301"]}
    alert = make_alert(session, key="signal:pt:CART-1:90000301", product_id=products["cart"].id, detail=detail)
    session.commit()
    signed_in(client, session, world.safety.user)
    html = client.get(f"/ui/alerts/{alert.id}").text
    assert "No MedDRA dictionary is loaded: terms are shown as reported." in html

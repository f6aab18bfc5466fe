from __future__ import annotations

import pytest

from pv_service.rules import load_rules
from tests.api.conftest import products, register, report_payload, treat  # noqa: F401

RULES = load_rules("alerts")
NEUTROPENIA = {"pt_code": "LOCAL-0100", "pt_name": "Neutropenia", "onset_date": "2026-05-03",
               "seriousness": {"hospitalisation": True}, "outcome": "recovered"}
CRS = {"pt_code": "LOCAL-0001", "pt_name": "Cytokine release syndrome", "onset_date": "2026-05-02",
       "seriousness": {"hospitalisation": True}, "outcome": "recovered"}


def send(client, actor, patient, treatment, case_id, reactions, **extra):
    body = report_payload(patient["id"], treatment["id"], case_id=case_id, received_date="2026-06-01",
                          reactions=reactions, **extra)
    r = client.post("/v1/reports", json=body, headers=actor.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.fixture
def background(client, world, products):  # noqa: F811
    """Ten CRS reports after each product (other patients)."""
    for i in range(10):
        for code in ("CART-1", "MSC-1"):
            p = register(client, world.clinic, f"BG-{code}-{i}", birth_year=1940 + 7 * i)
            t = treat(client, world.clinic, p["id"], code, "2026-04-01", batch=f"BG-LOT-{code}-{i}")
            send(client, world.clinic, p, t, f"BG-{code}-{i}", [dict(CRS, onset_date=f"2026-04-{1 + i:02d}")])


@pytest.fixture
def msc_neutropenias(client, world, background):
    """Two neutropenias after the stem-cell product."""
    for i in range(2):
        p = register(client, world.clinic, f"BG-N-{i}", birth_year=1980 + i)
        t = treat(client, world.clinic, p["id"], "MSC-1", "2026-04-01")
        send(client, world.clinic, p, t, f"BG-N-{i}", [NEUTROPENIA])

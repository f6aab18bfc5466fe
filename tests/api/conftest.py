from __future__ import annotations


import pytest

from pv_service.products.models import Product
from tests.conftest import NOW


@pytest.fixture
def products(session, world):
    """CAR-T product of MAH A and stem-cell product of MAH B."""
    cart = Product(code="CART-1", inn="testcabtagene autoleucel", trade_name="Testkymr", modality="car_t",
                   target="CD19", mah_organization_id=world.mah_a.id, created_at=NOW)
    msc = Product(code="MSC-1", inn="testmestrocel", trade_name="Testcel", modality="stem_cell",
                  mah_organization_id=world.mah_b.id, created_at=NOW)
    session.add_all([cart, msc])
    session.commit()
    return {"cart": cart, "msc": msc}


def register(client, actor, local_id="P-001", sex="female", birth_year=1970):
    r = client.post("/v1/patients", json={"local_id": local_id, "sex": sex, "birth_year": birth_year}, headers=actor.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


def treat(client, actor, patient_id, product_code="CART-1", infusion_date="2025-01-10", batch="LOT-1"):
    r = client.post("/v1/treatments", json={"patient_id": patient_id, "product_code": product_code,
                                            "batch_number": batch, "infusion_date": infusion_date}, headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()


def report_payload(patient_id, treatment_id, case_id="CASE-1", version=0, **overrides):
    payload = {
        "sender_case_id": case_id,
        "version": version,
        "received_date": "2025-02-01",
        "reporter": {"qualification": "physician", "country": "CN"},
        "patient": {"patient_id": patient_id},
        "drugs": [{"treatment_id": treatment_id, "role": "suspect"}],
        "reactions": [{
            "pt_code": "LOCAL-0001", "pt_name": "Cytokine release syndrome", "onset_date": "2025-01-12",
            "seriousness": {"hospitalisation": True}, "outcome": "recovered", "grade": 2, "grade_scale": "astct",
            "causality": "related",
        }],
        "narrative": "CRS grade 2 on day 2, resolved with tocilizumab.",
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def treated(client, world, products):
    """One patient of clinic A treated with CART-1."""
    patient = register(client, world.clinic)
    treatment = treat(client, world.clinic, patient["id"])
    return patient, treatment

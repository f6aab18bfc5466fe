"""The shipped product registry (products.csv) is representable by the API that serves it."""
from __future__ import annotations

from pv_service.products.seed import read_products_csv, seed_products
from tests.conftest import NOW


def test_every_seeded_product_is_served_to_every_role(client, world, session):
    seed_products(session, NOW)
    session.commit()
    expected = {r.code: r for r in read_products_csv()}
    for actor in (world.admin, world.safety, world.clinic, world.mah):
        r = client.get("/v1/products", params={"limit": 100}, headers=actor.headers)
        assert r.status_code == 200, r.text
        served = {p["code"]: p for p in r.json()["items"]}
        assert set(served) == set(expected)
        for code, row in expected.items():
            [approval] = served[code]["approvals"]
            assert (approval["jurisdiction"], approval["approval_date"], approval["approval_type"],
                    approval["indication"], approval["source"]) == (
                row.jurisdiction, row.approval_date.isoformat(), row.approval_type, row.indication, row.source)
            assert (served[code]["modality"], served[code]["target"]) == (row.modality, row.target)
            one = client.get(f"/v1/products/{served[code]['id']}", headers=actor.headers)
            assert one.status_code == 200 and one.json() == served[code]


def test_admin_sets_every_registry_approval_type(client, world, session):
    [product, *_] = seed_products(session, NOW)
    session.commit()
    detail = client.get(f"/v1/products/{product.id}", headers=world.admin.headers).json()
    approval_id = detail["approvals"][0]["id"]
    for value in sorted({r.approval_type for r in read_products_csv()}):
        r = client.patch(f"/v1/products/{product.id}/approvals/{approval_id}", json={"approval_type": value},
                         headers=world.admin.headers)
        assert r.status_code == 200 and r.json()["approval_type"] == value, r.text
    r = client.patch(f"/v1/products/{product.id}/approvals/{approval_id}", json={"approval_type": "provisional"},
                     headers=world.admin.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "approval_type"]

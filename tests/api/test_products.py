"""Product registry: admin writes, everyone reads; approval type is an admin's call."""
from __future__ import annotations


def product_body(world, **kw):
    body = {"code": "NEW-1", "inn": "newcabtagene autoleucel", "trade_name": "Newkymr", "modality": "car_t",
            "target": "BCMA", "mah_organization_id": world.mah_a.id,
            "approvals": [{"jurisdiction": "NMPA", "approval_date": "2024-03-01", "approval_type": "unverified",
                           "indication": "r/r multiple myeloma"}]}
    body.update(kw)
    return body


def test_admin_creates_product_and_sets_approval_type(client, world):
    r = client.post("/v1/products", json=product_body(world), headers=world.admin.headers)
    assert r.status_code == 201, r.text
    product = r.json()
    approval = product["approvals"][0]
    assert approval["approval_type"] == "unverified"
    r = client.patch(f"/v1/products/{product['id']}/approvals/{approval['id']}", json={"approval_type": "conditional"},
                     headers=world.admin.headers)
    assert r.status_code == 200 and r.json()["approval_type"] == "conditional"
    r = client.post(f"/v1/products/{product['id']}/obligations",
                    json={"jurisdiction": "NMPA", "description": "Confirmatory phase 3", "due_date": "2028-03-01"},
                    headers=world.admin.headers)
    assert r.status_code == 201
    got = client.get(f"/v1/products/{product['id']}", headers=world.clinic.headers).json()
    assert got["approvals"][0]["approval_type"] == "conditional"
    assert got["obligations"][0]["due_date"] == "2028-03-01"
    r = client.patch(f"/v1/products/{product['id']}", json={"followup_plan": "car_t_lifelong"}, headers=world.admin.headers)
    assert r.json()["followup_plan"] == "car_t_lifelong"


def test_product_writes_need_admin_and_valid_input(client, world):
    assert client.post("/v1/products", json=product_body(world), headers=world.mah.headers).status_code == 403
    r = client.post("/v1/products", json=product_body(world, mah_organization_id=world.clinic_a.id), headers=world.admin.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "mah_organization_id"]
    r = client.post("/v1/products", json=product_body(world, modality="magic"), headers=world.admin.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "modality"]
    assert client.post("/v1/products", json=product_body(world), headers=world.admin.headers).status_code == 201
    assert client.post("/v1/products", json=product_body(world), headers=world.admin.headers).status_code == 409
    assert client.get("/v1/products/9999", headers=world.clinic.headers).status_code == 404
    assert client.patch("/v1/products/9999/approvals/1", json={}, headers=world.admin.headers).status_code == 404


def test_product_list_filters(client, world, products):
    h = world.clinic.headers
    assert [p["code"] for p in client.get("/v1/products", params={"modality": "stem_cell"}, headers=h).json()["items"]] == ["MSC-1"]
    assert [p["code"] for p in client.get("/v1/products", params={"mah_organization_id": world.mah_a.id}, headers=h).json()["items"]] == ["CART-1"]
    assert client.get("/v1/products", headers={}).status_code == 401

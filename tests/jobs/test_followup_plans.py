"""Products' follow-up plans: checked against the loaded rules, and products without a
usable plan (none for the modality, or a plan since removed from the rules) never break
the follow-up job, the compliance API, the exports or the compliance page of the others."""
from __future__ import annotations

import io
import zipfile

import pytest

from pv_service.jobs.definitions import JOBS
from pv_service.jobs.runner import run_job
from pv_service.products.models import Product
from tests.api.conftest import register, treat
from tests.conftest import NOW
from tests.web.helpers import signed_in

KNOWN = ["car_t_lifelong", "gene_therapy_15y", "stem_cell_5y"]


def test_unknown_plan_names_are_refused_with_the_known_ones(client, world, products):
    pid = products["cart"].id
    r = client.patch(f"/v1/products/{pid}", json={"followup_plan": "car_t_forever"}, headers=world.admin.headers)
    assert r.status_code == 422, r.text
    problem = r.json()["detail"][0]
    assert problem["loc"] == ["body", "followup_plan"]
    assert all(name in problem["msg"] for name in KNOWN)
    body = {"code": "NEW-1", "inn": "x", "trade_name": "X", "modality": "car_t",
            "mah_organization_id": world.mah_a.id, "followup_plan": "nan"}
    r = client.post("/v1/products", json=body, headers=world.admin.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "followup_plan"]
    # A known plan is taken, and null goes back to the modality's default.
    r = client.patch(f"/v1/products/{pid}", json={"followup_plan": "car_t_lifelong"}, headers=world.admin.headers)
    assert r.status_code == 200 and r.json()["followup_plan"] == "car_t_lifelong"
    r = client.patch(f"/v1/products/{pid}", json={"followup_plan": None}, headers=world.admin.headers)
    assert r.status_code == 200 and r.json()["followup_plan"] is None


@pytest.fixture
def mixed(client, session, world, products):
    """CART-1 with an explicit plan, MSC-1 on its modality's default, OTHER-1 with no plan at
    all (modality other) and GONE-1 with a plan no longer in the rules; a patient on each."""
    r = client.patch(f"/v1/products/{products['cart'].id}", json={"followup_plan": "car_t_lifelong"},
                     headers=world.admin.headers)
    assert r.status_code == 200, r.text
    other = Product(code="OTHER-1", inn="otherleucel", trade_name="Other", modality="other",
                    mah_organization_id=world.mah_a.id, created_at=NOW)
    gone = Product(code="GONE-1", inn="goneleucel", trade_name="Gone", modality="car_t",
                   followup_plan="retired_plan", mah_organization_id=world.mah_a.id, created_at=NOW)
    session.add_all([other, gone])
    session.commit()
    treatments = {}
    for code, day in (("CART-1", "2026-10-20"), ("MSC-1", "2026-10-25"), ("OTHER-1", "2026-10-20"),
                      ("GONE-1", "2026-10-20")):
        p = register(client, world.clinic, f"P-{code}")
        treatments[code] = treat(client, world.clinic, p["id"], code, day)
    return {"other": other, "gone": gone, **products, "treatments": treatments}


def test_followup_job_alerts_the_planned_products_and_flags_the_others(client, session, db, world, mixed):
    result = run_job(db, JOBS["followup-compliance"], lambda: NOW, trigger="manual")
    assert result.outcome == "succeeded", result.error
    from sqlmodel import select

    from pv_service.alerting.models import Alert

    keys = {a.key: a for a in session.exec(select(Alert).where(Alert.type == "followup"))}
    t = mixed["treatments"]
    clinic = world.clinic_a.id
    # CART-1 (D28 due 11-17, window to 11-24) and MSC-1 (M1 due 11-25, window open) are alerted as usual,
    # one item per clinic and product.
    listed = {k: {tid for p in a.detail.get("patients", []) for tid in p["treatment_ids"]} for k, a in keys.items()}
    assert t["CART-1"]["id"] in listed[f"followup:clinic:{clinic}:{mixed['cart'].id}"]
    assert t["MSC-1"]["id"] in listed[f"followup:clinic:{clinic}:{mixed['msc'].id}"]
    # The two products without a usable plan get one alert each naming the reason; their
    # treatments get no timepoint alerts.
    for code, reason in (("OTHER-1", "no follow-up plan"), ("GONE-1", "retired_plan")):
        product = mixed[code.split('-')[0].lower()]
        alert = keys[f"followup:plan:{product.id}"]
        assert reason in alert.title and code in alert.title
        assert f"followup:clinic:{clinic}:{product.id}" not in keys


def test_compliance_api_and_page_answer_for_every_product(client, session, world, mixed):
    r = client.get("/v1/compliance/patients", headers=world.safety.headers)
    assert r.status_code == 200, r.text
    items = {x["products"][0]: x for x in r.json()["items"]}
    assert set(items) == {"CART-1", "MSC-1", "OTHER-1", "GONE-1"}
    assert items["OTHER-1"]["timepoints"] == {} and items["OTHER-1"]["next_timepoint"] is None
    assert items["CART-1"]["next_timepoint"] == "D28"
    for code in ("cart", "msc", "other", "gone"):
        r = client.get(f"/v1/compliance/products/{mixed[code].id}", headers=world.safety.headers)
        assert r.status_code == 200, r.text
    cart = client.get(f"/v1/compliance/products/{mixed['cart'].id}", headers=world.safety.headers).json()
    assert cart["followup_plan"] == "car_t_lifelong" and cart["plan_problem"] is None
    assert cart["timepoints"]["window_open"] == 1
    gone = client.get(f"/v1/compliance/products/{mixed['gone'].id}", headers=world.safety.headers).json()
    assert gone["followup_plan"] is None and "retired_plan" in gone["plan_problem"]
    assert gone["patients"]["active"] == 1 and sum(gone["timepoints"].values()) == 0

    signed_in(client, session, world.safety.user)
    page = client.get("/ui/compliance")
    assert page.status_code == 200
    assert "retired_plan" in page.text and "no follow-up plan" in page.text


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx", "pdf"])
def test_exports_report_a_product_without_a_usable_plan_and_the_others_in_full(client, world, mixed, fmt):
    r = client.get("/v1/exports/compliance", params={"format": fmt}, headers=world.safety.headers)
    assert r.status_code == 200, r.text
    if fmt == "json":
        products = {p["product"]: p for p in r.json()["products"]}
        assert set(products) == {"CART-1", "MSC-1", "OTHER-1", "GONE-1"}
        assert products["CART-1"]["followup_plan"] == "car_t_lifelong"
        assert products["CART-1"]["key_figures"]["followup"]["patients_active"] == 1
        assert products["CART-1"]["tables"]["timepoints"]  # the others' figures are whole
        gone, other = products["GONE-1"], products["OTHER-1"]
        assert gone["followup_plan"].startswith("none: unknown follow-up plan 'retired_plan'")
        assert other["followup_plan"].startswith("none: no follow-up plan")
        assert gone["key_figures"]["followup"]["patients_active"] == 1 and gone["tables"]["timepoints"] == []
    if fmt == "csv":
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            products_csv = z.read(next(n for n in z.namelist() if "products" in n)).decode()
        assert "retired_plan" in products_csv and "car_t_lifelong" in products_csv
    one = client.get("/v1/exports/compliance", params={"format": fmt, "product": "GONE-1"},
                     headers=world.safety.headers)
    assert one.status_code == 200, one.text


def test_one_product_with_an_explicit_plan_leaves_the_unset_ones_on_their_default(client, session, db, world,
                                                                                  products):
    # The reported defect: after one PATCH, every product's unset plan read back as NaN (a
    # "plan name"), and the job, the compliance API, the exports and the page answered 500.
    r = client.patch(f"/v1/products/{products['cart'].id}", json={"followup_plan": "car_t_lifelong"},
                     headers=world.admin.headers)
    assert r.status_code == 200, r.text
    p = register(client, world.clinic, "P-MSC")
    t = treat(client, world.clinic, p["id"], "MSC-1", "2026-10-25")
    result = run_job(db, JOBS["followup-compliance"], lambda: NOW, trigger="manual")
    assert result.outcome == "succeeded", result.error
    assert result.counts["timepoints_alerted"] == 1 and result.counts["products_without_plan"] == 0
    summary = client.get(f"/v1/compliance/products/{products['msc'].id}", headers=world.safety.headers)
    assert summary.status_code == 200 and summary.json()["followup_plan"] == "stem_cell_5y"
    assert client.get("/v1/compliance/patients", headers=world.safety.headers).json()["items"][0]["next_timepoint"] == "M1"
    export = client.get("/v1/exports/compliance", params={"product": "MSC-1"}, headers=world.safety.headers)
    assert export.status_code == 200 and export.json()["products"][0]["followup_plan"] == "stem_cell_5y"
    signed_in(client, session, world.safety.user)
    assert client.get("/ui/compliance").status_code == 200
    assert t["id"]

"""Every date the API takes is bounded (pv_service.common.types.ApiDate), and no date
arithmetic on an accepted date can loop or overflow."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from pydantic import TypeAdapter, ValidationError

from pv_service.app import create_app
from pv_service.common.types import MAX_DATE, MIN_DATE, ApiDate
from pv_service.exports.summary import PeriodError, default_start, resolve_period
from tests.api.conftest import register, report_payload, treat
from tests.conftest import NOW


def _request_schemas(spec: dict):
    """(where, schema node) of every parameter and request body, following $refs."""
    components = spec.get("components", {}).get("schemas", {})
    seen: set[str] = set()

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    seen.add(name)
                    yield from walk(components[name], f"{where} -> {name}")
                return
            yield where, node
            for key, value in node.items():
                yield from walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{where}[{i}]")

    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for p in op.get("parameters", []):
                yield from walk(p.get("schema", {}), f"{method.upper()} {path} {p['in']}.{p['name']}")
            for media in op.get("requestBody", {}).get("content", {}).values():
                seen.clear()
                yield from walk(media.get("schema", {}), f"{method.upper()} {path} body")


def test_every_date_the_api_takes_is_bounded():
    spec = create_app(clock=lambda: NOW).openapi()
    dates = [(where, node) for where, node in _request_schemas(spec) if node.get("format") in ("date", "date-time")]
    assert len(dates) > 15  # the walk reaches bodies and nested models, not only query parameters
    unbounded = [where for where, node in dates
                 if (node.get("formatMinimum"), node.get("formatMaximum")) != (MIN_DATE.isoformat(), MAX_DATE.isoformat())]
    assert unbounded == [], "dates without the shared bounds (use pv_service.common.types.ApiDate)"


def _returns_within(fn, seconds=5.0):
    """Run fn in a thread; fail (rather than hang the suite) when it does not return in time."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"did not return within {seconds} s"
    return out


def test_default_period_start_never_loops():
    assert default_start(dt.date(2026, 11, 23)) == dt.date(2025, 11, 24)
    assert default_start(dt.date(2024, 2, 29)) == dt.date(2023, 3, 1)
    assert default_start(dt.date(2025, 3, 31)) == dt.date(2024, 4, 1)
    out = _returns_within(lambda: default_start(dt.date(1, 6, 15)))
    assert isinstance(out.get("error"), PeriodError) and out["error"].field == "end"
    out = _returns_within(lambda: resolve_period(dt.date(1, 1, 1), None, None))
    assert isinstance(out.get("error"), PeriodError)


@pytest.mark.parametrize("params, field", [
    ({"as_of": "0001-01-01"}, "as_of"), ({"end": "0001-01-01"}, "end"), ({"start": "0001-01-01"}, "start"),
    ({"as_of": "1899-12-31"}, "as_of"), ({"start": "9999-12-31"}, "start"), ({"end": "2101-01-01"}, "end"),
])
def test_export_dates_out_of_range_are_a_422_naming_the_field(client, world, products, params, field):
    out = _returns_within(lambda: client.get("/v1/exports/compliance", params=params, headers=world.mah.headers))
    r = out["value"]
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", field]
    assert "1900-01-01" in r.text or "2100-12-31" in r.text


def test_dates_in_bodies_and_queries_are_bounded(client, world, products):
    h = world.clinic.headers
    patient = register(client, world.clinic)
    r = client.post("/v1/treatments", json={"patient_id": patient["id"], "product_code": "CART-1",
                                            "batch_number": "L", "infusion_date": "0001-01-01"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "infusion_date"]
    t = treat(client, world.clinic, patient["id"])
    r = client.post("/v1/followup-contacts", json={"treatment_id": t["id"], "contact_date": "1000-01-01"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "contact_date"]
    payload = report_payload(patient["id"], t["id"])
    payload["reactions"][0]["onset_date"] = "0001-01-01"
    r = client.post("/v1/reports", json=payload, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reactions", 0, "onset_date"]
    r = client.post("/v1/reports/batch", json={"reports": [report_payload(patient["id"], t["id"],
                                                                         received_date="0001-01-01")]}, headers=h)
    assert r.status_code == 200 and r.json()["results"][0]["errors"][0]["loc"] == ["body", "reports", 0, "received_date"]
    for path, param in (("/v1/followup-contacts", "date_from"), ("/v1/treatments", "infused_to"),
                        ("/v1/reports", "received_from")):
        r = client.get(path, params={param: "0001-01-01"}, headers=h)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", param], (path, r.text)
    r = client.post(f"/v1/products/{products['cart'].id}/approvals",
                    json={"jurisdiction": "EU", "approval_date": "0001-01-01", "approval_type": "full",
                          "indication": "x"}, headers=world.admin.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "approval_date"]
    r = client.get(f"/v1/compliance/products/{products['cart'].id}", params={"as_of": "0001-01-01"},
                   headers=world.safety.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "as_of"]
    r = client.post("/v1/jobs/followup-compliance/run", params={"as_of": "0001-01-01"}, headers=world.admin.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "as_of"]


def test_the_ends_of_the_range_are_dates_and_one_day_beyond_is_not():
    adapter = TypeAdapter(ApiDate)
    assert adapter.validate_python(MIN_DATE) == MIN_DATE and adapter.validate_python("2100-12-31") == MAX_DATE
    for outside in (MIN_DATE - dt.timedelta(days=1), MAX_DATE + dt.timedelta(days=1), dt.date.min, dt.date.max):
        with pytest.raises(ValidationError):
            adapter.validate_python(outside)

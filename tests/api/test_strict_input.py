"""What no request may carry, refused the same way on every database with a 422 naming the
field: NaN / Infinity as JSON numbers, lone surrogates and NUL characters in strings (of
JSON and form bodies and query strings), and cursors that are not ours."""
from __future__ import annotations

import base64
import json

import pytest

from pv_service.common.strict_input import body_problems, query_problems
from tests.api.conftest import register, report_payload, treat


def _raw(client, method, url, text, headers):
    return client.request(method, url, content=text.encode("utf-8", "surrogatepass"),
                          headers=headers | {"content-type": "application/json"})


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_json_numbers_are_refused_naming_the_field(client, world, treated, number):
    patient, treatment = treated
    h = world.clinic.headers
    r = _raw(client, "POST", "/v1/patients", f'{{"local_id": "P-9", "sex": "male", "birth_year": {number}}}', h)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "birth_year"] and "finite" in r.json()["detail"][0]["msg"]
    body = json.dumps({"treatment_id": treatment["id"], "contact_date": "2025-02-07",
                       "assessments": {"blood_counts": {"anc_10e9_l": 0}}}).replace('"anc_10e9_l": 0', f'"anc_10e9_l": {number}')
    r = _raw(client, "POST", "/v1/followup-contacts", body, h)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "assessments", "blood_counts", "anc_10e9_l"]
    report = json.dumps(report_payload(patient["id"], treatment["id"])).replace('"grade": 2', f'"grade": {number}')
    r = _raw(client, "POST", "/v1/reports/batch", '{"reports": [' + report + "]}", h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reports", 0, "reactions", 0, "grade"]


@pytest.mark.parametrize("bad, what", [("\\ud800", "surrogate"), ("x\\udfffy", "surrogate"), ("a\\u0000b", "NUL"),
                                       ("a\\u0001b", "control character \\u0001"),
                                       ("\\u001f", "control character \\u001f"), ("\\uFFFE", "noncharacter \\ufffe")])
def test_lone_surrogates_and_nul_in_json_strings_are_refused_on_every_database(client, world, products, bad, what):
    h = world.admin.headers
    r = _raw(client, "PATCH", f"/v1/products/{products['cart'].id}", f'{{"trade_name": "T{bad}"}}', h)
    assert r.status_code == 422, r.text
    problem = r.json()["detail"][0]
    assert problem["loc"] == ["body", "trade_name"] and what in problem["msg"]
    assert "input" not in problem  # the refused value is not echoed
    # In a key too, and nothing was stored.
    r = _raw(client, "PATCH", f"/v1/products/{products['cart'].id}", f'{{"trade{bad}": "T"}}', h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "body"
    assert client.get(f"/v1/products/{products['cart'].id}", headers=h).json()["trade_name"] == "Testkymr"


def test_a_valid_surrogate_pair_and_other_unicode_pass(client, world, products):
    r = _raw(client, "PATCH", f"/v1/products/{products['cart'].id}", '{"trade_name": "T\\ud83d\\ude00 \\u00e9"}',
             world.admin.headers)
    assert r.status_code == 200 and r.json()["trade_name"] == "T\U0001F600 \u00e9"


def test_tab_line_feed_and_carriage_return_are_text(client, world, products):
    r = _raw(client, "PATCH", f"/v1/products/{products['cart'].id}", '{"trade_name": "T\\tx\\r\\ny"}',
             world.admin.headers)
    assert r.status_code == 200 and r.json()["trade_name"] == "T\tx\r\ny"


def test_a_control_character_is_refused_in_fhir_json_and_query_strings(client, world, products):
    """A control character stored once made every XML read of the case a 500 (no XML 1.0 document can
    hold one) and left E2B export's case id silently changed: refused at the door, also for FHIR."""
    r = client.post("/fhir", content=b'{"resourceType": "Bundle", "id": "a\\u0001b"}',
                    headers=world.clinic.headers | {"content-type": "application/fhir+json", "accept": "application/fhir+xml"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/fhir+json"), r.text
    assert r.json()["resourceType"] == "OperationOutcome" and "\\u0001" in r.text
    r = client.get("/v1/products?code=CART%01", headers=world.clinic.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "code"], r.text


def test_nul_in_query_strings_and_forms_is_refused_naming_the_parameter(client, world, products):
    r = client.get("/v1/products", params={"code": "CART\x00-1"}, headers=world.clinic.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "code"], r.text
    r = client.get("/v1/patients?local_id=%00", headers=world.clinic.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "local_id"], r.text
    r = client.post("/ui/login", data={"username": "safety\x00", "password": "x", "next": "/ui", "login_csrf": "x"},
                    follow_redirects=False)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"], r.text


def _cursor(obj_text: str) -> str:
    return base64.urlsafe_b64encode(obj_text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    _cursor("[" * 5000 + "]" * 5000),
    _cursor('{"after": ' + "[" * 3000 + "1" + "]" * 3000 + "}"),
    _cursor('{"after": 1000000000000000000000000000000}'),
    _cursor('{"after": 9223372036854775808}'),
    _cursor('{"after": -5}'),
    _cursor('{"offset": 1000000000000000000000000000000}'),
    "A" * 5000,
])
def test_cursors_that_are_not_ours_are_a_422(client, world, products, cursor):
    register(client, world.clinic, "P-1")
    for path, who in (("/v1/patients", world.clinic), ("/v1/products", world.clinic),
                      ("/v1/compliance/patients", world.safety)):
        r = client.get(path, params={"cursor": cursor}, headers=who.headers)
        assert r.status_code == 422, (path, r.text[:300])
        assert r.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_deeply_nested_json_bodies_are_a_422(client, world, products):
    r = _raw(client, "PATCH", f"/v1/products/{products['cart'].id}", '{"trade_name": ' + "[" * 100000 + "]" * 100000 + "}",
             world.admin.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"], r.text[:300]


def test_the_checks_as_pure_functions():
    assert body_problems(b'{"a": [1, 2.5, "x", {"b": null}]}', "application/json") == []
    assert body_problems(b'{"a": "\\\\u0000"}', "application/json") == []  # an escaped backslash, then text
    [p] = body_problems(b'{"a": [1, {"b": NaN}]}', "application/json")
    assert p.loc == ("body", "a", 1, "b")
    assert body_problems(b"not json", "application/json") == []  # left to the framework's own 422
    assert body_problems(b"a=1&b=%00", "application/x-www-form-urlencoded")[0].loc == ("body", "b")
    assert body_problems(b"\x00\x01", "application/octet-stream") == []
    assert query_problems(b"a=1&b=2") == [] and query_problems(b"a=%2500") == []
    assert query_problems(b"x%00y=1")[0].loc == ("query", "x\x00y".replace("\x00", "\\x00"))


def test_intake_still_takes_an_ordinary_batch(client, world, treated):
    patient, treatment = treated
    r = client.post("/v1/reports/batch", json={"reports": [report_payload(patient["id"], treatment["id"])]},
                    headers=world.clinic.headers)
    assert r.status_code == 200 and r.json()["created"] == 1
    t2 = treat(client, world.clinic, patient["id"], infusion_date="2025-03-01", batch="LOT-2")
    assert t2["id"]

"""The clinic's own patient identifier is never logged nor echoed (issue 11, PRIMER section 7)."""
from __future__ import annotations

import logging
import socket
import threading
import time

import urllib.parse
import urllib.request
import pytest
import uvicorn

from pv_service.app import create_app
from tests.api.conftest import register, report_payload
from tests.conftest import NOW

SECRET = "MRN-7731-SECRET"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_the_access_log_of_a_real_server_does_not_show_the_identifier(db, world, products):
    """uvicorn configured as `pv-service serve` configures it (its own logging config, access log on)."""
    port = _free_port()
    config = uvicorn.Config(lambda: create_app(clock=lambda: NOW, engine=db), factory=True, host="127.0.0.1",
                            port=port, log_level="info", access_log=True, lifespan="on")
    server = uvicorn.Server(config)
    capture = _Capture()
    capture.setFormatter(logging.getLogger("uvicorn.access").handlers[0].formatter)
    logging.getLogger("uvicorn.access").addHandler(capture)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        for url in (f"{base}/v1/patients?" + urllib.parse.urlencode({"local_id": SECRET, "limit": 5}),
                    f"{base}/v1/patients?product=CART-1&local_id={SECRET}%20x"):
            with urllib.request.urlopen(urllib.request.Request(url, headers=world.clinic.headers), timeout=10) as r:
                assert r.status == 200
    finally:
        server.should_exit = True
        thread.join(10)
        logging.getLogger("uvicorn.access").removeHandler(capture)
    assert len(capture.lines) == 2, capture.lines
    assert all(SECRET not in line and "local_id=" in line for line in capture.lines), capture.lines
    assert "limit=5" in capture.lines[0] and "product=CART-1" in capture.lines[1]


@pytest.mark.parametrize("request_", [
    ("post", "/v1/patients", {"local_id": SECRET, "sex": "other", "birth_year": 1970}),
    ("post", "/v1/patients", {"local_id": SECRET + "x" * 300, "sex": "male", "birth_year": 1970}),
    ("post", "/v1/patients", {"local_id": [SECRET], "sex": "male", "birth_year": 1970}),
    ("post", "/v1/patients", {"local_id": SECRET, "sex": "male", "birth_year": 1970, "note": SECRET}),
    ("get", "/v1/patients?limit=nine&local_id=" + SECRET, None),
    ("get", "/v1/patients?local_id=" + SECRET + "x" * 300, None),
    ("post", "/v1/patients/lookup", {"local_id": SECRET + "x" * 300}),
    ("post", "/v1/patients/lookup", {"local_id": SECRET, "extra": SECRET}),
])
def test_a_422_does_not_echo_the_identifier(client, world, products, request_):
    method, url, body = request_
    r = client.request(method, url, json=body, headers=world.clinic.headers)
    assert r.status_code == 422, r.text
    assert SECRET not in r.text
    assert all("input" not in e for e in r.json()["detail"])


def test_a_422_on_a_report_does_not_echo_the_identifier(client, world, treated):
    p, t = treated
    body = report_payload(p["id"], t["id"], patient={"local_id": SECRET, "patient_id": "x"})
    r = client.post("/v1/reports", json=body, headers=world.clinic.headers)
    assert r.status_code == 422 and SECRET not in r.text
    r = client.post("/v1/reports", json=report_payload(p["id"], t["id"], patient={"local_id": SECRET}),
                    headers=world.clinic.headers)
    assert r.status_code == 422 and SECRET not in r.text
    r = client.post("/v1/reports/batch", json={"reports": [body]}, headers=world.clinic.headers)
    assert r.status_code == 200 and SECRET not in r.text


def test_a_clinic_looks_its_patient_up_with_the_identifier_in_the_body(client, world, products):
    p = register(client, world.clinic, SECRET)
    r = client.post("/v1/patients/lookup", json={"local_id": SECRET}, headers=world.clinic.headers)
    assert r.status_code == 200 and r.json()["id"] == p["id"] and SECRET not in r.text
    r = client.post("/v1/patients/lookup", json={"local_id": SECRET}, headers=world.other_clinic.headers)
    assert r.status_code == 404
    r = client.post("/v1/patients/lookup", json={"local_id": SECRET}, headers=world.mah.headers)
    assert r.status_code == 403

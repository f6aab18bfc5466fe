"""Property-based API fuzzing from the OpenAPI schema: no input may produce a server error.

Each operation is called with generated (valid and invalid) parameters and bodies by the
role that may use it, so requests get past authorisation into the handlers.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from pv_service.app import create_app
from tests.conftest import NOW

ADMIN_WRITES = ("/v1/organizations", "/v1/users", "/v1/products", "/v1/jobs")
# The schema is read from an app built at import; each test points that app at its database.
APP = create_app(clock=lambda: NOW)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture
def fuzz_app(db, world, treated):
    APP.state.engine = db
    APP.state.principals.clear()
    yield APP


def actor_for(case, world):
    path, method = case.path, case.method.upper()
    if method != "GET" and path.startswith(ADMIN_WRITES) and "/milestones/" not in path:
        return world.admin
    if path.startswith(("/v1/alerts", "/v1/signals", "/v1/audit", "/v1/jobs")):
        return world.safety
    if "/milestones/" in path:
        return world.mah
    if method == "GET" and path.startswith("/v1/compliance/products"):
        return world.safety
    return world.clinic


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_produces_a_server_error(case, world, fuzz_app):
    response = case.call(headers=actor_for(case, world).headers)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"

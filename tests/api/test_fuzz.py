"""Property-based API fuzzing from the OpenAPI schema: no input may produce a server error.

Each operation is called with generated (valid and invalid) parameters and bodies by every
role (admin, safety officer, clinic, MAH) on both databases: the role that may use it gets
past authorisation into the handler, the others must be refused cleanly, never with a 5xx.
"""
from __future__ import annotations

import math

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from pv_service.alerting.models import Alert
from pv_service.app import create_app
from pv_service.signals.models import SignalPair, SignalRun
from tests.conftest import NOW

# The schema is read from an app built at import; each test points that app at its database.
APP = create_app(clock=lambda: NOW)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture
def signal_rows(session, products):
    """A stored run whose pair has infinite measures (a zero cell) and its alert, so reads find rows."""
    run = SignalRun(started_at=NOW, finished_at=NOW, as_of=NOW.date(), level="pt", n_reports=3, n_pairs=1,
                    hyperparameters={"converged": False, "log_likelihood": -math.inf})
    session.add(run)
    session.flush()
    inf = math.inf
    session.add(SignalPair(run_id=run.id, product="CART-1", event="Rash", n=3, n_product=3, n_event=3, n_total=9,
                           expected=1.0, prr=inf, prr_lower=1.5, prr_upper=inf, chi2=4.2, ror=inf, ror_upper=inf))
    session.add(Alert(key="signal:pt:CART-1:Rash", type="signal", status="new", severity="high", title="Rash after CART-1",
                      subject_type="pair", product_id=products["cart"].id, first_raised_at=NOW, last_seen_at=NOW,
                      detail={"product": "CART-1", "event": "Rash", "n": 3, "run_id": run.id,
                              "measures": {"prr": inf, "ror": inf, "ror_lower": 1.2}}))
    session.commit()


@pytest.fixture
def fuzz_app(db, world, treated, signal_rows):
    APP.state.engine = db
    APP.state.principals.clear()
    yield APP


ROLES = ("admin", "safety", "clinic", "mah")  # World attributes of the four roles


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_produces_a_server_error(case, role, world, fuzz_app):
    # A request that never ends fails too; 30 s leaves room for a PDF export on a loaded CI machine.
    response = case.call(headers=getattr(world, role).headers, timeout=30)
    assert response.status_code < 500, (
        f"{role}: {case.method} {case.formatted_path} query={case.query} body={str(case.body)[:300]} "
        f"-> {response.status_code}: {response.text[:500]}")

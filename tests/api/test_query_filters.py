"""A filter value that names nothing is a 422 listing the values there are, not an empty answer that
reads as "none of these" (an alert status, a patient's follow-up status, a job or its outcome)."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("role,url,loc,valid", [
    ("safety", "/v1/alerts?status=bogus", ["query", "status", 0], "/v1/alerts?status=new"),
    ("safety", "/v1/compliance/patients?status=bogus", ["query", "status"], "/v1/compliance/patients?status=active"),
    ("admin", "/v1/jobs/runs?outcome=bogus", ["query", "outcome"], "/v1/jobs/runs?outcome=failed"),
    ("admin", "/v1/jobs/runs?job=bogus", ["query", "job"], "/v1/jobs/runs?job=signal-detection"),
])
def test_an_unknown_filter_value_is_a_422_naming_the_known_ones(client, world, role, url, loc, valid):
    headers = getattr(world, role).headers
    r = client.get(url, headers=headers)
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["loc"] == loc and "Input should be" in problem["msg"]
    assert client.get(valid, headers=headers).status_code == 200


@pytest.mark.parametrize("url,loc", [
    ("/v1/reports?received_from=2025-03-01&received_to=2025-01-01", "received_from"),
    ("/v1/treatments?infused_from=2025-03-01&infused_to=2025-01-01", "infused_from"),
    ("/v1/followup-contacts?date_from=2025-03-01&date_to=2025-01-01", "date_from"),
])
def test_a_range_whose_start_is_after_its_end_is_a_422(client, world, url, loc):
    r = client.get(url, headers=world.safety.headers)
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["loc"] == ["query", loc] and "is after" in problem["msg"]
    same_day = url.replace("2025-03-01", "2025-01-01")
    assert client.get(same_day, headers=world.safety.headers).status_code == 200

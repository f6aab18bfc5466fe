"""Non-finite numbers in stored JSON and in JSON answers: null plus a marker, on both databases."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from pv_service.alerting.models import Alert
from pv_service.common import finite
from pv_service.jobs.models import JobRun
from pv_service.signals.models import SignalRun
from tests.conftest import NOW

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5).filter(lambda k: k != finite.KEY),
                                                                inner, max_size=4),
    max_leaves=20,
)


def strict_json(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@given(json_values)
def test_marked_values_are_strict_json_and_restore_exactly(value):
    text = json.dumps(finite.mark(value), allow_nan=False)
    assert same(finite.restore(json.loads(text)), value)


def test_marker_names_the_key_and_the_kind():
    assert finite.mark({"prr": math.inf, "ror": -math.inf, "ic": np.float64("nan"), "n": 3, "x": [np.inf]}) == {
        "prr": None, "ror": None, "ic": None, "n": 3, "x": [{"non_finite": "Infinity"}],
        "non_finite": {"prr": "Infinity", "ror": "-Infinity", "ic": "NaN"}}


def test_every_json_column_holds_non_finite_numbers(session):
    evidence = {"measures": {"prr": math.inf, "ror_lower": 1.5, "ror": -math.inf}, "n": 3, "terms": ["a"]}
    run = SignalRun(started_at=NOW, as_of=NOW.date(), level="pt", params={"min": math.inf},
                    hyperparameters={"log_likelihood": -math.inf, "p": 0.5})
    job = JobRun(job="j", tick=NOW, trigger="manual", as_of=NOW.date(), started_at=NOW, outcome="succeeded",
                 counts={"ratio": math.inf, "raised": 1})
    alert = Alert(key="k", type="signal", status="new", severity="high", title="t", subject_type="pair",
                  detail=evidence, first_raised_at=NOW, last_seen_at=NOW)
    session.add_all([run, job, alert])
    session.commit()
    session.expire_all()
    assert session.get(Alert, alert.id).detail == evidence
    assert session.get(SignalRun, run.id).hyperparameters == {"log_likelihood": -math.inf, "p": 0.5}
    assert session.get(SignalRun, run.id).params == {"min": math.inf}
    assert session.get(JobRun, job.id).counts == {"ratio": math.inf, "raised": 1}
    # What the database holds is strict JSON, readable by any client of the database.
    raw = session.connection().execute(sa.text("SELECT detail FROM alert")).scalar_one()
    stored = strict_json(raw) if isinstance(raw, str) else raw
    assert stored["measures"] == {"prr": None, "ror_lower": 1.5, "ror": None,
                                  "non_finite": {"prr": "Infinity", "ror": "-Infinity"}}


def test_json_answers_name_non_finite_numbers(client, world, session):
    job = JobRun(job="j", tick=NOW, trigger="manual", as_of=NOW.date(), started_at=NOW, outcome="succeeded",
                 counts={"ratio": math.inf, "raised": 1})
    alert = Alert(key="k", type="signal", status="new", severity="high", title="t", subject_type="pair",
                  detail={"measures": {"prr": math.inf, "n": 2}}, first_raised_at=NOW, last_seen_at=NOW)
    run = SignalRun(started_at=NOW, as_of=NOW.date(), level="pt", hyperparameters={"log_likelihood": -math.inf})
    session.add_all([job, alert, run])
    session.commit()
    h = world.safety.headers
    got = strict_json(client.get(f"/v1/jobs/runs/{job.id}", headers=h).text)
    assert got["counts"] == {"ratio": None, "raised": 1, "non_finite": {"ratio": "Infinity"}}
    assert strict_json(client.get("/v1/jobs/runs", headers=h).text)["items"][0]["counts"] == got["counts"]
    got = strict_json(client.get(f"/v1/alerts/{alert.id}", headers=h).text)
    assert got["detail"]["measures"] == {"prr": None, "n": 2, "non_finite": {"prr": "Infinity"}}
    got = strict_json(client.get(f"/v1/signals/runs/{run.id}", headers=h).text)
    assert got["hyperparameters"] == {"log_likelihood": None, "non_finite": {"log_likelihood": "-Infinity"}}

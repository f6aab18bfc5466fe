"""The database path of the disproportionality engine: SQL counts over latest versions, stored runs, API."""
from __future__ import annotations

import math

import pytest

from pv_service.products.models import Product
from pv_service.signals.dataset import pair_counts
from pv_service.signals.runs import run_signals
from tests.conftest import NOW


@pytest.fixture
def cohort(client, session, world):
    """Six cases, counted by hand below.

    case  sex  products (role)              events (latest version)
    1     F    X                            CRS, CRS (repeated), Pyrexia
    2     F    X                            CRS
    3     M    Y                            CRS           (v0 said Pyrexia; v1 replaces it)
    4     M    Y                            Pyrexia
    5     M    Y, X (concomitant)           Pyrexia
    6     F    X, Y                         Rash
    """
    for code, mah in (("X", world.mah_a), ("Y", world.mah_b)):
        session.add(Product(code=code, inn=code.lower(), trade_name=code, modality="car_t",
                            mah_organization_id=mah.id, created_at=NOW))
    session.commit()
    h = world.clinic.headers

    def case(i, sex, drugs, events, version=0):
        p = client.post("/v1/patients", json={"local_id": f"S{i}", "sex": sex, "birth_year": 1960}, headers=h).json()
        tids = {}
        for code, _ in drugs:
            t = client.post("/v1/treatments", json={"patient_id": p["id"], "product_code": code, "batch_number": "B",
                                                    "infusion_date": "2025-01-01"}, headers=h).json()
            tids[code] = t["id"]
        return p, tids

    def report(i, p, tids, drugs, events, version=0):
        body = {"sender_case_id": f"C{i}", "version": version, "received_date": "2025-03-01",
                "reporter": {"qualification": "physician"}, "patient": {"patient_id": p["id"]},
                "drugs": [{"treatment_id": tids[c], "role": role} for c, role in drugs],
                "reactions": [{"pt_code": e, "pt_name": e} for e in events]}
        r = client.post("/v1/reports", json=body, headers=h)
        assert r.status_code == 201, r.text

    spec = [
        (1, "female", [("X", "suspect")], ["CRS", "CRS", "Pyrexia"]),
        (2, "female", [("X", "suspect")], ["CRS"]),
        (3, "male", [("Y", "suspect")], ["Pyrexia"]),
        (4, "male", [("Y", "suspect")], ["Pyrexia"]),
        (5, "male", [("Y", "suspect"), ("X", "concomitant")], ["Pyrexia"]),
        (6, "female", [("X", "suspect"), ("Y", "suspect")], ["Rash"]),
    ]
    for i, sex, drugs, events in spec:
        p, tids = case(i, sex, drugs, events)
        report(i, p, tids, drugs, events)
        if i == 3:
            report(i, p, tids, drugs, ["CRS"], version=1)


def test_database_counts_match_the_hand_count(session, cohort):
    frame = pair_counts(session).set_index(["product", "event"]).sort_index()
    # X: cases 1, 2, 6 (case 5 names X only as concomitant).  Y: cases 3, 4, 5, 6.
    # CRS: cases 1, 2, 3 (latest version of 3).  Pyrexia: 1, 4, 5.  Rash: 6.  Total 6.
    expected = {
        ("X", "CRS"): (2, 3, 3), ("X", "Pyrexia"): (1, 3, 3), ("X", "Rash"): (1, 3, 1),
        ("Y", "CRS"): (1, 4, 3), ("Y", "Pyrexia"): (2, 4, 3), ("Y", "Rash"): (1, 4, 1),
    }
    assert sorted(frame.index) == sorted(expected)
    for pair, (a, n_product, n_event) in expected.items():
        row = frame.loc[pair]
        assert (row["a"], row["n_product"], row["n_event"], row["n_total"]) == (a, n_product, n_event, 6), pair


def test_stratified_counts_by_sex(session, cohort):
    frame = pair_counts(session, strata=["sex"]).set_index(["product", "event", "sex"])
    # Women: cases 1, 2, 6 (X in all three; Y in 6).  Men: 3, 4, 5 (Y only).
    assert tuple(frame.loc[("X", "CRS", "female"), ["a", "n_product", "n_event", "n_total"]]) == (2, 3, 2, 3)
    assert tuple(frame.loc[("Y", "CRS", "male"), ["a", "n_product", "n_event", "n_total"]]) == (1, 3, 1, 3)


def test_group_level_counts_a_case_once_per_group(session, cohort):
    frame = pair_counts(session, groups={"Any fever or CRS": ["CRS", "Pyrexia"]}).set_index(["product", "event"])
    # Case 1 has CRS twice and Pyrexia: once.  X: cases 1, 2.  Y: 3, 4, 5.  Group: 1-5.
    assert tuple(frame.loc[("X", "Any fever or CRS"), ["a", "n_product", "n_event", "n_total"]]) == (2, 3, 5, 6)
    assert tuple(frame.loc[("Y", "Any fever or CRS"), ["a", "n_product", "n_event", "n_total"]]) == (3, 4, 5, 6)


def test_product_scope_restricts_the_background(session, cohort):
    frame = pair_counts(session, product_scope=["Y"])
    assert set(frame["product"]) == {"Y"} and set(frame["n_total"]) == {4}


def test_stored_run_has_the_formula_values(session, cohort):
    run = run_signals(session, NOW)
    session.commit()
    assert run.n_reports == 6 and run.n_pairs == 6
    from pv_service.signals.models import SignalPair
    from sqlmodel import select
    pair = session.exec(select(SignalPair).where(SignalPair.run_id == run.id, SignalPair.product == "X",
                                                 SignalPair.event == "CRS")).one()
    # a=2, b=1, c=1, d=2: PRR = (2/3)/(1/3) = 2; ROR = 2*2/(1*1) = 4; E = 3*3/6 = 1.5
    assert pair.expected == pytest.approx(1.5, rel=1e-12)
    assert pair.prr == pytest.approx(2.0, rel=1e-12)
    assert pair.ror == pytest.approx(4.0, rel=1e-12)
    assert pair.ic == pytest.approx(math.log2(2.5 / 2.0), rel=1e-12)


def test_runs_api_filters_sorts_and_scopes(client, session, world, cohort):
    first = run_signals(session, NOW)
    session.commit()
    second = run_signals(session, NOW)
    session.commit()
    s = world.safety.headers
    runs = client.get("/v1/signals/runs", headers=s).json()["items"]
    assert [r["id"] for r in runs] == [first.id, second.id]
    pairs = client.get(f"/v1/signals/runs/{first.id}/pairs", params={"sort": "ror", "descending": "true"}, headers=s).json()
    rors = [p["ror"] for p in pairs["items"] if p["ror"] is not None]
    assert rors == sorted(rors, reverse=True)
    only = client.get(f"/v1/signals/runs/{first.id}/pairs", params={"product": "Y", "min_n": 2}, headers=s).json()["items"]
    assert [(p["product"], p["event"], p["n"]) for p in only] == [("Y", "Pyrexia", 2)]
    page = client.get(f"/v1/signals/runs/{first.id}/pairs", params={"limit": 4}, headers=s).json()
    rest = client.get(f"/v1/signals/runs/{first.id}/pairs", params={"limit": 4, "cursor": page["next_cursor"]}, headers=s).json()
    assert len(page["items"]) == 4 and len(rest["items"]) == 2 and rest["next_cursor"] is None
    trend = client.get("/v1/signals/trend", params={"product": "X", "event": "CRS"}, headers=s).json()
    assert [t["run_id"] for t in trend] == [first.id, second.id]
    # An MAH sees its own product's pairs only; a clinic sees none.
    mah_pairs = client.get(f"/v1/signals/runs/{first.id}/pairs", headers=world.mah.headers).json()["items"]
    assert {p["product"] for p in mah_pairs} == {"X"}
    assert client.get("/v1/signals/runs", headers=world.clinic.headers).status_code == 403
    assert client.get(f"/v1/signals/runs/{first.id}/pairs", params={"sort": "bogus"}, headers=s).status_code == 422
    assert client.get("/v1/signals/runs/999/pairs", headers=s).status_code == 404


def test_infinite_measures_are_stored_sorted_and_named_on_both_databases(client, session, world, cohort):
    """Rash is reported only with X and Y together (case 6): no Rash without X, so PRR and ROR are infinite."""
    from pv_service.signals.models import MEASURE_COLUMNS, SignalPair
    from sqlmodel import select

    run = run_signals(session, NOW)
    session.commit()
    session.expire_all()
    rash = session.exec(select(SignalPair).where(SignalPair.run_id == run.id, SignalPair.product == "X",
                                                 SignalPair.event == "Rash")).one()
    assert rash.prr == math.inf and rash.ror == math.inf
    s = world.safety.headers
    for sort in MEASURE_COLUMNS:
        for descending in (True, False):
            r = client.get(f"/v1/signals/runs/{run.id}/pairs", params={"sort": sort, "descending": descending}, headers=s)
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            values = [math.inf if p.get("non_finite", {}).get(sort) == "Infinity" else p[sort] for p in items]
            known = [v for v in values if v is not None]
            assert values == known + [None] * (len(values) - len(known)), (sort, values)  # undefined last
            assert known == sorted(known, reverse=descending), (sort, descending, values)
    x_rash = next(p for p in client.get(f"/v1/signals/runs/{run.id}/pairs", params={"event": "Rash", "product": "X"},
                                        headers=s).json()["items"])
    assert x_rash["prr"] is None and x_rash["non_finite"]["prr"] == "Infinity"
    assert x_rash["non_finite"]["ror"] == "Infinity"


def test_runs_record_which_prior_they_used_and_why(client, session, world, cohort):
    """Six pairs are too few for the two-component fit: the fallback order, stored and served."""
    from pv_service.signals.mgps import Prior

    bare = run_signals(session, NOW)
    session.commit()
    h = bare.hyperparameters
    assert h["source"] in ("one_component", "none")
    assert "6 pair(s) are too few" in h["reason"] and "no fallback prior configured" in h["reason"]
    configured = Prior(2.0, 0.5, 5.0, 5.0, 0.1)
    fallback = run_signals(session, NOW, fallback_prior=configured, fallback_origin="alerts/signal_rules.yaml")
    reused = run_signals(session, NOW, prior_from=fallback)
    session.commit()
    assert fallback.hyperparameters["source"] == "configured"
    assert Prior.from_dict(fallback.hyperparameters) == configured
    assert reused.hyperparameters["source"] == "supplied"
    assert reused.hyperparameters["origin"] == f"run {fallback.id}" and reused.params["prior_from_run"] == fallback.id
    s = world.safety.headers
    served = client.get(f"/v1/signals/runs/{fallback.id}", headers=s).json()
    assert served["prior_source"] == "configured"
    assert served["prior_summary"].startswith("configured prior (alerts/signal_rules.yaml) (because 6 pair(s)")
    # the stored EB scores are that prior's posterior
    from pv_service.signals.mgps import posterior_scores
    from pv_service.signals.models import SignalPair
    from sqlmodel import select
    pair = session.exec(select(SignalPair).where(SignalPair.run_id == fallback.id, SignalPair.product == "X",
                                                 SignalPair.event == "CRS")).one()
    g, lo, hi = posterior_scores(configured, [2], [1.5])
    assert (pair.ebgm, pair.eb05, pair.eb95) == pytest.approx((g[0], lo[0], hi[0]), rel=1e-12)
    if h["source"] == "none":
        assert client.get(f"/v1/signals/runs/{bare.id}", headers=s).json()["prior_summary"].endswith("left empty")


def test_configured_prior_from_the_rules(session, cohort):
    from pv_service.rules.signal_rules import MgpsPrior
    from pv_service.signals.job import configured_prior
    from pv_service.signals.mgps import Prior

    base = run_signals(session, NOW, fallback_prior=Prior(2.0, 0.5, 5.0, 5.0, 0.1))
    session.commit()

    class Rules:  # only the field configured_prior reads
        mgps_prior = MgpsPrior(use="always", run=base.id)
    prior, origin, problem = configured_prior(session, Rules)
    assert prior == Prior(2.0, 0.5, 5.0, 5.0, 0.1) and origin.startswith(f"run {base.id}") and not problem
    Rules.mgps_prior = MgpsPrior(run=99999)
    assert configured_prior(session, Rules) == (None, None, "configured prior run 99999 does not exist")
    assert MgpsPrior(hyperparameters={"alpha1": 1, "beta1": 1, "alpha2": 2, "beta2": 2, "p": 2}).issues() == [
        (("hyperparameters",), "hyperparameters: 'p' must be in (0, 1]")]
    assert MgpsPrior().issues() == [((), "give exactly one of `hyperparameters` or `run`")]

"""GET /v1/analytics/products/{id}/incidence on the export's cohort, worked out by hand.

CART-1, as of 2026-11-23 (NOW), T-cell malignancies. Every patient is a woman born 1970.
  P1 2024-11-01, active                      -> as-of: 752 days, censored
  P2 2023-06-10, lost (last visit 2023-12-10), T-cell lymphoma onset 2026-04-20 in case C3
     (received 2026-05-05): the case is a contact, so the lost patient's time runs to 2026-05-05
     and holds the event: 1045 days (2023-06-10 .. 2025-06-10 = 731, .. 2026-04-10 = 304, + 10)
  P3 2025-03-01, died 2025-08-20             -> 172 days, death without the event: competing
  P4 2026-10-01, active                      -> 53 days
  P5 2025-06-01, withdrawn 2025-12-01        -> 183 days
  P6 2026-01-15, transferred 2026-05-01      -> 106 days
  P7 is MSC-1 only.
Events 1, days 2311, person-years 6.32717; rate 15.805 per 100 PY; Garwood 95% for one event
(0.0253, 5.5716) -> (0.400, 88.06) per 100 PY. All six are 52-56 years old throughout: background
45-59 women 0.903 per 100,000 -> E = 2311 / 365.25 x 0.903e-5 = 5.7135e-5.
"""
from __future__ import annotations

import pytest

T_CELL = "T-cell malignancies"


def _get(client, actor, product_id, **params):
    return client.get(f"/v1/analytics/products/{product_id}/incidence", params=params, headers=actor.headers)


def test_incidence_by_hand(client, world, cohort):
    cart = cohort["products"]["cart"]
    r = _get(client, world.safety, cart.id, event_group=T_CELL)
    assert r.status_code == 200, r.text
    g = r.json()["groups"][0]
    assert (g["event_group"], g["patients"], g["events"]) == (T_CELL, 6, 1)
    assert g["person_years"] == pytest.approx(2311 / 365.25, abs=1e-6)
    assert g["rate"] == pytest.approx(100 / (2311 / 365.25), abs=1e-4)
    assert g["rate_lower"] == pytest.approx(100 * 0.025318 / (2311 / 365.25), abs=1e-3)
    assert g["rate_upper"] == pytest.approx(100 * 5.571643 / (2311 / 365.25), abs=1e-3)
    e = 2311 / 365.25 * 0.903e-5
    assert g["sir"]["expected"] == pytest.approx(e, rel=1e-6)
    assert g["sir"]["sir"] == pytest.approx(1 / e, rel=1e-6)
    assert "SEER" in g["sir"]["background_source"]


def test_default_groups_are_the_modality_s_and_strata_add_up(client, world, cohort):
    cart = cohort["products"]["cart"]
    body = _get(client, world.safety, cart.id, by=["sex", "age_band"]).json()
    names = [g["event_group"] for g in body["groups"]]
    assert T_CELL in names and "Cytokine release syndrome" in names and "Tumour formation" not in names
    crs = next(g for g in body["groups"] if g["event_group"] == "Cytokine release syndrome")
    assert crs["events"] == 1  # P3's fatal CRS, onset 2025-08-15
    assert crs["strata"] and all(s["sex"] == "female" and s["age_band"] == "40-64" for s in crs["strata"])
    assert sum(s["person_years"] for s in crs["strata"]) == pytest.approx(crs["person_years"])


def test_infusion_period_filter_and_pt_codes(client, world, cohort):
    cart = cohort["products"]["cart"]
    g = _get(client, world.safety, cart.id, pt=["96000025"], infusion_from="2024-01-01").json()["groups"][0]
    assert (g["kind"], g["patients"], g["events"]) == ("pt_codes", 5, 0)  # P2 (infused 2023) is left out
    g = _get(client, world.safety, cart.id, pt=["96000025"]).json()["groups"][0]
    assert (g["patients"], g["events"]) == (6, 1)  # P2's T-cell lymphoma, by its code
    # The display name is the loaded (demo) dictionary's.
    assert (g["pt_codes"], g["pt_names"], g["problems"]) == (["96000025"], {"96000025": "T-cell lymphoma"}, [])


def test_pt_filter_takes_codes_not_names(client, world, cohort):
    cart = cohort["products"]["cart"]
    for bad in ("T-cell lymphoma", "9600002", "960000250"):
        r = _get(client, world.safety, cart.id, pt=[bad])
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "pt"], bad
        assert "8 digits" in r.json()["detail"][0]["msg"]


def test_roles_and_bad_input(client, world, cohort):
    cart, msc = cohort["products"]["cart"], cohort["products"]["msc"]
    assert _get(client, world.mah, cart.id).status_code == 200  # MAH A holds CART-1
    assert _get(client, world.other_mah, cart.id).status_code == 404  # MAH B: not its product
    assert _get(client, world.mah, msc.id).status_code == 404
    assert _get(client, world.mah, 999999).status_code == 404
    assert _get(client, world.clinic, cart.id).status_code == 403
    assert _get(client, world.admin, cart.id).status_code == 403
    r = _get(client, world.safety, cart.id, event_group="No such group")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "event_group"]
    r = _get(client, world.safety, cart.id, as_of="2030-01-01")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "as_of"]
    r = _get(client, world.safety, cart.id, infusion_from="2026-01-01", infusion_to="2025-01-01")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "infusion_from"]
    assert _get(client, world.safety, cart.id, by="colour").status_code == 422


def test_cumulative_incidence_and_time_to_onset(client, world, cohort):
    """CRS in CART-1: P3's fatal CRS at day 167 (2025-03-01 .. 2025-08-15) is the only event; no one died
    without CRS, so 1 - Kaplan-Meier applies: six at risk at day 0 (P4: 53 days, P6: 106 days are
    shorter), at day 167 the at-risk set is P1 (752), P2 (1060), P3 (167), P5 (183): F = 1/4 from then on.
    T-cell malignancies: P3 died (day 172) without one, a competing death, so Aalen-Johansen. At day
    172 P3, P5, P1, P2 are at risk: the all-cause survival drops to 3/4. At day 1045 (P2's event) only
    P2 is at risk: F = S(1045-) x 1/1 = 3/4 (1 - KM with the death censored would say 1)."""
    cart = cohort["products"]["cart"]
    r = client.get(f"/v1/analytics/products/{cart.id}/cumulative-incidence",
                   params={"event_group": ["Cytokine release syndrome", T_CELL]}, headers=world.safety.headers)
    assert r.status_code == 200, r.text
    crs, tcell = r.json()["groups"]
    assert crs["method"] == "kaplan_meier" and crs["events"] == 1
    assert crs["at_years"][0]["years"] == 1 and crs["at_years"][0]["estimate"] == pytest.approx(0.25)
    assert tcell["method"] == "aalen_johansen" and tcell["competing_deaths"] == 1
    assert tcell["curve"][-1]["estimate"] == pytest.approx(0.75)
    assert tcell["at_years"][3]["estimate"] is None  # 10 years: nobody followed that long
    r = client.get(f"/v1/analytics/products/{cart.id}/time-to-onset", params={"event_group": T_CELL},
                   headers=world.safety.headers)
    g = r.json()["groups"][0]
    assert g["cohort"]["median_days"] == 1045 and g["cases"]["median_days"] == 1045  # C3 names P2's infusion
    assert [p["n"] for p in g["cases"]["periods"]] == [0, 0, 1, 0]
    assert g["cohort"]["weibull"] is None  # one event: no shape


def test_sequential_and_lots_endpoints(client, world, cohort):
    cart = cohort["products"]["cart"]
    r = client.get(f"/v1/analytics/products/{cart.id}/sequential", headers=world.safety.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["event_group"] for c in body["current"]] == [T_CELL, "Acute myeloid leukaemia"]
    assert body["looks"] == []
    cur = body["current"][0]
    assert cur["observed"] == 1 and cur["min_events"] == 4 and not cur["signalled"]
    assert cur["expected"] == pytest.approx(2311 / 365.25 * 0.903e-5, rel=1e-6)
    r = client.get(f"/v1/analytics/products/{cart.id}/sequential", params={"event_group": "ICANS"},
                   headers=world.safety.headers)
    msg = r.json()["detail"][0]["msg"]
    assert r.status_code == 422 and "no background rate" in msg and "no occurrence in the untreated" in msg
    assert client.get(f"/v1/analytics/products/{cart.id}/sequential",
                      headers=world.other_mah.headers).status_code == 404

    r = client.get(f"/v1/analytics/products/{cart.id}/lots", params={"event_group": T_CELL},
                   headers=world.safety.headers)
    assert r.status_code == 200, r.text
    g = r.json()["groups"][0]
    assert g["by"] == "batch_number" and g["events"] == 1 and g["flagged"] == 0
    assert sum(lot["patients"] for lot in g["lots"]) == 6  # every treatment used LOT-1
    r = client.get(f"/v1/analytics/products/{cart.id}/lots", params={"by": "vector_lot"},
                   headers=world.safety.headers)
    assert r.status_code == 200 and all(g["lots"] == [] and g["patients_without_lot"] == 6
                                        for g in r.json()["groups"])


def test_incidence_across_products_and_classes(client, world, cohort):
    url = "/v1/analytics/incidence"
    r = client.get(url, params={"event_group": T_CELL}, headers=world.safety.headers)
    assert r.status_code == 200, r.text
    rows = {row["product"]: row for row in r.json()["groups"][0]["rows"]}
    assert set(rows) == {"CART-1", "MSC-1"}
    assert rows["CART-1"]["events"] == 1 and rows["CART-1"]["person_years"] == pytest.approx(2311 / 365.25)
    assert rows["CART-1"]["product_class"] == "car_t CD19" and rows["MSC-1"]["events"] == 0
    pooled = client.get(url, params={"event_group": T_CELL, "by": "product_class"}, headers=world.safety.headers)
    assert {row["product_class"] for row in pooled.json()["groups"][0]["rows"]} == {"car_t CD19", "stem_cell"}
    mine = client.get(url, params={"event_group": T_CELL}, headers=world.mah.headers).json()
    assert mine["products"] == ["CART-1"]  # MAH A: its own product only
    assert client.get(url, params={"event_group": T_CELL, "product": "MSC-1"},
                      headers=world.mah.headers).status_code == 404
    r = client.get(url, headers=world.safety.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "event_group"


def test_acute_myeloid_leukaemia_sir_against_the_registry_table(client, world, cohort):
    """No AML in the cohort. P2's time is no longer cut at the T-cell lymphoma onset (2026-04-20) but
    runs to the case's receipt (2026-05-05), 15 days more: 2326 days. Every woman is 52-56, in the
    table's 50-59 band: 3.9 per 100,000 (CDC, U.S. Cancer Statistics 2010-2014, Table 12)."""
    cart = cohort["products"]["cart"]
    g = _get(client, world.safety, cart.id, event_group="Acute myeloid leukaemia").json()["groups"][0]
    assert (g["patients"], g["events"]) == (6, 0)
    assert g["person_years"] == pytest.approx(2326 / 365.25, abs=1e-6)
    assert g["sir"]["expected"] == pytest.approx(2326 / 365.25 * 3.9e-5, rel=1e-6)
    assert g["sir"]["sir"] == 0 and "PMC6220819" in g["sir"]["background_source"]
    assert "sir_unavailable" not in g


def test_groups_without_a_background_say_why(client, world, cohort):
    cart = cohort["products"]["cart"]
    groups = {g["event_group"]: g for g in _get(client, world.safety, cart.id).json()["groups"]}
    crs = groups["Cytokine release syndrome"]
    assert crs["sir"] is None and "no occurrence in the untreated population" in crs["sir_unavailable"]
    movement = groups["Movement and neurocognitive disorders"]  # neither a rate nor a stated reason
    assert movement["sir"] is None
    assert movement["sir_unavailable"] == "no background rate in background_rates.yaml for this group"

"""Signals that know the label, on both databases (issue 16).

CART-1 (FDA-approved; its US PI lists CRS from 2024-01-01): 8 cases of CRS and 8 of PML, first received
two a quarter through 2025. MSC-1: 16 infusion reactions, one CRS and one PML. Both CART-1 pairs are
disproportionate (a=8 b=8 c=1 d=17: PRR (8/16)/(1/18) = 9, Yates chi-square 6.5, ROR 17 with lower
bound 1.8): the unlisted PML raises a signal alert, the listed CRS is marked listed and raises none.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from pv_service.alerting.models import Alert
from pv_service.products.models import ProductApproval
from pv_service.rsi.models import RsiTerm, RsiVersion
from pv_service.rules import load_rules
from pv_service.signals.job import _quarterly, case_rows, signal_detection
from pv_service.signals.models import SignalPair, SignalTrend
from tests.api.conftest import register, report_payload, treat
from tests.conftest import NOW

RULES = load_rules("alerts")
CRS, PML, IRR = "96000001", "96000014", "96000017"
DAYS = ["2025-01-15", "2025-02-15", "2025-04-15", "2025-05-15", "2025-07-15", "2025-08-15", "2025-10-15", "2025-11-15"]


def _report(client, world, key, product, pt, received, serious=True):
    p = register(client, world.clinic, f"P-{key}")
    t = treat(client, world.clinic, p["id"], product, "2024-12-01")
    body = report_payload(p["id"], t["id"], case_id=key, received_date=received)
    body["reactions"] = [{"pt_code": pt, "pt_name": f"term {pt}", "onset_date": "2024-12-05", "outcome": "recovered",
                          "seriousness": {"hospitalisation": True} if serious else {}}]
    r = client.post("/v1/reports", json=body, headers=world.clinic.headers)
    assert r.status_code == 201, r.text


@pytest.fixture
def reported(client, session, world, products):
    session.add(ProductApproval(product_id=products["cart"].id, jurisdiction="FDA", approval_date=dt.date(2024, 1, 1),
                                approval_type="full", indication="r/r LBCL"))
    session.commit()
    for i, day in enumerate(DAYS):
        _report(client, world, f"CRS-{i}", "CART-1", CRS, day)
        _report(client, world, f"PML-{i}", "CART-1", PML, day)
        _report(client, world, f"IRR-{i}", "MSC-1", IRR, day)
        _report(client, world, f"IRR2-{i}", "MSC-1", IRR, day)
    _report(client, world, "MSC-CRS", "MSC-1", CRS, "2025-03-01")
    _report(client, world, "MSC-PML", "MSC-1", PML, "2025-03-01")
    return products


def _label(session, products, *codes):
    v = RsiVersion(product_id=products["cart"].id, jurisdiction="FDA", document="US PI", version_label="test",
                   effective_from=dt.date(2024, 1, 1), source="test", created_at=NOW)
    session.add(v)
    session.flush()
    session.add_all([RsiTerm(rsi_version_id=v.id, kind="pt", code=c) for c in codes])
    session.commit()


def _signals(session):
    session.expire_all()
    return {a.key: a for a in session.exec(select(Alert).where(Alert.type == "signal"))}


def test_without_a_label_both_pairs_signal(session, reported):
    signal_detection(session, NOW, RULES)
    session.commit()
    alerts = _signals(session)
    assert {"signal:pt:CART-1:96000001", "signal:pt:CART-1:96000014"} <= set(alerts)
    assert alerts["signal:pt:CART-1:96000001"].detail["listed"] is None  # no label in force


def test_a_listed_event_raises_no_signal_an_unlisted_one_does(session, reported):
    _label(session, reported, CRS)
    result = signal_detection(session, NOW, RULES)
    session.commit()
    alerts = _signals(session)
    assert "signal:pt:CART-1:96000001" not in alerts
    pml = alerts["signal:pt:CART-1:96000014"]
    assert pml.detail["listed"] is False and pml.status == "new"
    assert result["listed_not_raised"] == 1 and result["data_lock_point"] == NOW.date().isoformat()
    pairs = {p.event: p for p in session.exec(select(SignalPair).where(SignalPair.product == "CART-1"))}
    assert (pairs[CRS].listed, pairs[PML].listed) == (True, False)
    assert pairs[CRS].n == 8 and pairs[CRS].prr == pytest.approx(9.0)


def test_an_unreviewed_alert_of_a_now_listed_event_closes_as_listed(session, reported):
    signal_detection(session, NOW, RULES)
    session.commit()
    _label(session, reported, CRS)
    result = signal_detection(session, NOW + dt.timedelta(days=1), RULES)
    session.commit()
    crs = _signals(session)["signal:pt:CART-1:96000001"]
    assert (crs.status, crs.resolution, crs.detail["listed"]) == ("closed", "listed_in_label", True)
    assert result["closed_as_listed"] == 1


def test_a_listed_event_reported_ever_more_disproportionately_still_signals(client, session, world, reported):
    """Ten more CRS cases in 2026 (2, 3, 3, 2 a quarter; nothing else changes, so b=8 c=1 d=17 stay):
    the cumulative ROR lower bound by quarter, exp(ln(17a/8) - 1.96 sqrt(1/a + 1/8 + 1 + 1/17)), is
    2.31 (a=10), 3.06 (13), 3.81 (16), 4.32 (18): it rose by more than 0.1 in each of the last three
    quarters and ends above 2, which the shipped rule (alerts/signal_rules.yaml) lets signal."""
    _label(session, reported, CRS)
    for i, day in enumerate(["2026-01-10", "2026-01-20", "2026-04-10", "2026-04-20", "2026-04-25",
                             "2026-07-10", "2026-07-15", "2026-07-20", "2026-10-10", "2026-10-20"]):
        _report(client, world, f"CRS-late-{i}", "CART-1", CRS, day)
    signal_detection(session, NOW, RULES)
    session.commit()
    trend = session.exec(select(SignalTrend).where(SignalTrend.product == "CART-1", SignalTrend.event == CRS)
                         .order_by(SignalTrend.quarter)).all()
    assert [t.quarter for t in trend][-4:] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert [round(t.ror_lower, 2) for t in trend][-4:] == [2.31, 3.06, 3.81, 4.32]
    crs = _signals(session)["signal:pt:CART-1:96000001"]
    assert crs.detail["listed"] is True
    assert "ror_lower rose in each of the last 3 quarters (1.81 -> 2.31 -> 3.06 -> 3.81 -> 4.32)" not in \
        crs.detail["criteria_met"]  # only the last 3 rises (4 values) are quoted
    assert "ror_lower rose in each of the last 3 quarters (2.31 -> 3.06 -> 3.81 -> 4.32)" in crs.detail["criteria_met"]


def test_quarterly_counts_from_the_database_match_the_cases(session, reported):
    """CART-1 / CRS by quarter of 2025: 2 cases a quarter; MSC-1 adds one CRS in Q1. Cumulative at Q4:
    a=8, n_product=16, n_event=9, n_total=34 (8 CRS + 8 PML + 16 + 2 MSC-1 cases)."""
    rows = case_rows(session, NOW.date())
    t = _quarterly(session, rows, [("CART-1", CRS)], dt.date(2025, 12, 31)).set_index("quarter")
    assert list(t.index) == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    assert list(t["interval_a"]) == [2, 2, 2, 2] and list(t["a"]) == [2, 4, 6, 8]
    assert list(t["interval_n_product"]) == [4, 4, 4, 4] and list(t["interval_n_total"]) == [10, 8, 8, 8]
    assert list(t["interval_n_event"]) == [3, 2, 2, 2] and list(t["interval_serious"]) == [2, 2, 2, 2]
    assert t.loc["2025-Q4", ["a", "n_product", "n_event", "n_total"]].tolist() == [8, 16, 9, 34]
    # Q1 alone: a=2 b=2 c=1 d=5 -> PRR (2/4)/(1/6) = 3
    assert t.loc["2025-Q1", "interval_prr"] == pytest.approx(3.0)

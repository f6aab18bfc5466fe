"""Issue 15: the same clinical case sent by a second sender under its own case id (with the noise real
duplicates carry) is found by the nightly job's linkage model, counted twice until a safety officer
confirms it, then once; its signal then falls below the rule. Both databases."""
from __future__ import annotations

import pytest
from sqlmodel import select

from pv_service.alerting.models import Alert
from pv_service.duplicates.job import duplicate_detection
from pv_service.duplicates.models import DuplicateCluster, DuplicatePair
from pv_service.signals.dataset import pair_counts
from pv_service.signals.job import signal_detection
from tests.conftest import NOW
from tests.duplicates.conftest import (  # noqa: F401
    CRS,
    NEUTROPENIA,
    RULES,
    products,
    register,
    send,
    treat,
)

KEY = "signal:pt:CART-1:LOCAL-0100"


def _n(session) -> int:
    pairs = pair_counts(session)
    hit = pairs[(pairs["product"] == "CART-1") & (pairs["event"] == "LOCAL-0100")]
    return int(hit["a"].iloc[0]) if len(hit) else 0


@pytest.fixture
def contrast(client, world, products):  # noqa: F811
    """Three CRS reports after CART-1; 40 CRS and one neutropenia after MSC-1 (other patients): three
    neutropenias after CART-1 then meet the PRR and ROR rules (a=3, b=3, c=1, d=40: PRR 20.5, Yates
    chi-square 9.7, ROR 40 with lower bound 3.1), two cannot (every rule needs n >= 3)."""
    for code, n, reaction in (("CART-1", 3, CRS), ("MSC-1", 40, CRS), ("MSC-1", 1, NEUTROPENIA)):
        for i in range(n):
            p = register(client, world.clinic, f"BG-{code}-{reaction['pt_code']}-{i}", birth_year=1940 + (7 * i) % 50)
            t = treat(client, world.clinic, p["id"], code, "2026-04-01", batch=f"BG-LOT-{code}-{reaction['pt_code']}-{i}")
            send(client, world.clinic, p, t, f"BG-{code}-{reaction['pt_code']}-{i}",
                 [dict(reaction, onset_date=f"2026-04-{1 + i % 28:02d}")])


def _cases(client, world):
    """Two neutropenias after CART-1 at clinic A, and the second of them again from clinic B."""
    ids = {}
    for i, (birth, onset) in enumerate(((1948, "2026-03-11"), (1970, "2026-05-03"))):
        p = register(client, world.clinic, f"N-{i}", sex="female", birth_year=birth)
        t = treat(client, world.clinic, p["id"], "CART-1", "2026-03-01", batch=f"LOT-{i}")
        ids[i] = send(client, world.clinic, p, t, f"A-{i}", [dict(NEUTROPENIA, onset_date=onset),
                                                            dict(CRS, onset_date=onset)])["id"]
    # Clinic B treats the same woman (born 1970, same lot) and reports the same event: its own case id,
    # a pharmacist, later receipt, and without the CRS term.
    p = register(client, world.other_clinic, "B-77", sex="female", birth_year=1970)
    t = treat(client, world.other_clinic, p["id"], "CART-1", "2026-03-01", batch="LOT-1")
    body = send(client, world.other_clinic, p, t, "B-CASE-9", [dict(NEUTROPENIA, onset_date="2026-05-03")],
                reporter={"qualification": "pharmacist", "country": "CN"})
    assert body["possible_duplicate_of"] == []  # not identical content: the nightly model finds it
    ids["dup"] = body["id"]
    return ids


def test_the_job_finds_the_cross_sender_duplicate_and_confirming_it_counts_the_case_once(
        client, session, world, contrast):
    ids = _cases(client, world)
    assert _n(session) == 3
    signal_detection(session, NOW, RULES)
    session.commit()
    assert session.exec(select(Alert).where(Alert.key == KEY)).one().detail["n"] == 3
    result = duplicate_detection(session, NOW, RULES)
    session.commit()
    assert result["linkage_pairs"] >= 1 and result["linkage"] == "on"
    pair = session.exec(select(DuplicatePair).where(DuplicatePair.case_a == ids[1],
                                                    DuplicatePair.case_b == ids["dup"])).one()
    assert pair.method == "linkage" and pair.score >= RULES.duplicates.review_threshold
    # The two clinic-A cases are different patients: never paired.
    assert session.exec(select(DuplicatePair).where(DuplicatePair.case_a == ids[0])).first() is None
    listed = client.get("/v1/duplicates", headers=world.safety.headers).json()["items"]
    assert len(listed) == 1
    cluster = listed[0]
    assert {m["case_id"] for m in cluster["members"]} == {ids[1], ids["dup"]}
    assert {"sex", "birth_year", "onset_date", "batch"} <= set(cluster["agree"])
    assert {"qualification", "clinic_id", "pts"} <= set(cluster["disagree"])
    assert cluster["pairs"][0]["detail"]["fields"]["clinic"] < 0 < cluster["pairs"][0]["detail"]["fields"]["onset"]
    r = client.post(f"/v1/duplicates/{cluster['id']}/confirm", json={"master_case_id": ids[1]},
                    headers=world.safety.headers)
    assert r.status_code == 200, r.text
    assert _n(session) == 2
    signal_detection(session, NOW, RULES)
    session.commit()
    alert = session.exec(select(Alert).where(Alert.key == KEY)).one()
    assert alert.detail["below_rule"] and f"[{ids['dup']}]" in alert.detail["below_rule_reason"]
    # A second nightly run with nothing new suggests nothing again.
    again = duplicate_detection(session, NOW, RULES)
    assert again["cases_scanned"] == 0 and again["clusters_touched"] == 0
    assert len(session.exec(select(DuplicateCluster)).all()) == 1

"""The product analytics page on the export's cohort (figures in test_api_incidence.py)."""
from __future__ import annotations

import re

from tests.web.helpers import signed_in, use_session_of


def test_page_shows_the_tables_and_says_which_estimator(client, session, world, cohort):
    cart = cohort["products"]["cart"]
    signed_in(client, session, world.safety.user)
    index = client.get("/ui/analytics")
    assert index.status_code == 200 and f"/ui/products/{cart.id}/analytics" in index.text
    r = client.get(f"/ui/products/{cart.id}/analytics")
    assert r.status_code == 200, r.text
    html = r.text
    for section in ("incidence", "sequential", "cumulative", "onset", "lots"):
        assert f'id="{section}"' in html
    row = re.search(r'<tr id="inc-1".*?</tr>', html, re.S).group(0)
    assert "T-cell malignancies" in row and '>1</td>' in row and "15.8" in row  # 1 event, 15.8 per 100 PY
    assert "Aalen-Johansen, death as a competing risk" in html  # T-cell: P3 died without one
    assert "1 - Kaplan-Meier: no competing death" in html  # CRS: nobody died without it
    assert "<svg" in html and "SEER" in html
    assert "monitoring" in html and "M = 4" in html


def test_page_is_for_safety_officers(client, session, world, cohort):
    cart = cohort["products"]["cart"]
    use_session_of(client, world.mah.user)
    r = client.get(f"/ui/products/{cart.id}/analytics", follow_redirects=False)
    assert r.status_code in (303, 403)


def test_unknown_product_is_a_404_page(client, session, world, cohort):
    signed_in(client, session, world.safety.user)
    assert client.get("/ui/products/999999/analytics").status_code == 404


def test_a_cohort_signal_alert_links_to_the_analytics(client, session, world, cohort):
    from tests.web.helpers import make_alert

    cart = cohort["products"]["cart"]
    make_alert(session, key="sequential:CART-1:T-cell malignancies", product_id=cart.id, subject_type="product",
               detail={"product": "CART-1", "event": "T-cell malignancies", "level": "group", "rule": "maxsprt",
                       "measures": {}, "n": 4, "expected": 0.05, "max_llr": 11.2, "critical_value": 2.92})
    signed_in(client, session, world.safety.user)
    alert_id = client.get("/v1/alerts", params={"type": "signal"}, headers=world.safety.headers).json()
    ids = [a["id"] for a in alert_id["items"] if a["key"].startswith("sequential:")]
    html = client.get(f"/ui/alerts/{ids[0]}").text
    assert 'id="cohort-signal"' in html and f"/ui/products/{cart.id}/analytics" in html and "11.2" in html

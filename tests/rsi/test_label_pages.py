"""The label pages, the case page's expectedness and the alert page's quarterly trend (issue 16)."""
from __future__ import annotations

import datetime as dt

from sqlmodel import select

from pv_service.alerting.models import Alert
from pv_service.products.models import ProductApproval
from pv_service.rsi.models import RsiVersion
from pv_service.rsi.service import assess_pending
from pv_service.rules import load_rules
from pv_service.signals.job import signal_detection
from pv_service.web.labels import parse_terms
from tests.conftest import NOW
from tests.rsi.test_listed_signals import reported  # noqa: F401
from tests.web.helpers import csrf_of, signed_in, use_session_of


def test_term_lines_parse_into_codes_kinds_and_scopes():
    assert parse_terms("pt 96000001 Cytokine release syndrome\n\n HLT 97000201\nsmq 90000003 broad cytopenias") == [
        {"kind": "pt", "code": "96000001", "name": "Cytokine release syndrome"}, {"kind": "hlt", "code": "97000201"},
        {"kind": "smq", "code": "90000003", "scope": "broad", "name": "cytopenias"}]


def test_a_safety_officer_adds_a_label_version_on_the_page(client, session, world, products):
    session.add(ProductApproval(product_id=products["cart"].id, jurisdiction="FDA", approval_date=dt.date(2024, 1, 1),
                                approval_type="full", indication="r/r LBCL"))
    session.commit()
    signed_in(client, session, world.safety.user)
    url = f"/ui/products/{products['cart'].id}/labels"
    page = client.get(url)
    assert page.status_code == 200 and "No label versions yet" in page.text
    form = {"jurisdiction": "FDA", "version_label": "v1", "effective_from": "2025-01-01", "source": "US PI 2025",
            "terms": "pt 96000001 Cytokine release syndrome\nhlt 97000201", "csrf_token": csrf_of(client, url)}
    bad = client.post(url, data=form)  # no dictionary loaded: the HLT is refused, naming the line
    assert bad.status_code == 422 and "terms.1.kind" in bad.text and session.exec(select(RsiVersion)).first() is None
    ok = client.post(url, data={**form, "terms": "pt 96000001 Cytokine release syndrome"}, follow_redirects=False)
    assert ok.status_code == 303
    page = client.get(ok.headers["location"])
    assert "US PI (FDA): v1" in page.text and "Cytokine release syndrome" in page.text
    assert client.post(url, data=form | {"csrf_token": "forged"}).status_code in (400, 403)
    assert "CART-1" in client.get("/ui/labels").text
    assert client.get("/ui/products/999999/labels").status_code == 404
    client.cookies.clear()
    use_session_of(client, world.clinic.user)
    assert client.get(url).status_code == 403  # safety officers' pages


def test_case_and_alert_pages_show_listedness_and_quarters(client, session, world, reported):  # noqa: F811
    from pv_service.cases.models import Case
    from tests.rsi.test_listed_signals import CRS, _label

    _label(session, reported, CRS)
    signal_detection(session, NOW, load_rules("alerts"))
    assess_pending(session, NOW)
    session.commit()
    signed_in(client, session, world.safety.user)
    alert = session.exec(select(Alert).where(Alert.key == "signal:pt:CART-1:96000014")).one()
    page = client.get(f"/ui/alerts/{alert.id}").text
    assert 'id="quarterly-trend"' in page and "2025-Q1" in page and "2025-Q4" in page
    assert 'id="listedness" title="Not in the product' in page
    crs_case = session.exec(select(Case.id).where(Case.sender_case_id == "CRS-0")).one()
    case_page = client.get(f"/ui/cases/{crs_case}").text
    assert "Expectedness at receipt" in case_page and "expectedness-listed" in case_page and "US PI test" in case_page

"""Case series of an alert: the line listing, its filters, sorting and search, the 2x2 agreement, and the
CSV and Excel exports (each file opened and read back), through the API and the page; both databases."""
from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
import sqlalchemy as sa

from pv_service.cases.models import Case, CaseVersion

from pv_service.signals.models import SignalRun
from tests.api.conftest import register, report_payload, treat
from tests.conftest import NOW
from tests.web.helpers import make_alert, signal_detail, signed_in

LYMPHOMA = {"pt_code": "10042971", "pt_name": "T-cell lymphoma", "onset_date": "2025-03-11",
            "seriousness": {"other_medically_important": True}, "outcome": "not_recovered"}
PYREXIA = {"pt_code": "10037660", "pt_name": "Pyrexia", "outcome": "recovered"}


@pytest.fixture
def series(client, session, world, products):
    """CART-1 and T-cell lymphoma: three listed cases (CN, US; lots A, B), one of another event, one nullified."""
    h = world.clinic

    def case(local_id, sender_case_id, reactions, *, received="2025-04-01", infusion="2025-01-10", lot="LOT-A",
             sex="female", country="CN", narrative="CAR-positive T-cell lymphoma on biopsy.", birth_year=1961):
        p = register(client, h, local_id, sex=sex, birth_year=birth_year)
        t = treat(client, h, p["id"], "CART-1", infusion_date=infusion, batch=lot)
        body = report_payload(p["id"], t["id"], sender_case_id, received_date=received,
                              reporter={"qualification": "physician", "country": country},
                              reactions=reactions, narrative=narrative)
        r = client.post("/v1/reports", json=body, headers=h.headers)
        assert r.status_code == 201, r.text
        return r.json()["id"], body

    a, _ = case("P1", "TCL-1", [LYMPHOMA, PYREXIA])  # onset 60 days after infusion
    b, _ = case("P2", "TCL-2", [{**LYMPHOMA, "onset_date": "2025-07-10", "outcome": "fatal",
                                 "seriousness": {"death": True}}], received="2025-08-01", sex="male",
                lot="LOT-B", country="US", narrative="=HYPERLINK(\"x\") fatal lymphoma", birth_year=1950)
    c, _ = case("P3", "TCL-3", [{**LYMPHOMA, "onset_date": None}], received="2025-09-01")
    case("P4", "OTHER-1", [PYREXIA])
    d, _ = case("P5", "TCL-4", [LYMPHOMA])
    # Nullified since (as an E2B C.1.11 nullification version would leave it: the JSON intake has none)
    latest = session.get(Case, d).latest_version_id
    session.exec(sa.update(CaseVersion).where(CaseVersion.id == latest).values(nullification="nullification"))
    run = SignalRun(started_at=NOW, finished_at=NOW, as_of=dt.date(2026, 11, 1), level="pt")
    session.add(run)
    session.commit()
    detail = signal_detail("CART-1", "10042971", run_id=run.id, n=4)
    detail.update(pt_codes=["10042971"], terms=["T-cell lymphoma"])
    alert = make_alert(session, key="signal:pt:CART-1:10042971", product_id=products["cart"].id,
                       title="T-cell lymphoma after CART-1", detail=detail)
    return {"alert": alert, "cases": {"a": a, "b": b, "c": c, "nullified": d}}


def _get(client, world, alert_id, **params):
    r = client.get(f"/v1/alerts/{alert_id}/case-series", params=params, headers=world.safety.headers)
    assert r.status_code == 200, r.text
    return r


def test_listing_columns_and_agreement(client, world, series):
    doc = _get(client, world, series["alert"].id).json()
    ids = [i["case_id"] for i in doc["items"]]
    cs = series["cases"]
    assert ids == [cs["c"], cs["b"], cs["a"]]  # newest first receipt first; nullified and other event left out
    assert doc["total"] == doc["matched"] == 3
    by_id = {i["case_id"]: i for i in doc["items"]}
    a, b, c = by_id[cs["a"]], by_id[cs["b"]], by_id[cs["c"]]
    assert a["days_to_onset"] == 60 and a["infusion_date"] == "2025-01-10" and a["onset_date"] == "2025-03-11"
    assert a["reactions"] == "T-cell lymphoma"  # the matching reaction only
    assert (a["product"], a["lot"], a["country"], a["sex"]) == ("CART-1", "LOT-A", "CN", "female")
    # age from the birth year (2 July 1961) to first receipt 2025-04-01: 63.75 years
    assert a["age_years"] == 63.7
    assert b["outcome"] == "fatal" and b["seriousness"] == "death" and b["lot"] == "LOT-B"
    assert c["days_to_onset"] is None and c["onset_date"] is None
    assert a["expectedness"] == "not assessed"
    # a = 4 counted at the run; 3 listed: the nullified case is named as the reason
    agreement = doc["agreement"]
    assert agreement["two_by_two_a"] == 4 and agreement["listed"] == 3 and not agreement["agrees"]
    assert any("1 case(s) nullified" in r for r in agreement["reasons"])


def test_filters_sorting_search(client, world, series):
    cs, aid = series["cases"], series["alert"].id

    def ids(**params):
        return [i["case_id"] for i in _get(client, world, aid, **params).json()["items"]]

    assert ids(country="US") == [cs["b"]]
    assert ids(sex="female") == [cs["c"], cs["a"]]
    assert ids(lot="LOT-A") == [cs["c"], cs["a"]]
    assert ids(outcome="fatal") == [cs["b"]]
    assert ids(serious="true") == [cs["c"], cs["b"], cs["a"]]
    assert ids(serious="false") == []
    assert ids(q="hyperlink") == [cs["b"]]
    assert ids(q="TCL-1") == [cs["a"]]
    assert ids(sort="days_to_onset", descending="false") == [cs["a"], cs["b"], cs["c"]]  # missing last
    assert ids(sort="days_to_onset") == [cs["b"], cs["a"], cs["c"]]
    assert ids(sort="age_years", descending="false")[0] == cs["a"]  # 63.7 before 74.x (born 1950)
    # every listed column but the narrative excerpt sorts, missing values last either way
    for column in ("sender_case_id", "report_type", "infusion_date", "seriousness", "reactions",
                   "transgene_in_tumour", "vector_test"):
        assert sorted(ids(sort=column, descending="false")) == sorted(cs[k] for k in "abc"), column
    assert ids(sort="sender_case_id", descending="false") == [cs["a"], cs["b"], cs["c"]]  # TCL-1, -2, -3
    assert ids(sort="sender_case_id") == [cs["c"], cs["b"], cs["a"]]
    assert ids(sort="seriousness", descending="false")[0] == cs["b"]  # "death" before "other_medically_important"
    page = _get(client, world, aid, limit=2).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = _get(client, world, aid, limit=2, cursor=page["next_cursor"]).json()
    assert [i["case_id"] for i in rest["items"]] == [cs["a"]] and rest["next_cursor"] is None
    bad = client.get(f"/v1/alerts/{aid}/case-series", params={"sort": "narrative"}, headers=world.safety.headers)
    assert bad.status_code == 422 and "sort" in bad.text


def test_exports_open_and_agree(client, world, series):
    aid, cs = series["alert"].id, series["cases"]
    r = _get(client, world, aid, format="csv", country="CN")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8"))))
    assert [int(x["case_id"]) for x in rows] == [cs["c"], cs["a"]]
    assert rows[1]["days_to_onset"] == "60" and rows[0]["days_to_onset"] == ""
    r = _get(client, world, aid, format="xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    sheet = wb["case_series"]
    header = [c.value for c in sheet[1]]
    values = [dict(zip(header, [c.value for c in row])) for row in sheet.iter_rows(min_row=2)]
    assert [v["case_id"] for v in values] == [cs["c"], cs["b"], cs["a"]]
    # a narrative that starts like a formula is kept as text, never run
    narrative = next(v["narrative_excerpt"] for v in values if v["case_id"] == cs["b"])
    assert narrative.startswith("'=HYPERLINK")
    about = {row[0].value: row[1].value for row in wb["about"].iter_rows(min_row=2)}
    assert about["cases_in_series"] == "3" and "nullified" in about["agreement"]


def test_roles_and_alerts_without_series(client, session, world, series, products):
    aid = series["alert"].id
    for actor in (world.mah, world.clinic, world.admin):
        assert client.get(f"/v1/alerts/{aid}/case-series", headers=actor.headers).status_code == 403
    assert client.get("/v1/alerts/999999/case-series", headers=world.safety.headers).status_code == 404
    other = make_alert(session, key="deadline:obligation:1", type="deadline", product_id=products["cart"].id,
                       subject_type="product", subject_id=products["cart"].id)
    doc = _get(client, world, other.id).json()
    assert doc["has_series"] is False and doc["items"] == [] and doc["total"] == 0


def test_page_lists_filters_and_exports(client, session, world, series):
    signed_in(client, session, world.safety.user)
    aid, cs = series["alert"].id, series["cases"]
    html = client.get(f"/ui/alerts/{aid}/cases").text
    assert "3 of 3 cases match" in html and 'id="disagree"' in html and "nullified" in html
    assert html.index(f'data-case-id="{cs["c"]}"') < html.index(f'data-case-id="{cs["a"]}"')
    assert "&#39;=HYPERLINK" not in html and "=HYPERLINK" in html.replace("&#34;", '"')  # escaped, shown as sent
    html = client.get(f"/ui/alerts/{aid}/cases", params={"country": "US"}).text
    assert f'data-case-id="{cs["b"]}"' in html and f'data-case-id="{cs["a"]}"' not in html
    r = client.get(f"/ui/alerts/{aid}/cases.csv", params={"outcome": "fatal"})
    assert r.status_code == 200
    assert [int(x["case_id"]) for x in csv.DictReader(io.StringIO(r.text))] == [cs["b"]]
    r = client.get(f"/ui/alerts/{aid}/cases.xlsx")
    assert openpyxl.load_workbook(io.BytesIO(r.content))["case_series"].max_row == 4
    assert client.get(f"/ui/alerts/{aid}/cases", params={"sort": "bogus"}).status_code == 422
    assert client.get(f"/ui/alerts/{aid}/cases.pdf").status_code == 422
    assert 'id="case-series-link"' in client.get(f"/ui/alerts/{aid}").text

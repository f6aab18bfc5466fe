"""NMPA's CN regional elements: read as sent (the patient's telephone never), written by the nmpa profile
where the public stylesheet places them (each XPath below written by hand from it), schema-valid, the
same case after a round trip, derived C.1.CN.1/C.1.CN.2 where the case says them, and NMPA's rules."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace as NS_

import pytest

from pv_service.e2b import business_rules, icsr, reader, regional_cn, schema_set
from pv_service.e2b.reader import NS
from pv_service.rules import load_rules
from tests.e2b.cn import HOLDER_ID, TELEPHONE, _event_obs, cn_icsr
from tests.e2b.conftest import fda
from tests.e2b.rich import REACTION_1
from tests.e2b.test_business_rules import ROOT
from tests.e2b.test_export import _stored
from tests.e2b.test_import import post

RULES = load_rules(ROOT / "alerts").e2b
OBS = "2.16.840.1.113883.3.989.2.1.1.19"
XNS = {**NS, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
MSG = "/h:MCCI_IN200100UV01/h:PORR_IN049016UV"
EVENT = f"{MSG}/h:controlActProcess/h:subject/h:investigationEvent"
ROLE = f"{EVENT}/h:component/h:adverseEventAssessment/h:subject1/h:primaryRole"
DRUG_A = (f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='4']/h:component/h:substanceAdministration"
          "[h:id/@root='68d6f5ce-3b3b-45c7-92dd-69e06730c3a9']")


def _cn(code: str) -> str:
    return f"h:code[@code='{code}'][@codeSystem='{OBS}'][@codeSystemVersion='1.1']"


def _message(data: bytes):
    return icsr.messages(reader.read(data, reader.BATCH_ROOT, 10**7))[0]


def test_cn_elements_are_read_as_sent_and_the_telephone_never():
    nmpa = icsr.parse_message(_message(cn_icsr())).nmpa
    drug = nmpa["drugs"]["68d6f5ce-3b3b-45c7-92dd-69e06730c3a9"]
    assert (nmpa["report_source"], nmpa["report_category"], nmpa["holder_id"]) == ("3", "22", HOLDER_ID)
    assert nmpa["patient"] == {"ethnic_group": "01", "institution": "北京协和医院", "nationality": "CN",
                               "pregnancy": "妊娠12周"}
    assert (drug["generic_name"], drug["related_device"], drug["holder_product"], drug["approval_number"]) == (
        "阿基仑赛注射液", "输液器", True, "国药准字S20210001")
    assert drug["dosages"] == [{"expiry_date": "20261231"}]
    assert drug["matrix"] == {REACTION_1: {"listedness": "1", "dechallenge": "2"}}
    assert set(nmpa["drugs"]) == {"68d6f5ce-3b3b-45c7-92dd-69e06730c3a9"} and TELEPHONE not in str(nmpa)
    assert icsr.parse_message(_message(fda("Scenario1.xml"))).nmpa == {}


def _export(client, actor, case_id, profile="nmpa"):
    r = client.get(f"/v1/reports/{case_id}/e2b", params={"profile": profile}, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.content


def test_nmpa_export_places_every_element_as_the_stylesheet_does(client, world, schema_settings, ich_xsd):
    case_id = post(client, world.clinic, cn_icsr(), json=True).json()["messages"][0]["case_id"]
    data = _export(client, world.clinic, case_id)
    tree = reader.read(data, reader.BATCH_ROOT, 10**7)
    assert reader.schema_errors(schema_set.load(ich_xsd).batch, tree) == []
    root = tree.getroot().getroottree()

    def at(path):
        return root.xpath(path, namespaces=XNS)

    # C.1.CN: investigationEvent components, after C.1.7 (code 23), value CE with the code only.
    for code, value in (("CN-6", "3"), ("CN-11", "22"), ("CN-12", HOLDER_ID)):
        assert at(f"{EVENT}/h:component/h:observationEvent[{_cn(code)}]/h:value[@xsi:type='CE']/@code") == [value]
        assert at(f"{EVENT}/h:component[h:observationEvent/{_cn(code)}]/preceding-sibling::h:component"
                  "/h:observationEvent/h:code/@code")[-1] in ("23", "C156384", "CN-6", "CN-11")
    # D.CN: primaryRole subjectOf2 observations.
    assert at(f"{ROLE}/h:subjectOf2/h:observation[{_cn('CN-1')}]/h:value[@xsi:type='TS']/@value") == ["01"]
    assert at(f"{ROLE}/h:subjectOf2/h:observation[{_cn('CN-3')}]/h:value[@xsi:type='ED']/text()") == ["北京协和医院"]
    assert at(f"{ROLE}/h:subjectOf2/h:observation[{_cn('CN-9')}]/h:value[@xsi:type='CS']/@code") == ["CN"]
    assert at(f"{ROLE}/h:subjectOf2/h:observation[{_cn('CN-13')}]/h:value[@xsi:type='ED']/text()") == ["妊娠12周"]
    assert at("//*[@code='CN-10']") == [] and TELEPHONE.encode() not in data  # D.CN.5: not kept, not sent
    # G.k.CN: REFR observations of the drug; G.k.9.i.CN: PERT observations pointing at the reaction.
    for code, kind, value in (("CN-7", "ST", "阿基仑赛注射液"), ("CN-14", "ST", "输液器"), ("CN-16", "ST", "国药准字S20210001")):
        assert at(f"{DRUG_A}/h:outboundRelationship2[@typeCode='REFR']/h:observation[{_cn(code)}]"
                  f"/h:value[@xsi:type='{kind}']/text()") == [value]
    assert at(f"{DRUG_A}/h:outboundRelationship2[@typeCode='REFR']/h:observation[{_cn('CN-15')}]"
              "/h:value[@xsi:type='BL']/@value") == ["true"]
    for code, value in (("CN-4", "1"), ("CN-5", "2")):
        obs = f"{DRUG_A}/h:outboundRelationship2[@typeCode='PERT']/h:observation[{_cn(code)}]"
        assert at(f"{obs}/h:value[@xsi:type='CE']/@code") == [value]
        assert at(f"{obs}/h:outboundRelationship1[@typeCode='REFR']/h:actReference/h:id/@root") == [REACTION_1]
    assert at(f"{ROLE}/h:subjectOf2/h:observation[h:code/@code='29']/h:id/@root")[0] == REACTION_1
    # G.k.4.r.CN.1: REFR inboundRelationship of the dosage (G.k.4.r) substanceAdministration.
    assert at(f"{DRUG_A}/h:outboundRelationship2/h:substanceAdministration/h:inboundRelationship[@typeCode='REFR']"
              f"/h:observation[{_cn('CN-8')}]/h:value[@xsi:type='TS']/@value") == ["20261231"]
    (el,) = icsr.messages(tree)
    assert business_rules.check(el, RULES, "NMPA") == []
    for profile in ("ich", "fda"):  # CN elements leave only with the nmpa profile
        assert b'code="CN-' not in _export(client, world.clinic, case_id, profile)


def test_round_trip_keeps_the_cn_elements(client, world, schema_settings, ich_xsd):
    first = post(client, world.clinic, cn_icsr(), json=True).json()
    original = client.get(f"/v1/reports/{first['messages'][0]['case_id']}", headers=world.clinic.headers).json()["latest"]
    again = post(client, world.other_clinic, _export(client, world.clinic, original["case_id"]), json=True).json()
    assert again["acknowledgement"] == "AA", [m["errors"] for m in again["messages"]]
    back = client.get(f"/v1/reports/{again['messages'][0]['case_id']}", headers=world.other_clinic.headers).json()
    assert back["latest"]["detail"]["nmpa"] == original["detail"]["nmpa"]
    assert _stored(back["latest"], "nmpa") == _stored(original, "nmpa")
    assert TELEPHONE not in str(original) and TELEPHONE not in str(back)


@pytest.fixture
def approved_in_china(session, fda_product):
    from pv_service.products.models import ProductApproval

    session.add(ProductApproval(product_id=fda_product.id, jurisdiction="NMPA", approval_date=dt.date(2021, 6, 1),
                                approval_type="conditional", indication="x"))
    session.commit()
    return fda_product


def test_post_marketing_category_is_derived_and_needs_the_holder_identifier(client, world, schema_settings,
                                                                           approved_in_china):
    """Scenario 1: a US report on Drug A, approved by NMPA: post-marketing, foreign (22), first sent by a
    regulator (C.1.8.2 1: source 1). NMPA wants C.1.CN.3 then, which the service cannot know: 422."""
    bare = post(client, world.clinic, cn_icsr(event=""), json=True).json()["messages"][0]["case_id"]
    r = client.get(f"/v1/reports/{bare}/e2b", params={"profile": "nmpa"}, headers=world.clinic.headers)
    assert r.status_code == 422, r.text
    assert [p["msg"] for p in r.json()["detail"]] == [
        f"case {bare} cannot go to NMPA: C.1.CN.3 required: holder identifier of a post-marketing report "
        "(C.1.CN.2 12 or 22)"]
    assert client.get(f"/v1/reports/{bare}/e2b", params={"profile": "ich"}, headers=world.clinic.headers).status_code == 200
    holder_only = _event_obs("CN-12", f'<value xsi:type="CE" code="{HOLDER_ID}"/>')
    case_id = post(client, world.other_clinic, cn_icsr(event=holder_only), json=True).json()["messages"][0]["case_id"]
    el = _message(_export(client, world.other_clinic, case_id))
    event = "h:controlActProcess/h:subject/h:investigationEvent/h:component/h:observationEvent"
    assert el.xpath(f"{event}[{_cn('CN-11')}]/h:value/@code", namespaces=NS) == ["22"]
    assert el.xpath(f"{event}[{_cn('CN-6')}]/h:value/@code", namespaces=NS) == ["1"]
    assert el.xpath(f"{event}[{_cn('CN-12')}]/h:value/@code", namespaces=NS) == [HOLDER_ID]


def test_holder_identifier_from_the_holder_organisation(client, world, schema_settings, approved_in_china):
    """An admin records NMPA's identifier of MAH A (Drug A's holder): C.1.CN.3 of the post-marketing case."""
    case_id = post(client, world.clinic, cn_icsr(event=""), json=True).json()["messages"][0]["case_id"]
    path = f"/v1/organizations/{world.mah.org_id}"
    assert client.patch(path, json={"nmpa_holder_id": "CN-MAH-42"}, headers=world.mah.headers).status_code == 403
    for bad in ("", " ", "x" * 101, 7):
        assert client.patch(path, json={"nmpa_holder_id": bad}, headers=world.admin.headers).status_code == 422, bad
    assert client.patch(path, json={"holder": "x"}, headers=world.admin.headers).status_code == 422
    assert client.patch("/v1/organizations/999999", json={"nmpa_holder_id": "x"},
                        headers=world.admin.headers).status_code == 404
    r = client.patch(path, json={"nmpa_holder_id": "CN-MAH-42"}, headers=world.admin.headers)
    assert r.status_code == 200 and r.json()["nmpa_holder_id"] == "CN-MAH-42", r.text
    el = _message(_export(client, world.clinic, case_id))
    event = "h:controlActProcess/h:subject/h:investigationEvent/h:component/h:observationEvent"
    assert el.xpath(f"{event}[{_cn('CN-12')}]/h:value/@code", namespaces=NS) == ["CN-MAH-42"]
    assert el.xpath(f"{event}[{_cn('CN-11')}]/h:value/@code", namespaces=NS) == ["22"]
    assert client.patch(path, json={"nmpa_holder_id": None}, headers=world.admin.headers).json()["nmpa_holder_id"] is None
    r = client.get(f"/v1/reports/{case_id}/e2b", params={"profile": "nmpa"}, headers=world.clinic.headers)
    assert r.status_code == 422 and "C.1.CN.3" in r.text


def test_lot_of_each_suspect_product_refuses_the_export(client, world, schema_settings):
    """Scenario 1's Drug B (suspect) has no dosage, so no lot: NMPA's G.k.4.r.7 rule, named in the 422."""
    case_id = post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["messages"][0]["case_id"]
    r = client.get(f"/v1/reports/{case_id}/e2b", params={"profile": "nmpa"}, headers=world.clinic.headers)
    assert r.status_code == 422 and "G.k.4.r.7 required: batch/lot number" in r.text, r.text
    assert "C.1.CN" not in r.text  # not approved in China as far as the service knows: no category, no holder rule


def _version(**kw):
    drugs = kw.pop("drugs", [NS_(role="suspect", authorisation_number=None, detail={}, product_id=None)])
    base = dict(detail={}, reporter_country="US", report_type="spontaneous", reporter_qualification="physician",
                drugs=drugs)
    return NS_(**{**base, **kw})


@pytest.mark.parametrize("countries, reporter, approved, expected", [
    ([], "CN", [True], "12"), ([], "US", [True], "22"), ([], "CN", [False], "11"), ([], "DE", [False], "21"),
    (["CN"], "US", [True], "12"),  # occurrence (E.i.9) before the reporter's country
    (["US"], "CN", [True], "22"),
    ([], "US", [None], None),  # product not in the registry: pre- or post-marketing is not known
])
def test_report_category(countries, reporter, approved, expected):
    v = _version(detail={"reactions": [{"country": c} for c in countries]}, reporter_country=reporter)
    assert regional_cn.report_category(v, approved) == expected


def test_report_category_from_a_chinese_authorisation_and_only_suspects():
    cn_drug = NS_(role="suspect", authorisation_number="国药准字S1", detail={"authorisation_country": "CN"},
                  product_id=None)
    other = NS_(role="concomitant", authorisation_number=None, detail={}, product_id=None)
    assert regional_cn.report_category(_version(drugs=[other, cn_drug]), [None, None]) == "22"
    assert regional_cn.report_category(_version(drugs=[other]), [True]) is None  # no suspect product
    assert regional_cn.derived(_version(drugs=[cn_drug]), [None])["drugs"] == {"drug-0": {"approval_number": "国药准字S1"}}


@pytest.mark.parametrize("kw, category, expected", [
    ({}, None, "3"), ({"reporter_qualification": "other_health_professional"}, None, "3"),
    ({"reporter_qualification": "consumer"}, None, "2"),
    ({"reporter_qualification": "pharmacist"}, None, None),  # a hospital's or a shop's pharmacist
    ({"detail": {"sources": [{"qualification": "consumer", "primary_for_regulatory": False},
                             {"qualification": "physician", "primary_for_regulatory": True}]}}, None, "3"),
    ({"detail": {"first_sender": "1"}}, None, "1"), ({"detail": {"literature": ["Doe J. 2020"]}}, None, "5"),
    ({"report_type": "study"}, "12", "6"), ({"report_type": "study"}, "11", None),
    ({"report_type": "other"}, None, None),
])
def test_report_source(kw, category, expected):
    assert regional_cn.report_source(_version(**kw), category) == expected


def test_holder_identifier_of_the_suspect_products_holder():
    def drug(role, product_id):
        return NS_(role=role, authorisation_number=None, detail={}, product_id=product_id)

    one = _version(drugs=[drug("suspect", 1), drug("interacting", 2), drug("concomitant", 3)])
    assert regional_cn.holder_id(one, ["H1", "H1", "H2"]) == "H1"  # a concomitant drug's holder does not count
    assert regional_cn.holder_id(one, ["H1", "H2", None]) is None  # two holders: which one reports is not known
    assert regional_cn.holder_id(one, ["H1", None, None]) is None
    assert regional_cn.holder_id(_version(drugs=[drug("suspect", None)]), [None]) is None  # not in the registry
    assert regional_cn.derived(one, [True, True, None], ["H1", "H1", None])["holder_id"] == "H1"


def test_received_values_win_over_derived():
    v = _version(detail={"nmpa": {"report_source": "8", "report_category": "21"}}, reporter_country="CN")
    assert regional_cn.derived(v, [True]) == {"report_source": "8", "report_category": "21"}


@pytest.mark.parametrize("code, element, value, reason", [
    ("CN-6", "C.1.CN.1", "9", "report source: '9' is not one of 1, 2, 3, 4, 5, 6, 7, 8"),
    ("CN-11", "C.1.CN.2", "13", "report category: '13' is not one of 11, 12, 21, 22"),
])
def test_nmpa_rules_refuse_codes_outside_the_lists(code, element, value, reason):
    el = _message(cn_icsr(event=_event_obs(code, f'<value xsi:type="CE" code="{value}"/>')))
    assert [(p.element, p.reason) for p in business_rules.check(el, RULES, "NMPA")] == [(element, reason)]
    assert business_rules.check(el, RULES, "CDER") == []  # NMPA's rules for messages to NMPA only


def test_nmpa_rule_holder_identifier_for_post_marketing_only():
    def without_holder(category: str) -> bytes:
        return cn_icsr(event=_event_obs("CN-11", f'<value xsi:type="CE" code="{category}"/>'))

    for category, missing in (("12", True), ("22", True), ("11", False), ("21", False)):
        problems = business_rules.check(_message(without_holder(category)), RULES, "NMPA")
        assert [p.element for p in problems] == (["C.1.CN.3"] if missing else []), category

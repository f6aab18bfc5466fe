"""POST /v1/e2b/batches: FDA's instances stored field by field, one bad message of many, resends,
follow-ups, roles, and refusals before parsing; on both databases."""
from __future__ import annotations

import re

import pytest
from lxml import etree

from pv_service.e2b import reader, schema_set
from pv_service.e2b.ack import read as read_ack
from tests.e2b.conftest import SCENARIOS, fda

XML = {"Content-Type": "application/xml"}
pytestmark = pytest.mark.usefixtures("reading")  # each test in this process and with reader processes


def post(client, actor, data: bytes, json: bool = False):
    headers = {**actor.headers, **XML, **({"Accept": "application/json"} if json else {})}
    return client.post("/v1/e2b/batches", content=data, headers=headers)


def batch_of(*files: bytes) -> bytes:
    """One MCCI_IN200100UV01 holding the messages of several FDA files (each holds one)."""
    first = files[0]
    messages = [re.search(rb"<PORR_IN049016UV>.*?</PORR_IN049016UV>", f, re.S).group(0) for f in files]
    start = first.index(b"<PORR_IN049016UV>")
    end = first.index(b"</PORR_IN049016UV>") + len(b"</PORR_IN049016UV>")
    return first[:start] + b"\n".join(messages) + first[end:]


def with_message_id(data: bytes, message_id: str) -> bytes:
    return re.sub(rb'(<PORR_IN049016UV>\s*<id extension=")[^"]*', rb"\g<1>" + message_id.encode(), data, count=1)


def test_scenario1_every_field_as_in_the_file(client, world, schema_settings):
    r = post(client, world.clinic, fda("Scenario1.xml"), json=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["acknowledgement"] == "AA"
    assert body["batch_id"] == "FAERS2022Scenario1-4069-a2dd-08002b30309d" and body["batch_sender"] == "4567AB89012"
    (m,) = body["messages"]
    assert (m["acknowledgement"], m["outcome"], m["version"]) == ("CA", "created", 0)
    assert m["message_id"] == "21ec1492-3aea-4069-a2ab-08002b30309d"
    case = client.get(f"/v1/reports/{m['case_id']}", headers=world.clinic.headers).json()
    v = case["latest"]
    assert case["sender_case_id"] == "US-APHARMA-8744554B" and case["patient_id"] is None
    assert case["first_received"] == "2022-06-14"  # C.1.4 20220614101010-0500
    assert v["safety_report_id"] == v["worldwide_id"] == "US-APHARMA-8744554B"
    assert (v["source_format"], v["report_type"], v["latest_info_date"]) == ("e2b", "spontaneous", "2022-06-14")
    assert (v["reporter_qualification"], v["reporter_country"]) == ("physician", "US")  # C.2.r.4 = 1, C.2.r.3
    assert v["narrative"].startswith("Case Narrative Including Clinical Course")
    assert (v["reporter_comments"], v["sender_comments"]) == ("Repoeter Comments", "Sender Comments")  # sic, H.2
    # D: initials "JD" only as a pseudonym; male (D.5 = 1), born 2001, 48 years (a), adult (D.2.3 = 5).
    p = v["patient"]
    assert p["pseudonym"] and "JD" not in r.text and "JD" not in str(case)
    assert (p["sex"], p["birth_year"], p["age"], p["age_unit"], p["age_group"]) == ("male", 2001, 48.0, "a", "5")
    assert v["detail"]["patient"]["medical_history_text"] == "None"  # D.7.2
    assert [d["name"] for d in v["detail"]["patient"]["past_drugs"]] == ["CureAll"]  # D.8.r.1
    # E.i: two reactions, MedDRA 25.0; disabling and other-medically-important sent true, the rest NI.
    r1, r2 = v["reactions"]
    assert (r1["llt_code"], r1["meddra_version"], r1["onset_date"], r1["outcome"]) == (
        "10027940", "25.0", "2014-10-10", "not_recovered")
    assert r1["seriousness"] == {"death": False, "life_threatening": False, "hospitalisation": False,
                                 "disability": True, "congenital_anomaly": False, "other_medically_important": True}
    assert (r2["llt_code"], r2["outcome"]) == ("10009896", "recovered")
    assert r2["seriousness"]["other_medically_important"] and not r2["seriousness"]["disability"]
    assert v["serious"] is True
    # G.k: Drug A and B suspect, Drug C concomitant; none is a registered product.
    a, b, c = v["drugs"]
    assert [(d["name_as_reported"], d["role"]) for d in (a, b, c)] == [
        ("Drug A", "suspect"), ("Drug B", "suspect"), ("Drug C", "concomitant")]
    assert (a["reported_product_code"], a["authorisation_number"], a["holder"]) == (
        "59762-2858", "NDA012345", "Big Pharma A Drug")
    assert (a["batch_lot"], a["action_taken"], a["product_id"], a["treatment_id"]) == ("UNKNOWN", "0", None, None)
    assert a["detail"]["substances"] == ["Ingredient A"]
    assert a["detail"]["dosages"][0]["route"] == "Oral"
    assert a["detail"]["indications"][0]["text"] == "Embolism venous"
    assert {(x["result"], x["source"]) for x in a["detail"]["relatedness"]} == {
        ("Not Suspected", "PHARMACEUTICAL COMPANY"), ("Suspected", "PRIMARY SOURCE REPORTER")}
    assert b["batch_lot"] is None and c["holder"] == "Big Pharma C Drug"
    assert v["detail"]["sources"] == [{"qualification": "physician", "qualification_code": "1", "country": "US",
                                       "primary_for_regulatory": True}]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_fda_instance_imports(client, world, schema_settings, scenario):
    r = post(client, world.clinic, fda(f"Scenario{scenario}.xml"), json=True)
    assert r.status_code == 200, r.text
    assert r.json()["acknowledgement"] == "AA", r.json()
    case = client.get(f"/v1/reports/{r.json()['messages'][0]['case_id']}", headers=world.clinic.headers).json()
    assert case["latest"]["reactions"] and any(d["role"] == "suspect" for d in case["latest"]["drugs"])


def test_study_report_scenario3(client, world, schema_settings):
    m = post(client, world.clinic, fda("Scenario3.xml"), json=True).json()["messages"][0]
    v = client.get(f"/v1/reports/{m['case_id']}", headers=world.clinic.headers).json()["latest"]
    assert v["report_type"] == "study"
    assert v["detail"]["study"] == {"name": "Study ID$Abbreviated Trial Name", "number": "CT-00-00", "type": "1",
                                    "registrations": [["STUDY-US-001", "US"]]}
    assert v["drugs"][0]["name_as_reported"] == "MK-001"


def test_ack_is_valid_ich_xml(client, world, schema_settings, ich_xsd):
    r = post(client, world.clinic, fda("Scenario1.xml"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    tree = reader.read(r.content, reader.ACK_ROOT, 10**6)
    assert reader.schema_errors(schema_set.load(ich_xsd).ack, tree) == []
    ack = read_ack(tree)
    assert ack.batch_code == "AA" and ack.batch_id == "FAERS2022Scenario1-4069-a2dd-08002b30309d"
    assert ack.messages == [("CA", "21ec1492-3aea-4069-a2ab-08002b30309d US-APHARMA-8744554B", ["report loaded"])]


def test_one_bad_message_of_three_gives_ae_with_one_cr(client, world, schema_settings, ich_xsd):
    bad = fda("Scenario3.xml").replace(b'<statusCode code="active"/>', b'<statusCode code="active"/><bogus/>', 1)
    data = batch_of(fda("Scenario1.xml"), bad, fda("Scenario4.xml"))
    bogus_line = data[:data.index(b"<bogus/>")].count(b"\n") + 1
    r = post(client, world.clinic, data)
    assert r.status_code == 200
    tree = reader.read(r.content, reader.ACK_ROOT, 10**6)
    assert reader.schema_errors(schema_set.load(ich_xsd).ack, tree) == []
    ack = read_ack(tree)
    assert ack.batch_code == "AE"
    assert [m[0] for m in ack.messages] == ["CA", "CR", "CA"]
    (text,) = ack.messages[1][2]
    assert f"line {bogus_line}" in text and "bogus" in text and "investigationEvent" in text
    listed = client.get("/v1/reports", headers=world.clinic.headers).json()
    assert sorted(c["sender_case_id"] for c in listed["items"]) == ["US-APHARMA-222222222", "US-APHARMA-8744554B"]


def test_message_without_suspect_drug_is_refused(client, world, schema_settings):
    data = fda("Scenario1.xml")
    no_suspect = data.replace(b'code="1" displayName="Suspect"', b'code="2" displayName="Concomitant"')
    body = post(client, world.clinic, no_suspect, json=True).json()
    # ICH: AE when messages were read but not all stored (AR is for a batch that could not be read).
    assert body["acknowledgement"] == "AE"
    (m,) = body["messages"]
    assert m["acknowledgement"] == "CR"
    assert [e["element"] for e in m["errors"]] == ["G.k.1"]
    assert client.get("/v1/reports", headers=world.clinic.headers).json()["items"] == []


def test_an_impossible_date_is_refused_with_its_element_and_line(client, world, schema_settings):
    """30 February passes the schema's digit pattern; the reader used to store the reaction with no
    onset. Now the message is refused (CR) naming E.i.4 and the line of its <low>, in this process
    and in the reader processes alike, and nothing is stored."""
    data = fda("Scenario1.xml")
    line = 145  # the first reaction's <low value="20141010"/>
    lines = data.split(b"\n")
    assert b'<low value="20141010"/>' in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(b"20141010", b"20140230")
    body = post(client, world.clinic, b"\n".join(lines), json=True).json()
    (m,) = body["messages"]
    assert m["acknowledgement"] == "CR"
    assert [(e["element"], e["line"]) for e in m["errors"]] == [("E.i.4", line)]
    assert "day 30 does not exist in 2014-02" in m["errors"][0]["reason"]
    assert client.get("/v1/reports", headers=world.clinic.headers).json()["items"] == []


def test_resend_is_unchanged_changed_content_is_refused_followup_is_next_version(client, world, schema_settings):
    data = fda("Scenario1.xml")
    first = post(client, world.clinic, data, json=True).json()["messages"][0]
    again = post(client, world.clinic, data, json=True).json()
    assert again["acknowledgement"] == "AA" and again["messages"][0]["outcome"] == "unchanged"
    changed = data.replace(b"Repoeter Comments", b"Reporter comments, corrected")
    refused = post(client, world.clinic, changed, json=True).json()["messages"][0]
    assert refused["acknowledgement"] == "CR" and "different content" in refused["errors"][0]["reason"]
    followup = with_message_id(changed, "followup-1").replace(
        b'<effectiveTime value="20140714151617-0500"/>', b'<effectiveTime value="20140801100000-0500"/>', 1)
    m = post(client, world.clinic, followup, json=True).json()["messages"][0]
    assert (m["acknowledgement"], m["version"], m["case_id"]) == ("CA", 1, first["case_id"])
    case = client.get(f"/v1/reports/{first['case_id']}", headers=world.clinic.headers).json()
    assert case["versions"] == [0, 1] and case["latest"]["reporter_comments"] == "Reporter comments, corrected"
    older = with_message_id(data, "older-1")
    m = post(client, world.clinic, older, json=True).json()["messages"][0]
    assert m["acknowledgement"] == "CR" and m["errors"][0]["element"] == "C.1.2"


def test_mah_imports_only_cases_about_its_products(client, world, schema_settings, session):
    import datetime as dt

    from pv_service.products.models import Product

    r = post(client, world.mah, fda("Scenario1.xml"), json=True).json()["messages"][0]
    assert r["acknowledgement"] == "CR" and r["errors"][0]["element"] == "G.k.2"
    session.add(Product(code="59762-2858", inn="ingredient a", trade_name="Drug A", modality="car_t",
                        mah_organization_id=world.mah.org_id, created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    session.commit()
    r = post(client, world.mah, fda("Scenario1.xml"), json=True).json()["messages"][0]
    assert r["acknowledgement"] == "CA"
    case = client.get(f"/v1/reports/{r['case_id']}", headers=world.mah.headers).json()
    assert case["sender_id"] == world.mah.org_id and case["latest"]["drugs"][0]["product_id"] is not None
    # The other MAH neither imported it nor sees it.
    assert client.get(f"/v1/reports/{r['case_id']}", headers=world.other_mah.headers).status_code == 404


@pytest.mark.parametrize("role", ["safety", "admin"])
def test_other_roles_may_not_import(client, world, schema_settings, role):
    assert post(client, getattr(world, role), fda("Scenario1.xml")).status_code == 403


def test_refused_before_parsing(client, world, schema_settings):
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"/>'
    r = post(client, world.clinic, bomb)
    assert r.status_code == 400 and "DOCTYPE" in r.json()["detail"]
    r = post(client, world.clinic, b"<ichicsr><safetyreport/></ichicsr>")
    assert r.status_code == 400 and "E2B(R2)" in r.json()["detail"]
    r = post(client, world.clinic, fda("Scenario1.xml")[:5000])
    assert r.status_code == 400 and r.json()["detail"].startswith("malformed XML at line")
    r = client.post("/v1/e2b/batches", content=fda("Scenario1.xml"), headers={**world.clinic.headers,
                                                                                "Content-Type": "application/json"})
    assert r.status_code == 415
    assert client.get("/v1/reports", headers=world.clinic.headers).json()["items"] == []


def test_oversize_is_413(client, world, schema_settings, monkeypatch):
    from pv_service.core.settings import get_settings

    monkeypatch.setenv("PV_E2B_MAX_BYTES", "4096")
    get_settings.cache_clear()
    r = post(client, world.clinic, fda("Scenario1.xml"))
    assert r.status_code == 413


def test_without_schema_set_import_refuses_to_run(client, world, no_schemas):
    r = post(client, world.clinic, fda("Scenario1.xml"))
    assert r.status_code == 503 and "install-schemas" in r.json()["detail"]


def test_batch_wrapper_invalid_is_ar(client, world, schema_settings):
    data = fda("Scenario1.xml").replace(b'<responseModeCode code="D"/>', b"", 1)
    r = post(client, world.clinic, data, json=True)
    assert r.status_code == 422
    body = r.json()
    assert body["acknowledgement"] == "AR" and body["errors"] and body["messages"] == []


def test_fda_positive_ack_is_read():
    ack = read_ack(etree.ElementTree(etree.fromstring(fda("R3ack-positive.ack"))))
    assert (ack.batch_code, ack.batch_id, ack.local_number) == ("AA", "FAERS2022Scenario1-4069-a2dd-08002b30309d",
                                                                "427032")
    assert ack.messages == [("CA", "21ec1492-3aea-4069-a2ab-08002b30309d US-APHARMA-8744554B",
                             ["Report Loaded Successfully"])]
    assert ack.accepted


def test_imported_case_page_for_the_safety_officer(client, world, schema_settings):
    from tests.web.helpers import use_session_of

    m = post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["messages"][0]
    use_session_of(client, world.safety.user)
    html = client.get(f"/ui/cases/{m['case_id']}").text
    assert "not registered (as reported)" in html and "male" in html
    assert "Drug A" in html and "UNKNOWN" in html and "(as reported)" in html
    assert "JD" not in html


def test_meddra_version_not_loaded_names_each_reaction(client, world, schema_settings, db, tmp_path):
    # With a dictionary loaded (the made-up 90.0), FDA's MedDRA 25.0 codes are refused, one problem per
    # reaction, each at the line of its code (E.i.2.1b, lines 148 and 240) and saying which.
    from pv_service.meddra.loader import load
    from pv_service.meddra.lookup import CACHE
    from tests.conftest import NOW
    from tests.meddra import dictionaries

    load(db, dictionaries.write(tmp_path / "v0"), NOW)
    CACHE.clear()
    r = post(client, world.clinic, fda("Scenario1.xml"), json=True)
    assert r.status_code == 200, r.text
    (msg,) = r.json()["messages"]
    assert msg["acknowledgement"] == "CR"
    assert [(e["element"], e["line"], e["reason"]) for e in msg["errors"]] == [
        ("E.i.2.1", line, f"reaction {k} of 2: MedDRA 25.0 is not loaded (loaded: 90.0)")
        for k, line in ((1, 148), (2, 240))]

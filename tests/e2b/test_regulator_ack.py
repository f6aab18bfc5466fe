"""POST /v1/reports/{case_id}/submissions with the regulator's ACK as body (and the older .../ack path):
CA/AA stops the clock, CR/AR records the rejection and leaves it running; bad XML stores nothing."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pv_service.cases.clocks import clock_cases
from tests.e2b.conftest import fda
from tests.e2b.test_import import post


def _submitted(session, case_id):
    session.expire_all()
    frame = clock_cases(session)
    return frame.loc[(frame["case_id"] == case_id) & (frame["jurisdiction"] == "FDA"), "submitted_date"].iloc[0]


@pytest.mark.parametrize("path", ["submissions", "submissions/ack?jurisdiction=FDA"])
def test_fda_ack_rejected_then_accepted(client, world, schema_settings, session, fda_product, path):
    """The jurisdiction comes from the ACK's sender (ACK.M.2 ZZFDA) unless given."""
    case_id = post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["messages"][0]["case_id"]
    url = f"/v1/reports/{case_id}/{path}"
    headers = {**world.mah.headers, "Content-Type": "application/xml"}
    negative = fda("R3ack-positive.ack").replace(b'<acknowledgement typeCode="CA">', b'<acknowledgement typeCode="CR">')
    negative = negative.replace(b"Report Loaded Successfully", b"C.1.1 does not match the sender")
    r = client.post(url, content=negative, headers=headers)
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["reason"]) == ("rejected", "CR: C.1.1 does not match the sender")
    assert pd.isna(_submitted(session, case_id))  # the clock keeps running
    r = client.post(url, content=fda("R3ack-positive.ack"), headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["submitted_date"], body["reference"]) == ("accepted", "2022-08-11", "427032")
    assert str(_submitted(session, case_id))[:10] == "2022-08-11"  # ACK.M.4: the clock stops
    again = client.post(url, content=fda("R3ack-positive.ack"), headers=headers)
    assert again.status_code == 200
    listed = client.get(f"/v1/reports/{case_id}/submissions", headers=world.mah.headers).json()
    assert [s["status"] for s in listed] == ["accepted"]


def test_bad_xml_is_refused_with_the_reason_and_nothing_is_stored(client, world, schema_settings, fda_product):
    case_id = post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["messages"][0]["case_id"]
    url = f"/v1/reports/{case_id}/submissions"
    headers = {**world.safety.headers, "Content-Type": "application/xml"}
    ack = fda("R3ack-positive.ack")
    cases = {
        fda("Scenario1.xml"): "expected MCCI_IN200101UV01",
        ack[:500]: "malformed XML at line",
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + ack[39:]: "DOCTYPE",
        ack.replace(b'<creationTime value="20220811135030-0400"/>', b""): "ACK.M.4",
        ack.replace(b'typeCode="CA"', b'typeCode="XX"').replace(b'typeCode="AA"', b'typeCode="XX"'): "acknowledgement code",
        ack.replace(b'extension="ZZFDA"', b'extension="SOMEONE"'): "give the jurisdiction",
    }
    for body, reason in cases.items():
        r = client.post(url, content=body, headers=headers)
        assert r.status_code == 422 and reason in r.text, (reason, r.text)
    assert client.get(url, headers=world.safety.headers).json() == []
    r = client.post(url, json={"jurisdiction": "FDA"}, headers=world.safety.headers)  # JSON: body fields named
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "submitted_date"]
    r = client.post(url, json={"jurisdiction": "FDA", "submitted_date": "2026-11-20"}, headers=world.safety.headers)
    assert r.status_code == 201 and r.json()["status"] == "accepted"


def test_an_ack_of_another_report_is_refused(client, world, schema_settings, session, fda_product):
    """FDA's ACK acknowledges Scenario 1's report ids: posted on another case it stops no clock."""
    case_id = post(client, world.clinic, fda("Scenario2.xml"), json=True).json()["messages"][0]["case_id"]
    url = f"/v1/reports/{case_id}/submissions"
    r = client.post(url, content=fda("R3ack-positive.ack"), headers={**world.mah.headers, "Content-Type": "application/xml"})
    assert r.status_code == 422 and "US-APHARMA-8744554B" in r.text and "none of which is this case" in r.text
    assert client.get(url, headers=world.mah.headers).json() == []


def test_fdas_negative_ack_rejects_the_case_it_names(client, world, schema_settings, session, fda_product):
    """FDA's own negative ACK (tests/e2b/data/PROVENANCE.md): batch AE, message CR for US-APHARMA-7644554 with
    FDA's texts. Posted on the case with that message number it records the rejection and the clock runs on;
    on any other case it is refused."""
    negative = (Path(__file__).parent / "data" / "R3ack-negative.ack").read_bytes()
    named = fda("Scenario1.xml").replace(b"US-APHARMA-8744554B", b"US-APHARMA-7644554")
    case_id = post(client, world.clinic, named, json=True).json()["messages"][0]["case_id"]
    other = post(client, world.clinic, fda("Scenario2.xml"), json=True).json()["messages"][0]["case_id"]
    headers = {**world.mah.headers, "Content-Type": "application/xml"}
    r = client.post(f"/v1/reports/{other}/submissions", content=negative, headers=headers)
    assert r.status_code == 422 and "US-APHARMA-7644554" in r.text and "none of which is this case" in r.text
    r = client.post(f"/v1/reports/{case_id}/submissions", content=negative, headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["jurisdiction"], body["reference"]) == ("rejected", "FDA", "427044")
    assert body["reason"].startswith("CR: Element value for SafetyCasePriority With Tag Id FDA.C.1.7.1 is Mandatory.")
    assert "Patient Ethnicity Code (FDA.D.12) must be provided" in body["reason"]
    assert pd.isna(_submitted(session, case_id))  # a rejection leaves the reporting clock running

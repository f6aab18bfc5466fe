"""POST /v1/reports/{case_id}/submissions/ack: the regulator's ACK stops the clock (CA/AA) or records
the rejection and leaves it running (CR/AR)."""
from __future__ import annotations

import pandas as pd

from pv_service.cases.clocks import clock_cases
from tests.e2b.conftest import fda
from tests.e2b.test_import import post


def _submitted(session, case_id):
    session.expire_all()
    frame = clock_cases(session)
    return frame.loc[(frame["case_id"] == case_id) & (frame["jurisdiction"] == "FDA"), "submitted_date"].iloc[0]


def test_fda_ack_rejected_then_accepted(client, world, schema_settings, session, fda_product):
    case_id = post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["messages"][0]["case_id"]
    url = f"/v1/reports/{case_id}/submissions/ack?jurisdiction=FDA"
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


def test_not_an_ack(client, world, schema_settings):
    case_id = post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["messages"][0]["case_id"]
    r = client.post(f"/v1/reports/{case_id}/submissions/ack?jurisdiction=FDA", content=fda("Scenario1.xml"),
                    headers={**world.safety.headers, "Content-Type": "application/xml"})
    assert r.status_code == 422 and "expected MCCI_IN200101UV01" in r.text

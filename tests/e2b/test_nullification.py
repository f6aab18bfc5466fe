"""C.1.11 nullification: the case stays readable but leaves every statistic and queue."""
from __future__ import annotations

from pv_service.cases.clocks import clock_cases
from pv_service.signals.job import case_rows
from tests.e2b.conftest import fda
from tests.e2b.test_import import post, with_message_id

NULLIFY = (b'<subjectOf2 typeCode="SUBJ"><investigationCharacteristic classCode="OBS" moodCode="EVN">'
           b'<code code="3" codeSystem="2.16.840.1.113883.3.989.2.1.1.23" displayName="nullificationAmendmentCode"/>'
           b'<value xsi:type="CE" code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.5"/>'
           b'</investigationCharacteristic></subjectOf2>'
           b'<subjectOf2 typeCode="SUBJ"><investigationCharacteristic classCode="OBS" moodCode="EVN">'
           b'<code code="4" codeSystem="2.16.840.1.113883.3.989.2.1.1.23" displayName="nullificationAmendmentReason"/>'
           b'<value xsi:type="CE"><originalText>duplicate of another case</originalText></value>'
           b'</investigationCharacteristic></subjectOf2>')


def nullification_of(data: bytes) -> bytes:
    marker = b"<!--  C.1.9.1: Other Case Identifiers in Previous Transmissions  -->"
    at = data.index(marker)
    end = data.index(b"</subjectOf2>", at) + len(b"</subjectOf2>")  # closes the C.1.9.1 characteristic
    nullified = data[:end] + NULLIFY + data[end:]
    return with_message_id(nullified, "nullification-1").replace(
        b'<effectiveTime value="20140714151617-0500"/>', b'<effectiveTime value="20140901100000-0500"/>', 1)


def test_nullified_case_leaves_statistics_and_queues(client, world, schema_settings, session, fda_product):
    m = post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["messages"][0]
    assert m["acknowledgement"] == "CA"
    assert m["case_id"] in set(clock_cases(session)["case_id"])
    assert m["case_id"] in set(case_rows(session)["case_id"])
    n = post(client, world.clinic, nullification_of(fda("Scenario1.xml")), json=True).json()["messages"][0]
    assert (n["acknowledgement"], n["version"]) == ("CA", 1), n
    session.expire_all()
    assert m["case_id"] not in set(clock_cases(session)["case_id"])
    assert m["case_id"] not in set(case_rows(session)["case_id"])
    v = client.get(f"/v1/reports/{m['case_id']}", headers=world.clinic.headers).json()["latest"]
    assert (v["nullification"], v["nullification_reason"]) == ("nullification", "duplicate of another case")

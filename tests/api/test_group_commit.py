"""Single reports sent at the same time are stored together (group commit) yet answered each
on its own, audited in the order they were stored, and never mixed across clinics."""
from __future__ import annotations

import asyncio
import json

import httpx2 as httpx  # the test extra's httpx (what starlette.testclient uses)
import sqlalchemy as sa

from pv_service.audit import chain
from pv_service.cases import router as cases_router
from tests.api.conftest import register, report_payload, treat


def test_reports_sent_together_keep_their_own_outcomes_and_audit_order(client, app, session, world, products,
                                                                      monkeypatch):
    a_patient = register(client, world.clinic, "GC-A")
    a_treatment = treat(client, world.clinic, a_patient["id"])
    b_patient = register(client, world.other_clinic, "GC-B")
    b_treatment = treat(client, world.other_clinic, b_patient["id"], product_code="MSC-1")

    def a(case_id, version=0, **kw):
        return report_payload(a_patient["id"], a_treatment["id"], case_id=case_id, version=version, **kw)

    for case_id in ("DUP", "CONF", "FU"):
        assert client.post("/v1/reports", json=a(case_id), headers=world.clinic.headers).status_code == 201

    sent = [  # (who, payload, expected status)
        *((world.clinic, a(f"NEW-{i}"), 201) for i in range(6)),
        (world.clinic, a("DUP"), 200),  # the same version again: idempotent
        (world.clinic, a("CONF", narrative="something else"), 409),  # same version, other content
        (world.clinic, a("FU", 1, latest_info_date="2025-02-10"), 201),  # a follow-up
        (world.clinic, a("BAD", drugs=[{"treatment_id": 10**6, "role": "suspect"}]), 422),
        *((world.other_clinic, report_payload(b_patient["id"], b_treatment["id"], case_id=f"B-{i}"), 201)
          for i in range(3)),
        # clinic B naming clinic A's treatment, in a group of its own: as if it did not exist
        (world.other_clinic, report_payload(b_patient["id"], a_treatment["id"], case_id="B-X"), 422),
    ]
    stored_together: list[int] = []
    receive = cases_router._receive

    async def counting_receive(app_, principal, reports, now, views=False):
        stored_together.append(len(reports))
        return await receive(app_, principal, reports, now, views)

    monkeypatch.setattr(cases_router, "_receive", counting_receive)

    async def send_all():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*(http.post("/v1/reports", json=body, headers=who.headers)
                                          for who, body, _ in sent))

    answers = asyncio.run(send_all())
    assert [r.status_code for r in answers] == [status for _, _, status in sent], [r.text for r in answers]
    assert max(stored_together) > 1 and len(stored_together) < len(sent)  # they were grouped
    for (_, body, status), r in zip(sent, answers):
        if status in (200, 201):  # each answer is its own report's
            assert (r.json()["sender_case_id"], r.json()["latest"]["version"]) == (body["sender_case_id"], body["version"])
    assert "no such treatment" in answers[9].text and "no such treatment" in answers[-1].text

    # Every stored version has its audit record, and a clinic's versions are sealed in the order
    # they were stored (two clinics' transactions may interleave, as any two writers do).
    def in_order(rows):
        return {sender: [(case, version) for s, case, version in rows if s == sender] for sender, _, _ in rows}

    versions = session.execute(sa.text(
        "SELECT c.sender_id, c.id, v.version FROM case_version v JOIN safety_case c ON c.id = v.case_id "
        "ORDER BY v.id")).all()
    audited = session.execute(sa.text(
        "SELECT c.sender_id, a.entity_id, a.after FROM audit_record a JOIN safety_case c ON c.id = a.entity_id "
        "WHERE a.action = 'version_received' ORDER BY a.seq")).all()
    audited = [(s, e, (a if isinstance(a, dict) else json.loads(a))["version"]) for s, e, a in audited]
    assert in_order(audited) == in_order(versions)
    assert len(audited) == len(versions) == 3 + 6 + 1 + 3
    assert chain.verify(session).ok

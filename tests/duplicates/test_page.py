"""The review page: clusters side by side, confirm with a comment (audited), refusals as pages."""
from __future__ import annotations

from sqlmodel import select

from pv_service.audit.models import AuditRecord
from pv_service.duplicates.models import DuplicateCluster, DuplicateOf
from tests.duplicates.conftest import NEUTROPENIA, products, register, send, treat  # noqa: F401
from tests.web.helpers import csrf_of, use_session_of


def test_confirm_from_the_page(client, session, world, products):  # noqa: F811
    p = register(client, world.clinic, "W-1", birth_year=1958)
    t = treat(client, world.clinic, p["id"], "CART-1", "2026-04-01")
    first = send(client, world.clinic, p, t, "W-A", [NEUTROPENIA])["id"]
    second = send(client, world.clinic, p, t, "W-B", [NEUTROPENIA])["id"]
    cluster = session.exec(select(DuplicateCluster)).one()
    use_session_of(client, world.safety.user)
    page = client.get("/ui/duplicates")
    assert page.status_code == 200 and f"Cluster {cluster.id}" in page.text and "W-B" in page.text
    csrf = csrf_of(client, "/ui/duplicates")
    url = f"/ui/duplicates/{cluster.id}/confirm"
    refused = client.post(url, data={"csrf_token": csrf, "comment": " "})
    assert refused.status_code == 422 and "comment is required" in refused.text
    assert client.post(url, data={"csrf_token": "stale", "comment": "x"}).status_code == 403
    r = client.post(url, data={"csrf_token": csrf, "comment": "resent", "master_case_id": str(first)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    assert session.exec(select(DuplicateOf.case_id)).all() == [second]
    assert client.post(url, data={"csrf_token": csrf, "comment": "again"}).status_code == 409
    done = client.get("/ui/duplicates", params={"status": "confirmed"})
    assert "duplicate of" in done.text and "Undo this decision" in done.text
    record = session.exec(select(AuditRecord).where(AuditRecord.entity_type == "duplicate_cluster")).one()
    assert record.actor == "safety" and record.after["comment"] == "resent"
    # Not for other roles.
    use_session_of(client, world.clinic.user)
    assert client.get("/ui/duplicates").status_code == 403

"""Confirm, reject and undo, each audited; only safety officers review (clusters span organizations)."""
from __future__ import annotations

from sqlmodel import select

from pv_service.audit.models import AuditRecord
from pv_service.duplicates.job import duplicate_detection
from pv_service.duplicates.models import DuplicateCluster, DuplicateOf, DuplicatePair
from pv_service.signals.dataset import pair_counts
from tests.conftest import NOW
from tests.duplicates.conftest import (  # noqa: F401
    NEUTROPENIA,
    RULES,
    products,
    register,
    send,
    treat,
)


def _identical_pair(client, world):
    p = register(client, world.clinic, "R-1", birth_year=1966)
    t = treat(client, world.clinic, p["id"], "CART-1", "2026-04-01")
    first = send(client, world.clinic, p, t, "R-A", [NEUTROPENIA])
    second = send(client, world.clinic, p, t, "R-B", [NEUTROPENIA])
    assert second["possible_duplicate_of"] == [first["id"]]
    return first["id"], second["id"]


def _audit(session, cluster_id):
    return [(r.action, r.actor) for r in session.exec(select(AuditRecord).where(
        AuditRecord.entity_type == "duplicate_cluster", AuditRecord.entity_id == cluster_id).order_by(AuditRecord.id))]


def _n(session) -> int:
    pairs = pair_counts(session)
    return int(pairs.loc[pairs["event"] == "LOCAL-0100", "a"].sum())


def test_confirm_undo_reject_are_audited_and_move_the_counts(client, session, world, products):  # noqa: F811
    first, second = _identical_pair(client, world)
    cluster = session.exec(select(DuplicateCluster)).one()
    url = f"/v1/duplicates/{cluster.id}"
    h = world.safety.headers
    assert _n(session) == 2
    r = client.post(f"{url}/confirm", json={"master_case_id": 999999}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "master_case_id"]
    r = client.post(f"{url}/confirm", json={"master_case_id": second, "comment": "same CRS, resent"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.json()["master_case_id"] == second
    assert session.exec(select(DuplicateOf.case_id)).all() == [first]
    assert _n(session) == 1
    assert client.post(f"{url}/confirm", json={}, headers=h).status_code == 409
    assert client.post(f"{url}/reject", json={}, headers=h).status_code == 409
    r = client.post(f"{url}/undo", json={"comment": "wrong master"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["master_case_id"] is None
    assert session.exec(select(DuplicateOf)).all() == [] and _n(session) == 2
    assert client.post(f"{url}/undo", json={}, headers=h).status_code == 409
    r = client.post(f"{url}/reject", json={"comment": "two events"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert _audit(session, cluster.id) == [("confirmed", "safety"), ("undone", "safety"), ("rejected", "safety")]
    # A rejected pair is never suggested again: not by the nightly job, not by a resend at intake.
    duplicate_detection(session, NOW, RULES)
    session.commit()
    assert len(session.exec(select(DuplicatePair)).all()) == 1
    assert session.exec(select(DuplicatePair)).one().status == "rejected"
    assert client.get("/v1/duplicates", headers=h).json()["items"] == []
    assert len(client.get("/v1/duplicates", params={"status": "rejected"}, headers=h).json()["items"]) == 1


def test_only_safety_officers_review(client, session, world, products):  # noqa: F811
    _identical_pair(client, world)
    cluster = session.exec(select(DuplicateCluster)).one()
    for actor in (world.clinic, world.other_clinic, world.mah, world.other_mah, world.admin):
        assert client.get("/v1/duplicates", headers=actor.headers).status_code == 403
        assert client.get(f"/v1/duplicates/{cluster.id}", headers=actor.headers).status_code == 403
        for action in ("confirm", "reject", "undo"):
            assert client.post(f"/v1/duplicates/{cluster.id}/{action}", json={}, headers=actor.headers).status_code == 403
    assert client.get("/v1/duplicates").status_code == 401
    assert session.exec(select(DuplicateCluster)).one().status == "pending"
    assert client.get("/v1/duplicates/424242", headers=world.safety.headers).status_code == 404


def test_a_sender_is_told_only_of_cases_it_may_read(client, session, world, products):  # noqa: F811
    """Identical content from another organization is queued for review but never named to this sender."""
    from pv_service.auth.principal import Principal
    from pv_service.cases.intake import Submission
    from pv_service.cases.models import CaseVersion
    from pv_service.common.vocab import Role
    from pv_service.duplicates.intake_check import check

    first, second = _identical_pair(client, world)
    digest = session.exec(select(CaseVersion.content_hash).where(CaseVersion.case_id == first)).one()
    other = Principal(world.other_clinic.user.id, "clinic-b", Role.clinic, world.clinic_b.id)
    own = Principal(world.clinic.user.id, "clinic-a", Role.clinic, world.clinic_a.id)
    sub = Submission(case_id=second, version=0, created=True, content_hash=digest)
    assert check(session, other, [sub], NOW, RULES.duplicates) == {second: []}
    assert check(session, own, [sub], NOW, RULES.duplicates) == {second: [first]}

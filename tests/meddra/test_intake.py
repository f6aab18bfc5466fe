"""Coded intake: a reaction's code decides its PT and SOC; refusals and warnings on both databases
(SQLite through intake_sql, PostgreSQL through the pipelined intake_pg, and intake_sql on both)."""
from __future__ import annotations

import shutil

import pytest
from sqlmodel import Session, select

from pv_service.auth.principal import Principal
from pv_service.cases import intake_sql
from pv_service.cases.models import CaseReaction
from pv_service.cases.schemas import ReportIn
from pv_service.common.vocab import Role
from pv_service.core.settings import PROJECT_ROOT, get_settings
from pv_service.jobs import definitions
from pv_service.meddra.loader import load
from pv_service.meddra.lookup import CACHE
from tests.api.conftest import report_payload
from tests.conftest import NOW
from tests.meddra import dictionaries


def reaction(**fields):
    return {"onset_date": "2025-01-12", "seriousness": {"hospitalisation": True}, "outcome": "recovered", **fields}


def post(client, world, treated, reactions, case_id="CASE-M"):
    p, t = treated
    return client.post("/v1/reports", json=report_payload(p["id"], t["id"], case_id=case_id, reactions=reactions),
                       headers=world.clinic.headers)


def stored(db):
    with Session(db) as s:
        return [(r.meddra_version, r.llt_code, r.llt_name, r.pt_code, r.pt_name, r.soc_code, r.reported_llt_code,
                 r.reported_pt_code) for r in s.exec(select(CaseReaction).order_by(CaseReaction.id))]


@pytest.fixture
def coded(db, tmp_path):
    load(db, dictionaries.write(tmp_path / "v0"), NOW)
    CACHE.clear()  # so each store reads the version itself the first time, as a new process does
    return db


def test_without_a_dictionary_intake_is_as_before(client, world, treated, db):
    r = post(client, world, treated, [reaction(pt_code="LOCAL-0001", pt_name="Cytokine release syndrome")])
    assert r.status_code == 201, r.text
    assert stored(db) == [(None, None, None, "LOCAL-0001", "Cytokine release syndrome", None, None, "LOCAL-0001")]
    missing = post(client, world, treated, [reaction(pt_code="LOCAL-0001")], case_id="CASE-N")
    assert missing.status_code == 422
    assert missing.json()["detail"] == [{"loc": ["body", "reactions", 0, "pt_name"], "type": "missing",
                                         "msg": "required (no MedDRA dictionary is loaded to derive it from a code)"}]


def test_llt_code_derives_pt_and_primary_soc(client, world, treated, coded):
    # The name's case and spacing do not matter: the code decides, the dictionary's names are stored.
    r = post(client, world, treated, [reaction(meddra_version="90.0", llt_code="90000402", llt_name="  crs "),
                                      reaction(meddra_version="90.0", pt_code="90000301", pt_name="T-CELL LYMPHOMA")])
    assert r.status_code == 201, r.text
    assert r.json()["warnings"] == []
    assert stored(coded) == [
        ("90.0", "90000402", "CRS", "90000302", "Cytokine release syndrome", "90000003", "90000402", None),
        # The multi-axial PT's primary SOC (Neoplasms), not its secondary one (Blood).
        ("90.0", None, None, "90000301", "T-cell lymphoma", "90000002", None, "90000301")]
    shown = r.json()["latest"]["reactions"][0]
    assert (shown["pt_code"], shown["pt_name"], shown["soc_code"], shown["reported_llt_code"]) == (
        "90000302", "Cytokine release syndrome", "90000003", "90000402")
    case_id = r.json()["id"]
    assert client.get(f"/v1/reports/{case_id}", headers=world.safety.headers).json()["latest"]["reactions"][0] == shown
    # Resent with the names in other case: the same report, not a conflict.
    again = post(client, world, treated, [reaction(meddra_version="90.0", llt_code="90000402", llt_name="CRS"),
                                          reaction(meddra_version="90.0", pt_code="90000301", pt_name="t-cell lymphoma")])
    assert again.status_code == 200, again.text


def test_refusals_name_reaction_code_version_and_reason(client, world, treated, coded):
    r = post(client, world, treated, [
        reaction(meddra_version="90.0", llt_code="90000402"),  # fine: the others are not
        reaction(meddra_version="90.0", llt_code="90009999"),
        reaction(meddra_version="27.1", llt_code="90000402"),
        reaction(meddra_version="90.0", llt_code="90000402", pt_name="Neutropenia"),
        reaction(meddra_version="90.0", llt_code="90000402", pt_code="90000303"),
        reaction(meddra_version="90.0", pt_code="LOCAL-0001", pt_name="Cytokine release syndrome"),
        reaction(llt_code="90000402"),
    ])
    assert r.status_code == 422
    assert [(d["loc"], d["msg"]) for d in r.json()["detail"]] == [
        (["body", "reactions", 1, "llt_code"], "reaction 1: 90009999 is not an LLT in MedDRA 90.0"),
        (["body", "reactions", 2, "meddra_version"], "reaction 2: MedDRA 27.1 is not loaded (loaded: 90.0)"),
        (["body", "reactions", 3, "pt_name"], "reaction 3: 'Neutropenia' contradicts the code's PT 90000302, "
                                              "which is 'Cytokine release syndrome' in MedDRA 90.0"),
        (["body", "reactions", 4, "pt_code"], "reaction 4: 90000303 contradicts llt_code 90000402, whose PT in "
                                              "MedDRA 90.0 is 90000302"),
        (["body", "reactions", 5, "pt_code"], "reaction 5: 'LOCAL-0001' is not an 8-digit MedDRA code"),
        (["body", "reactions", 6, "meddra_version"], "reaction 6: required: codes are checked against the loaded "
                                                     "MedDRA (90.0)")]
    assert stored(coded) == []


def test_non_current_llt_warns_or_is_refused_by_the_rule(client, world, treated, coded, tmp_path, monkeypatch):
    r = post(client, world, treated, [reaction(meddra_version="90.0", llt_code="90000401")])
    assert r.status_code == 201, r.text
    assert r.json()["warnings"] == [{
        "loc": ["body", "reactions", 0, "llt_code"], "type": "meddra_non_current_llt",
        "msg": "reaction 0: LLT 90000401 ('T cell lymphoma NOS') is not current in MedDRA 90.0; stored as sent"}]
    assert stored(coded)[0][:5] == ("90.0", "90000401", "T cell lymphoma NOS", "90000301", "T-cell lymphoma")
    rules = tmp_path / "alerts"
    shutil.copytree(PROJECT_ROOT / "alerts", rules)
    (rules / "meddra_coding.yaml").write_text("non_current_llt: refuse\n")
    monkeypatch.setenv("PV_RULES_DIR", str(rules))
    get_settings.cache_clear()
    definitions.current_rules.cache_clear()
    try:
        refused = post(client, world, treated, [reaction(meddra_version="90.0", llt_code="90000401")], case_id="CASE-2")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        definitions.current_rules.cache_clear()
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "meddra_non_current_llt"
    assert "code a current LLT" in refused.json()["detail"][0]["msg"]


def test_batch_items_coded_alone_both_stores(client, world, treated, coded):
    """Over 100 items PostgreSQL takes the chunked path; each item stands or falls on its own coding."""
    p, t = treated
    reports = [report_payload(p["id"], t["id"], case_id=f"B-{i}", reactions=[
        reaction(meddra_version="90.0", llt_code="90000403" if i % 50 else "90000999")]) for i in range(120)]
    r = client.post("/v1/reports/batch", json={"reports": reports}, headers=world.clinic.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["created"], out["failed"]) == (117, 3)
    bad = [x for x in out["results"] if x["status"] == 422]
    assert [x["index"] for x in bad] == [0, 50, 100]
    assert bad[0]["errors"][0]["msg"] == "reaction 0: 90000999 is not an LLT in MedDRA 90.0"
    assert {row[3:6] for row in stored(coded)} == {("90000303", "Neutropenia", "90000001")}


def test_generic_store_codes_the_same_on_both_databases(session, world, treated, coded):
    p, t = treated
    principal = Principal(world.clinic.user.id, "clinic-a", Role.clinic, world.clinic.org_id, "CN")
    reports = [ReportIn.model_validate(report_payload(p["id"], t["id"], case_id=f"S-{i}", reactions=[r]))
               for i, r in enumerate([reaction(meddra_version="90.0", llt_code="90000401"),
                                      reaction(meddra_version="90.0", llt_code="90000401", llt_name="Neutropenia")])]
    ok, refused = intake_sql.submit_many(session, principal, reports, NOW)
    session.commit()
    assert ok.submission.created and [w.type for w in ok.submission.warnings] == ["meddra_non_current_llt"]
    assert refused.error.status_code == 422 and refused.error.problems[0].loc == ("body", "reactions", 0, "llt_name")
    assert stored(coded) == [("90.0", "90000401", "T cell lymphoma NOS", "90000301", "T-cell lymphoma", "90000002",
                              "90000401", None)]

"""`pv-service meddra recode --to X`: reactions follow the dictionary, the reported coding stays, each move audited."""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from pv_service.meddra.loader import load
from pv_service.meddra.recode import recode
from tests.api.conftest import report_payload
from tests.conftest import NOW
from tests.meddra import dictionaries
from tests.meddra.test_intake import reaction


def _coding(db):
    with db.connect() as conn:
        return conn.execute(sa.text(
            "SELECT meddra_version, llt_code, pt_code, pt_name, soc_code, reported_meddra_version, reported_llt_code, "
            "reported_pt_code FROM case_reaction ORDER BY id")).all()


def _post(client, world, treated, case_id, reactions):
    p, t = treated
    r = client.post("/v1/reports", json=report_payload(p["id"], t["id"], case_id=case_id, reactions=reactions),
                    headers=world.clinic.headers)
    assert r.status_code == 201, r.text


def test_recode_to_the_next_version(client, world, treated, db, tmp_path):
    _post(client, world, treated, "OLD", [reaction(pt_code="LOCAL-0001", pt_name="Cytokine release syndrome")])
    load(db, dictionaries.write(tmp_path / "v0"), NOW)
    v = "90.0"
    _post(client, world, treated, "NEW", [
        reaction(meddra_version=v, llt_code="90000402"),  # moves to PT 90000303
        reaction(meddra_version=v, llt_code="90000403"),  # becomes non-current (and its PT is renamed)
        reaction(meddra_version=v, pt_code="90000301"),  # its primary SOC changes
        reaction(meddra_version=v, llt_code="90000302")])  # nothing but the version
    load(db, dictionaries.write(tmp_path / "v1", dictionaries.next_version()), NOW)
    with Session(db) as session:
        report = recode(session, "90.1", NOW)
        session.commit()
    assert report.counts() == {"examined": 5, "recoded": 4, "already_at_target": 0, "uncoded": 1, "not_in_target": 0,
                               "moved_to_another_pt": 1, "primary_soc_changed": 2, "renamed": 2,
                               "became_non_current": 1, "version_only": 1}
    moved = report.changes[0]
    assert report.lines()[1] == (f"  reaction {moved.reaction_id} (case {moved.case_id} v0) LLT 90000402: PT 90000302 "
                                 "'Cytokine release syndrome' SOC 90000003 (90.0) -> PT 90000303 'Neutropenia (all "
                                 "grades)' SOC 90000001: moved_to_another_pt, primary_soc_changed, renamed")
    assert len(report.lines()) == 4  # the counts, and the three reactions whose coding changed
    assert [c.reasons for c in report.changes] == [
        ["moved_to_another_pt", "primary_soc_changed", "renamed"], ["became_non_current", "renamed"],
        ["primary_soc_changed"], ["version_only"]]
    assert _coding(db) == [
        (None, None, "LOCAL-0001", "Cytokine release syndrome", None, None, None, "LOCAL-0001"),
        ("90.1", "90000402", "90000303", "Neutropenia (all grades)", "90000001", v, "90000402", None),
        ("90.1", "90000403", "90000303", "Neutropenia (all grades)", "90000001", v, "90000403", None),
        ("90.1", None, "90000301", "T-cell lymphoma", "90000001", v, None, "90000301"),
        ("90.1", "90000302", "90000302", "Cytokine release syndrome", "90000003", v, "90000302", None)]
    with db.connect() as conn:
        audited = conn.execute(sa.text("SELECT entity_id, before, after FROM audit_record WHERE action = "
                                       "'meddra_recoded' ORDER BY seq")).all()
    assert [a.entity_id for a in audited] == [c.reaction_id for c in report.changes]
    first = audited[0]
    before, after = (x if isinstance(x, dict) else json.loads(x) for x in (first.before, first.after))
    assert (before["pt_code"], after["pt_code"], after["reasons"][0]) == ("90000302", "90000303", "moved_to_another_pt")
    # Idempotent: nothing left to recode, nothing audited twice.
    with Session(db) as session:
        again = recode(session, "90.1", NOW)
        session.commit()
    assert (again.counts()["recoded"], again.counts()["already_at_target"]) == (0, 4)
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_record WHERE action = 'meddra_recoded'")).scalar_one() == 4
    # A report resent as first coded is the same report, though its reactions were recoded since.
    _post_again = client.post("/v1/reports", headers=world.clinic.headers, json=report_payload(
        treated[0]["id"], treated[1]["id"], case_id="NEW", reactions=[
            reaction(meddra_version=v, llt_code="90000402"), reaction(meddra_version=v, llt_code="90000403"),
            reaction(meddra_version=v, pt_code="90000301"), reaction(meddra_version=v, llt_code="90000302")]))
    assert _post_again.status_code == 200, _post_again.text


def test_recode_cli_reports_changes_and_refuses_an_unloaded_version(migrated_cli, tmp_path):
    from pv_service.cli import app

    runner = CliRunner()
    load(migrated_cli, dictionaries.write(tmp_path / "v0"), NOW)
    refused = runner.invoke(app, ["meddra", "recode", "--to", "90.1"])
    assert refused.exit_code == 2 and "MedDRA 90.1 is not loaded (loaded: 90.0)" in refused.output
    load(migrated_cli, dictionaries.write(tmp_path / "v1", dictionaries.next_version()), NOW)
    ok = runner.invoke(app, ["meddra", "recode", "--to", "90.1"])
    assert ok.exit_code == 0, ok.output
    assert "recode to MedDRA 90.1: examined=0, recoded=0" in ok.output


def test_signal_runs_record_the_meddra_versions_they_counted(client, world, treated, db, tmp_path):
    from pv_service.signals.runs import run_signals

    _post(client, world, treated, "OLD", [reaction(pt_code="LOCAL-0001", pt_name="Cytokine release syndrome")])
    load(db, dictionaries.write(tmp_path / "v0"), NOW)
    _post(client, world, treated, "NEW", [reaction(meddra_version="90.0", llt_code="90000402")])
    with Session(db) as session:
        run = run_signals(session, NOW)
        assert run.params["meddra_versions"] == ["90.0", None]  # None: reactions stored uncoded


def test_a_code_the_target_lacks_is_left_and_listed():
    from collections import namedtuple

    from pv_service.meddra.lookup import Dictionary
    from pv_service.meddra.recode import plan

    old = Dictionary.of("1.0", "a", [("llt", "10000009", "Gone", "gone", "10000001", True, None),
                                     ("pt", "10000001", "P", "p", "10000001", True, "10000100")])
    new = Dictionary.of("2.0", "b", [("pt", "10000001", "P", "p", "10000001", True, "10000100")])
    Row = namedtuple("Row", "id case_id case_version meddra_version llt_code llt_name pt_code pt_name soc_code")
    report = plan([Row(7, 3, 0, "1.0", "10000009", "Gone", "10000001", "P", "10000100")], {"1.0": old, "2.0": new}, "2.0")
    assert report.counts()["not_in_target"] == 1 and report.changes == []
    assert report.lines()[1] == "  reaction 7 (case 3): code 10000009 of MedDRA 1.0 is not an LLT in 2.0: left as it was"

"""The command line: clear messages and non-zero exits on bad input."""
from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from pv_service.cli import app
from pv_service.core import db as core_db
from pv_service.core.migrate import upgrade
from pv_service.core.settings import PROJECT_ROOT, get_settings
from pv_service.jobs import definitions

runner = CliRunner()


@pytest.fixture
def migrated(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PV_DATABASE_URL", url)
    get_settings.cache_clear()
    core_db.get_engine.cache_clear()
    definitions.current_rules.cache_clear()
    upgrade(core_db.get_engine())
    yield tmp_path
    core_db.get_engine().dispose()
    get_settings.cache_clear()
    core_db.get_engine.cache_clear()
    definitions.current_rules.cache_clear()


def test_serve_refuses_invalid_rules_naming_file_and_line(migrated, monkeypatch):
    rules = migrated / "alerts"
    shutil.copytree(PROJECT_ROOT / "alerts", rules)
    path = rules / "signal_rules.yaml"
    lines = path.read_text().splitlines()
    line_no = next(i for i, line in enumerate(lines, 1) if line.startswith("min_count:"))
    path.write_text("\n".join(line.replace("min_count: 3", "min_count: -3") for line in lines) + "\n")
    monkeypatch.setenv("PV_RULES_DIR", str(rules))
    get_settings.cache_clear()
    result = runner.invoke(app, ["serve", "--port", "8799"])
    assert result.exit_code == 2
    assert f"signal_rules.yaml:{line_no}:" in result.output and "min_count: must be >= 1" in result.output


def test_admin_commands_and_errors(migrated):
    ok = runner.invoke(app, ["create-org", "--name", "Ops", "--kind", "operator"])
    assert ok.exit_code == 0, ok.output
    bad_kind = runner.invoke(app, ["create-org", "--name", "X", "--kind", "pharmacy"])
    assert bad_kind.exit_code == 2 and "kind" in bad_kind.output
    user = runner.invoke(app, ["create-user", "--username", "alice", "--role", "admin", "--organization", "Ops",
                               "--password", "long-enough-pw"])
    assert user.exit_code == 0, user.output
    again = runner.invoke(app, ["create-user", "--username", "alice", "--role", "admin", "--password", "long-enough-pw"])
    assert again.exit_code == 2 and "exists" in again.output
    feed = runner.invoke(app, ["create-user", "--username", "emr-feed", "--role", "admin", "--service-account"])
    assert feed.exit_code == 0, feed.output
    with core_db.get_engine().connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM app_user WHERE username = 'emr-feed'").scalar_one()
    assert stored is None
    both = runner.invoke(app, ["create-user", "--username", "x-feed", "--role", "admin", "--service-account",
                               "--password", "long-enough-pw"])
    assert both.exit_code == 2 and "not both" in both.output
    clinic_without_org = runner.invoke(app, ["create-user", "--username", "bob", "--role", "clinic",
                                             "--password", "long-enough-pw"])
    assert clinic_without_org.exit_code == 2 and "organization_id" in clinic_without_org.output
    assert runner.invoke(app, ["run-job", "nope"]).exit_code == 2
    assert runner.invoke(app, ["run-job", "reporting-clocks", "--as-of", "23/11/2026"]).exit_code == 2
    ran = runner.invoke(app, ["run-job", "reporting-clocks", "--as-of", "2026-11-23"])
    assert ran.exit_code == 0 and "succeeded" in ran.output
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0 and "intact" in verified.output


def test_commands_refuse_an_unmigrated_database(tmp_path, monkeypatch):
    monkeypatch.setenv("PV_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    core_db.get_engine.cache_clear()
    try:
        result = runner.invoke(app, ["run-job", "reporting-clocks"])
        assert result.exit_code == 2 and "pv-service migrate" in result.output
    finally:
        get_settings.cache_clear()
        core_db.get_engine.cache_clear()

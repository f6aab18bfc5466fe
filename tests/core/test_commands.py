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


@pytest.fixture
def latin1_rules(migrated, monkeypatch):
    """A copy of the rules where one comment is Latin-1, not UTF-8."""
    rules = migrated / "alerts"
    shutil.copytree(PROJECT_ROOT / "alerts", rules)
    path = rules / "followup_plans.yaml"
    lines = path.read_bytes().split(b"\n")
    lines[1] = b"# r\xe9sum\xe9"
    path.write_bytes(b"\n".join(lines))
    monkeypatch.setenv("PV_RULES_DIR", str(rules))
    get_settings.cache_clear()
    return path


@pytest.mark.parametrize("command", [
    ["serve", "--port", "8799"], ["scheduler"], ["run-job", "followup-compliance"], ["demo", "--no-serve"],
    ["export", "compliance", "-o", "out.json"],
])
def test_every_command_that_loads_rules_names_the_bad_file_in_one_line(latin1_rules, command, monkeypatch):
    monkeypatch.chdir(latin1_rules.parent.parent)
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert result.output == "error: alerts/followup_plans.yaml:2:4: not valid UTF-8 (byte 0xe9)\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_signal_groups_file_alias_bomb_is_refused_at_once(tmp_path):
    import time

    rows = tmp_path / "rows.csv"
    rows.write_text("report_id,product,event\n1,A,x\n2,B,y\n")
    groups = tmp_path / "groups.yaml"
    bomb = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    groups.write_text("\n".join(bomb) + "\n")
    started = time.monotonic()
    result = runner.invoke(app, ["signals", "compute", str(rows), "-o", str(tmp_path / "out.csv"),
                                 "--groups", str(groups)])
    assert time.monotonic() - started < 5
    assert result.exit_code == 2 and f"{groups}:5:" in result.output and "aliases" in result.output, result.output
    groups.write_bytes(b"G:\n  - caf\xe9\n")
    result = runner.invoke(app, ["signals", "compute", str(rows), "-o", str(tmp_path / "out.csv"),
                                 "--groups", str(groups)])
    assert result.exit_code == 2 and f"{groups}:2:" in result.output and "UTF-8" in result.output, result.output


def test_serve_gives_slow_starting_workers_time_before_uvicorn_kills_them(migrated, monkeypatch):
    """uvicorn pings each worker and kills one that has not answered within 5 s by default: workers
    importing this module (pandas and scipy) on a busy 2-core machine took 5.3 s, so they were killed over and over."""
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    result = runner.invoke(app, ["serve", "--port", "8799"])
    assert result.exit_code == 0, result.output
    assert seen["timeout_worker_healthcheck"] >= 20


def test_the_command_line_starts_without_loading_the_signal_engine():
    """`pv-service --help` and the small commands mount every sub-app; importing the engine
    (numpy, pandas, scipy, DuckDB) there made each of them take 2.4 s instead of 0.6."""
    import os
    import subprocess
    import sys

    probe = ("import sys\nsys.argv = ['pv-service', 'signals', 'compute', '--help']\n"
             "from pv_service.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
             "heavy = ('numpy', 'pandas', 'scipy', 'duckdb', 'pyarrow', 'pv_service.rules')\n"
             "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n")
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True,
                         env=env)
    assert "--memory-limit" in out.stdout and "--max-strata-levels" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "LOADED []", out.stdout


def test_main_words_a_rules_error_and_lets_other_errors_through(monkeypatch, capsys):
    from pv_service import cli
    from pv_service.rules import RulesError

    def rules_fail():
        raise RulesError(["alerts/x.yaml:3:1: bad"])
    monkeypatch.setattr(cli, "app", rules_fail)
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 2 and "error: alerts/x.yaml:3:1: bad" in capsys.readouterr().err

    def other_fail():
        raise KeyError("not ours")
    monkeypatch.setattr(cli, "app", other_fail)
    with pytest.raises(KeyError):
        cli.main()

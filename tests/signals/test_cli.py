"""The analyst CLI, through typer's CliRunner (and once as ``python -m``)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pv_service.signals.cli import app
from pv_service.signals.compute import OUTPUT_COLUMNS

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_compute_writes_table_and_hyperparameters(tmp_path, caers_csv):
    out, hyper = tmp_path / "out.csv", tmp_path / "hyper.json"
    result = _run("compute", caers_csv, "-o", out, "--strata", "sex", "--min-count", 2,
                  "--hyper-out", hyper, "--no-progress")
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == list(OUTPUT_COLUMNS)
    assert table["n"].min() >= 2
    info = json.loads(hyper.read_text())
    assert {"alpha1", "beta1", "alpha2", "beta2", "p", "log_likelihood", "converged"} <= set(info)
    assert info["converged"] is True and info["log_likelihood"] < 0
    assert "pairs written" in result.stderr


def test_groups_and_comparator_options(tmp_path, caers_csv):
    groups = tmp_path / "groups.yaml"
    groups.write_text("Breathing:\n  - DYSPNOEA\n  - CHOKING\n")
    out = tmp_path / "out.csv"
    result = _run("compute", caers_csv, "-o", out, "--groups", groups,
                  "--comparator", "REUMOFAN PLUS", "--comparator", "HYDROXYCUT CAPSULES")
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(out)
    assert set(table["product"]) <= {"REUMOFAN PLUS", "HYDROXYCUT CAPSULES"}
    assert "DYSPNOEA" not in set(table["event"])


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, args, message", [
    (None, [], "not found"),
    ("", [], "empty"),
    ("report_id,product,event\n", [], "no rows"),
    ("report_id,product\n1,A\n", [], "lacks column(s) event"),
    ("report_id,product,event\n1,A,e\n", ["--strata", "sex"], "lacks column(s) sex"),
    ("report_id,product,event,sex\n1,A,e,F\n2,A,e,\n", ["--strata", "sex"], "'sex' is empty on 1 row"),
    ("report_id,product,event,sex\n1,A,e,F\n1,A,f,M\n", ["--strata", "sex"], "different strata"),
    ("report_id,product,event,age\n" + "".join(f"{i},A,e,{i}\n" for i in range(60)),
     ["--strata", "age"], "band it"),
    ("report_id,product,event\n1,A,\n", [], "'event' is empty"),
])
def test_unusable_input_exits_2_with_a_message(tmp_path, text, args, message):
    path = tmp_path / "missing.csv" if text is None else _csv(tmp_path, text)
    result = _run("compute", path, "-o", tmp_path / "out.csv", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out.csv").exists()


def test_bad_groups_file_exits_2(tmp_path, caers_csv):
    groups = tmp_path / "groups.yaml"
    groups.write_text("- just\n- a list\n")
    result = _run("compute", caers_csv, "-o", tmp_path / "o.csv", "--groups", groups)
    assert result.exit_code == 2 and "group names" in result.stderr


def test_runs_as_module(tmp_path):
    path = _csv(tmp_path, "report_id,product,event\n1,A,e\n2,A,f\n3,B,e\n")
    out = tmp_path / "out.csv"
    proc = subprocess.run([sys.executable, "-m", "pv_service.signals.cli", "compute", str(path),
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(out)) == 3


def test_prior_from_hyper_out_skips_the_fit_and_reproduces_the_scores(tmp_path, caers_csv):
    first, hyper = tmp_path / "first.csv", tmp_path / "hyper.json"
    r = _run("compute", caers_csv, "-o", first, "--hyper-out", hyper, "--no-progress")
    assert r.exit_code == 0, r.stderr
    assert "MGPS: fitted prior: converged" in r.stderr
    again, hyper2 = tmp_path / "again.csv", tmp_path / "hyper2.json"
    r = _run("compute", caers_csv, "-o", again, "--prior", hyper, "--hyper-out", hyper2, "--no-progress")
    assert r.exit_code == 0, r.stderr
    assert "MGPS: supplied prior (hyper.json)" in r.stderr
    a, b = pd.read_csv(first), pd.read_csv(again)
    pd.testing.assert_frame_equal(a[["ebgm", "eb05", "eb95"]], b[["ebgm", "eb05", "eb95"]], rtol=1e-12)
    info = json.loads(hyper2.read_text())
    assert info["source"] == "supplied" and info["origin"] == "hyper.json" and "starts" not in info


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not JSON"),
    ('{"alpha1": 1, "beta1": 1, "alpha2": 2, "beta2": 2}', "'p' is missing"),
    ('{"alpha1": 1, "beta1": 1, "alpha2": 2, "beta2": 2, "p": null}', "'p' must be a finite number"),
    ('{"alpha1": -1, "beta1": 1, "alpha2": 2, "beta2": 2, "p": 0.5}', "'alpha1' must be a finite number > 0"),
    ('{"converged": false, "reason": "too few pairs"}', "holds no usable prior"),
])
def test_bad_prior_file_is_a_clear_error(tmp_path, caers_csv, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = _run("compute", caers_csv, "-o", tmp_path / "o.csv", "--prior", bad, "--no-progress")
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr
    r = _run("compute", caers_csv, "-o", tmp_path / "o.csv", "--prior", tmp_path / "missing.json")
    assert r.exit_code == 2 and "prior file not found" in r.stderr

"""`pv-service signals compute --level ...`: events are PT codes, counted at the level of a dictionary
given as a distribution directory (parsed by the loader's own reader) or as a version loaded in the
database. Counts checked by hand on tests/meddra/dictionaries.SMALL (see test_levels.py)."""
from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from pv_service.meddra.loader import load
from pv_service.signals.cli import app
from tests.conftest import NOW
from tests.meddra import dictionaries

runner = CliRunner()
ROWS = """report_id,product,event
1,X,90000301
1,X,90000303
2,X,90000303
3,X,90000302
4,Y,90000301
5,Y,90000302
5,Y,90000302
6,Y,90000303
"""


def _run(*args):
    return runner.invoke(app, ["compute", *[str(a) for a in args], "--no-progress"])


@pytest.fixture
def inputs(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text(ROWS)
    return rows, dictionaries.write(tmp_path / "dict"), tmp_path / "out.csv"


def test_soc_level_from_a_distribution_directory(inputs):
    rows, directory, out = inputs
    result = _run(rows, "-o", out, "--level", "soc", "--meddra", directory)
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(out, dtype={"event": str}).set_index(["product", "event"])
    # Primary SOCs: 301 -> 002, 302 -> 003, 303 -> 001.  SOC 001: reports 1, 2, 6; X: 1, 2, 3; total 6.
    assert tuple(table.loc[("X", "90000001"), ["n", "n_product", "n_event", "n_total"]]) == (2, 3, 3, 6)
    assert table.loc[("X", "90000001"), "event_name"] == "Blood and lymphatic system disorders (synthetic)"
    # a=2, b=1, c=1, d=2: PRR = (2/3)/(1/3) = 2, ROR = 4.
    assert table.loc[("X", "90000001"), "prr"] == pytest.approx(2.0)
    assert table.loc[("X", "90000001"), "ror"] == pytest.approx(4.0)
    every = _run(rows, "-o", out, "--level", "soc", "--paths", "all", "--meddra", directory)
    assert every.exit_code == 0, every.stderr
    table = pd.read_csv(out, dtype={"event": str}).set_index(["product", "event"])
    # All paths: report 4 (T-cell lymphoma) joins SOC 001; report 1 still counts once there.
    assert tuple(table.loc[("Y", "90000001"), ["n", "n_event"]]) == (2, 4)


def test_smq_level_narrow_and_broad(inputs):
    rows, directory, out = inputs
    assert _run(rows, "-o", out, "--level", "smq", "--meddra", directory).exit_code == 0
    narrow = pd.read_csv(out, dtype={"event": str}).set_index(["product", "event"])
    assert tuple(narrow.loc[("X", "90000501"), ["n", "n_event"]]) == (1, 2)  # PT 301: reports 1, 4
    assert _run(rows, "-o", out, "--level", "smq", "--scope", "broad", "--meddra", directory).exit_code == 0
    broad = pd.read_csv(out, dtype={"event": str}).set_index(["product", "event"])
    assert tuple(broad.loc[("X", "90000501"), ["n", "n_event"]]) == (2, 4)  # + PT 303: reports 1, 2, 4, 6


@pytest.mark.parametrize("args,message", [
    (["--level", "hlt"], "--level hlt needs a dictionary"),
    (["--level", "llt", "--meddra", "DIR"], "level 'llt' is not one of pt, hlt, hlgt, soc, smq"),
    (["--level", "soc", "--paths", "some", "--meddra", "DIR"], "paths 'some' is not one of primary, all"),
    (["--level", "hlt", "--meddra", "DIR", "--meddra-version", "90.0"], "not both"),
    (["--level", "hlt", "--meddra", "NOWHERE"], "--meddra: "),
])
def test_bad_level_options_exit_2_with_a_message(inputs, args, message):
    rows, directory, out = inputs
    args = [directory if a == "DIR" else (directory / "nowhere" if a == "NOWHERE" else a) for a in args]
    result = _run(rows, "-o", out, *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_pt_codes_are_refused(inputs):
    rows, directory, out = inputs
    rows.write_text(ROWS + "7,X,12345678\n")
    result = _run(rows, "-o", out, "--level", "hlt", "--meddra", directory)
    assert result.exit_code == 2 and "12345678" in result.stderr and "not PTs of MedDRA 90.0" in result.stderr


def test_hlt_level_from_a_version_loaded_in_the_database(db, inputs, monkeypatch):
    rows, directory, out = inputs
    load(db, directory, NOW)
    import pv_service.cli as main_cli
    monkeypatch.setattr(main_cli, "_engine", lambda: db)
    result = _run(rows, "-o", out, "--level", "hlt", "--meddra-version", "90.0")
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(out, dtype={"event": str}).set_index(["product", "event"])
    # HLT 201 (primary of 303): reports 1, 2, 6; X: 1, 2.
    assert tuple(table.loc[("X", "90000201"), ["n", "n_product", "n_event", "n_total"]]) == (2, 3, 3, 6)
    missing = _run(rows, "-o", out, "--level", "hlt", "--meddra-version", "27.1")
    assert missing.exit_code == 2 and "MedDRA 27.1 is not loaded (loaded: 90.0)" in missing.stderr

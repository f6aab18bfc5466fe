"""``pv-service export compliance``: files written, and clear errors with exit code 2."""
from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from pv_service.cli import app
from pv_service.core import db as core_db


@pytest.fixture
def cli(db, monkeypatch):
    """Run the CLI against the test database (its engine carries the per-process PostgreSQL schema)."""
    monkeypatch.setattr(core_db, "get_engine", lambda: db)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["export", "compliance", *args])

    return run


def test_writes_each_format(cli, cohort, tmp_path):
    out = tmp_path / "cart.pdf"
    r = cli("--product", "CART-1", "--as-of", "2026-11-23", "--format", "pdf", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "CART-1 as of 2026-11-23 for 2025-11-24 to 2026-11-23" in r.output
    text = " ".join(PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text().split())
    assert "Compliance summary: CART-1" in text and "Patients treated: 6" in text
    # the format follows the file name when --format is omitted
    r = cli("--product", "CART-1", "--as-of", "2026-11-23", "-o", str(tmp_path / "cart.json"))
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "cart.json").read_text())
    assert doc["products"][0]["key_figures"]["followup"]["patients_lost_to_follow_up"] == 1
    for name in ("cart.xlsx", "cart.zip"):
        assert cli("--product", "CART-1", "--as-of", "2026-11-23", "-o", str(tmp_path / name)).exit_code == 0
    assert (tmp_path / "cart.zip").read_bytes()[:2] == b"PK" and (tmp_path / "cart.xlsx").read_bytes()[:2] == b"PK"


@pytest.mark.parametrize("args, message", [
    (["--product", "NOPE"], "no product 'NOPE'; products: CART-1, MSC-1"),
    (["--product", "CART-1", "--as-of", "2026-13-01"], "--as-of '2026-13-01' is not a date"),
    (["--product", "CART-1", "--start", "yesterday"], "--start 'yesterday' is not a date"),
    (["--product", "CART-1", "--end", "0001-01-01"], "--end '0001-01-01' is outside 1900-01-01..2100-12-31"),
    (["--product", "CART-1", "--as-of", "2026-01-01", "--end", "2026-02-01"], "end 2026-02-01 is after the as-of date"),
    (["--product", "CART-1", "--format", "docx"], "--format must be one of json, csv, xlsx, pdf"),
])
def test_argument_errors(cli, cohort, tmp_path, args, message):
    out = tmp_path / "x.pdf"
    r = cli(*args, "-o", str(out))
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_unwritable_paths(cli, cohort, tmp_path):
    r = cli("--product", "CART-1", "-o", str(tmp_path / "missing-dir" / "x.pdf"))
    assert r.exit_code == 2 and "does not exist" in r.output
    r = cli("--product", "CART-1", "-o", str(tmp_path))
    assert r.exit_code == 2 and "is a directory" in r.output
    r = cli("--product", "CART-1", "-o", str(tmp_path / "summary.txt"))
    assert r.exit_code == 2 and "cannot tell the format" in r.output

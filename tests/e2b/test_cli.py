"""`pv-service e2b import FILE... --user U [--ack-out DIR]` (SQLite through the CLI's settings)."""
from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from pv_service.cli import app
from pv_service.e2b import reader, schema_set
from pv_service.e2b.ack import read as read_ack
from tests.e2b.conftest import FDA, ICH_XSD, shared

pytestmark = pytest.mark.usefixtures("reading")  # each test in this process and with reader processes


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    from pv_service.core import db as core_db
    from pv_service.core.migrate import upgrade
    from pv_service.core.settings import get_settings

    monkeypatch.setenv("PV_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PV_E2B_SCHEMA_DIR", str(shared(ICH_XSD)))
    get_settings.cache_clear()
    core_db.get_engine.cache_clear()
    engine = core_db.get_engine()
    upgrade(engine)
    from sqlmodel import Session

    from pv_service.auth.models import Organization, User

    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    with Session(engine) as s:
        clinic = Organization(name="C", kind="clinic", country="CN", created_at=now)
        operator = Organization(name="O", kind="operator", country=None, created_at=now)
        s.add_all([clinic, operator])
        s.flush()
        s.add_all([User(username="clinic", role="clinic", organization_id=clinic.id, created_at=now),
                   User(username="safety", role="safety_officer", organization_id=operator.id, created_at=now)])
        s.commit()
    yield engine
    engine.dispose()
    get_settings.cache_clear()
    core_db.get_engine.cache_clear()


def test_import_writes_acks_and_exit_codes(cli_db, tmp_path, ich_xsd):
    good = shared(FDA / "FAERS2022Scenario1.xml")
    bad = tmp_path / "bad.xml"
    bad.write_bytes(good.read_bytes().replace(b'code="1" displayName="Suspect"', b'code="2" displayName="C"'))
    runner = CliRunner()
    out = tmp_path / "acks"
    r = runner.invoke(app, ["e2b", "import", str(good), "--user", "clinic", "--ack-out", str(out)])
    assert r.exit_code == 0, r.output
    assert "AA; 1 stored, 0 unchanged, 0 refused" in r.output
    ack = reader.read((out / "FAERS2022Scenario1.xml.ack.xml").read_bytes(), reader.ACK_ROOT, 10**6)
    assert reader.schema_errors(schema_set.load(ich_xsd).ack, ack) == [] and read_ack(ack).batch_code == "AA"
    r = runner.invoke(app, ["e2b", "import", str(good), str(bad), "--user", "clinic", "--ack-out", str(out)])
    assert r.exit_code == 1
    assert "AA; 0 stored, 1 unchanged" in r.output and "AE; 0 stored, 0 unchanged, 1 refused" in r.output
    assert "G.k.1" in r.output
    assert read_ack(reader.read((out / "bad.xml.ack.xml").read_bytes(), reader.ACK_ROOT, 10**6)).messages[0][0] == "CR"


def test_import_refusals(cli_db, tmp_path):
    r2 = tmp_path / "r2.xml"
    r2.write_bytes(b"<ichicsr/>")
    r = CliRunner().invoke(app, ["e2b", "import", str(r2), "--user", "clinic"])
    assert r.exit_code == 1 and "E2B(R2)" in r.output
    r = CliRunner().invoke(app, ["e2b", "import", str(r2), "--user", "safety"])
    assert r.exit_code == 2 and "only clinic and MAH users" in r.output
    r = CliRunner().invoke(app, ["e2b", "import", str(tmp_path / "missing.xml"), "--user", "clinic"])
    assert r.exit_code == 1 and "cannot read" in r.output


def test_import_streams_a_file_larger_than_the_request_limit(cli_db, tmp_path, monkeypatch):
    from pv_service.core.settings import get_settings

    monkeypatch.setenv("PV_E2B_MAX_BYTES", "4096")  # the API's limit; the CLI streams any size
    get_settings.cache_clear()
    good = shared(FDA / "FAERS2022Scenario1.xml")
    assert good.stat().st_size > 4096
    r = CliRunner().invoke(app, ["e2b", "import", str(good), "--user", "clinic"])
    assert r.exit_code == 0, r.output
    assert "AA; 1 stored, 0 unchanged, 0 refused" in r.output


def test_import_of_a_file_malformed_part_way_stores_nothing(cli_db, tmp_path):
    import re

    import sqlalchemy as sa

    from pv_service.cases.models import Case

    data = shared(FDA / "FAERS2022Scenario1.xml").read_bytes()
    message = re.search(rb"<PORR_IN049016UV>.*?</PORR_IN049016UV>", data, re.DOTALL).group(0)
    second = message.replace(b"US-APHARMA-8744554B", b"US-APHARMA-2").replace(
        b"21ec1492-3aea-4069-a2ab-08002b30309d", b"second-message")
    broken = data.replace(message, message + b"\n" + second, 1).replace(b"</MCCI_IN200100UV01>", b"</MCCI_IN200100UV01")
    f = tmp_path / "broken.xml"
    f.write_bytes(broken)
    r = CliRunner().invoke(app, ["e2b", "import", str(f), "--user", "clinic"])
    assert r.exit_code == 1 and "broken.xml: refused, nothing stored: malformed XML at line" in r.output
    with cli_db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Case)).scalar() == 0

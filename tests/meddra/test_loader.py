"""Loading distributions into the database: one transaction, versions side by side, immutable."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pv_service.meddra.ascii import MeddraFormatError
from pv_service.meddra.loader import VersionConflict, load
from tests.conftest import NOW
from tests.meddra import dictionaries
from tests.meddra.conftest import shared

TABLES = ("meddra_version", "meddra_term", "meddra_path", "meddra_smq", "meddra_smq_term")


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def test_example_and_made_up_versions_side_by_side(db, tmp_path):
    first = load(db, shared("example_meddra"), NOW)
    assert first.loaded and first.version == "0.0"
    second = load(db, dictionaries.write(tmp_path), NOW)
    assert second.loaded and second.version == "90.0"
    with db.connect() as conn:
        versions = conn.execute(sa.text("SELECT version, counts FROM meddra_version ORDER BY version")).all()
        assert [v.version for v in versions] == ["0.0", "90.0"]
        # An easy join: an LLT to its PT's primary path, in one version.
        row = conn.execute(sa.text(
            "SELECT l.name, p.name AS pt, s.name AS soc, s.abbrev FROM meddra_term l "
            "JOIN meddra_term p ON p.version = l.version AND p.level = 'pt' AND p.code = l.pt_code "
            "JOIN meddra_path h ON h.version = p.version AND h.pt_code = p.code AND h.is_primary "
            "JOIN meddra_term s ON s.version = h.version AND s.level = 'soc' AND s.code = h.soc_code "
            "WHERE l.version = '90.0' AND l.level = 'llt' AND l.code = '90000401'")).one()
        assert tuple(row) == ("T cell lymphoma NOS", "T-cell lymphoma", "Neoplasms (synthetic)", "Neopl")
        folded = conn.execute(sa.text("SELECT name_folded FROM meddra_term WHERE version = '90.0' AND code = '90000403'")).scalar_one()
        assert folded == "neutrophil count decreased"
        broad = conn.execute(sa.text("SELECT DISTINCT pt_code FROM meddra_smq_term WHERE version = '90.0' "
                                     "AND smq_code = '90000501' ORDER BY pt_code")).scalars().all()
        narrow = conn.execute(sa.text("SELECT DISTINCT pt_code FROM meddra_smq_term WHERE version = '90.0' "
                                      "AND smq_code = '90000501' AND scope = 'narrow'")).scalars().all()
        assert (broad, narrow) == (["90000301", "90000303"], ["90000301"])


def test_same_version_same_content_changes_nothing_other_content_refused(db, tmp_path):
    assert load(db, dictionaries.write(tmp_path / "a"), NOW).loaded
    before = _counts(db)
    again = load(db, dictionaries.write(tmp_path / "b", trailing=False, upper=True), NOW)  # same records
    assert not again.loaded and _counts(db) == before
    changed = dictionaries.variant(pts={**dictionaries.SMALL["pts"], "90000303": "Neutropenia (renamed)"})
    with pytest.raises(VersionConflict, match="90.0 is loaded already with other content"):
        load(db, dictionaries.write(tmp_path / "c", changed), NOW)
    assert _counts(db) == before


def test_broken_distribution_leaves_the_database_as_it_was(db, tmp_path, monkeypatch):
    load(db, shared("example_meddra"), NOW)
    before = _counts(db)
    spec = dictionaries.variant(llts={**dictionaries.SMALL["llts"], "90000499": ("Orphan", "90000999", True)})
    with pytest.raises(MeddraFormatError, match="LLT 90000499 points at PT 90000999"):
        load(db, dictionaries.write(tmp_path / "a", spec), NOW)
    assert _counts(db) == before
    # A failure while writing (after some rows went in) rolls the whole version back.
    from pv_service.meddra import loader

    real = loader._copy

    def failing(conn, model, columns, rows):
        if model.__tablename__ == "meddra_smq_term":
            raise RuntimeError("disk full")
        real(conn, model, columns, rows)

    monkeypatch.setattr(loader, "_copy", failing)
    with pytest.raises(RuntimeError):
        load(db, dictionaries.write(tmp_path / "b"), NOW)
    assert _counts(db) == before


runner = CliRunner()


def test_cli_load_twice_and_refusal(migrated_cli, tmp_path):
    from pv_service.cli import app

    folder = dictionaries.write(tmp_path / "d")
    ok = runner.invoke(app, ["meddra", "load", str(folder)])
    assert ok.exit_code == 0, ok.output
    assert "MedDRA 90.0 loaded: llt=6, pt=3, hlt=3, hlgt=3, soc=3, mdhier=4, smq=2, smq_terms=5" in ok.output
    again = runner.invoke(app, ["meddra", "load", str(folder), "--version", "90.0"])
    assert again.exit_code == 0 and "loaded already with the same content: nothing changed" in again.output
    wrong = runner.invoke(app, ["meddra", "load", str(folder), "--version", "91.0"])
    assert wrong.exit_code == 2 and "not '91.0' as given" in wrong.output
    broken = dictionaries.write(tmp_path / "e", omit=("pt.asc",))
    refused = runner.invoke(app, ["meddra", "load", str(broken)])
    assert refused.exit_code == 2 and "refused, nothing loaded" in refused.output and "missing pt.asc" in refused.output


def test_the_app_role_loads_a_version_but_cannot_change_it(db, app_role, tmp_path):
    from tests.audit.test_app_role import _as, assert_refused

    engine = _as(db, app_role)
    try:
        assert load(engine, dictionaries.write(tmp_path), NOW).loaded  # COPY as the role that owns nothing
        with engine.connect() as conn:
            assert_refused(conn, ("UPDATE meddra_term SET name = 'x'", "DELETE FROM meddra_smq_term",
                                  "UPDATE meddra_version SET content_hash = 'x'", "TRUNCATE meddra_path"))
    finally:
        engine.dispose()
    assert _counts(db)["meddra_term"] == 18

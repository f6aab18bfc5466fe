"""The operator's ICH schema set: install from a folder or ICH's zip, /health, refusal without it."""
from __future__ import annotations

import zipfile

from typer.testing import CliRunner

from pv_service.cli import app
from pv_service.e2b import schema_set


def _zip(ich_xsd, path):
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted(ich_xsd.rglob("*.xsd")):
            zf.write(p, "4_ICH_ICSR_Schema_Files/" + p.relative_to(ich_xsd).as_posix())
    return path


def test_install_from_folder_then_zip(ich_xsd, tmp_path, monkeypatch):
    target = tmp_path / "schemas"
    monkeypatch.setenv("PV_E2B_SCHEMA_DIR", str(target))
    from pv_service.core.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    result = runner.invoke(app, ["e2b", "install-schemas", str(ich_xsd)])
    assert result.exit_code == 0, result.output
    assert (target / "multicacheschemas" / "MCCI_IN200100UV01.xsd").is_file()
    result = runner.invoke(app, ["e2b", "install-schemas", str(_zip(ich_xsd, tmp_path / "ich.zip"))])
    assert result.exit_code == 0, result.output
    assert schema_set.configured(target).root == target.resolve()
    get_settings.cache_clear()


def test_bad_set_changes_nothing(ich_xsd, tmp_path, monkeypatch):
    target = tmp_path / "schemas"
    schema_set.install(ich_xsd, target)
    broken = tmp_path / "broken"
    for sub in ("multicacheschemas", "coreschemas"):
        (broken / sub).mkdir(parents=True)
        for p in (ich_xsd / sub).glob("*.xsd"):
            (broken / sub / p.name).write_bytes(p.read_bytes())
    (broken / "coreschemas" / "datatypes.xsd").write_text("<not-a-schema")
    monkeypatch.setenv("PV_E2B_SCHEMA_DIR", str(target))
    from pv_service.core.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["e2b", "install-schemas", str(broken)])
    get_settings.cache_clear()
    assert result.exit_code == 2
    assert "refused, nothing changed" in result.output
    assert (target / "coreschemas" / "datatypes.xsd").read_bytes() == (ich_xsd / "coreschemas" / "datatypes.xsd").read_bytes()


def test_not_a_schema_set(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    result = CliRunner().invoke(app, ["e2b", "install-schemas", str(tmp_path / "x.zip")])
    assert result.exit_code == 2 and "is not a zip archive" in result.output
    result = CliRunner().invoke(app, ["e2b", "install-schemas", str(tmp_path)])
    assert result.exit_code == 2 and "is not the ICH E2B(R3) schema set" in result.output


def test_zip_member_outside_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../../escape.xsd", "<x/>")
    result = CliRunner().invoke(app, ["e2b", "install-schemas", str(tmp_path / "evil.zip")])
    assert result.exit_code == 2 and "points outside the archive" in result.output
    assert not (tmp_path.parent / "escape.xsd").exists()


def test_health_says_whether_loaded(client, schema_settings):
    body = client.get("/health").json()
    assert body["e2b"]["schemas_loaded"] is True


def test_health_without_schemas(client, no_schemas):
    body = client.get("/health").json()
    assert body["e2b"]["schemas_loaded"] is False
    assert "install-schemas" in body["e2b"]["import"] and "not-installed" not in body["e2b"]["import"]

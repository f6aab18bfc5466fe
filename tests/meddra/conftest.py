from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import products, treated  # noqa: F401 (fixtures: a clinic's treated patient)
from tests.audit.test_app_role import app_role  # noqa: F401 (fixture: the role the service runs as)
from tests.conftest import IN_CI

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "interop" / "meddra" / "humanpred"


def shared(relative: str) -> Path:
    """A fixture from ../shared (MIT-licensed example dictionary and real-distribution edge cases)."""
    path = SHARED / relative
    if not path.exists():
        if IN_CI:
            pytest.fail(f"fixture {path} is missing (CI is set)", pytrace=False)
        pytest.skip(f"fixture {path} is missing")
    return path


@pytest.fixture
def migrated_cli(tmp_path, monkeypatch):
    """A migrated SQLite database the CLI's settings point at."""
    from pv_service.core import db as core_db
    from pv_service.core.migrate import upgrade
    from pv_service.core.settings import get_settings

    monkeypatch.setenv("PV_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    core_db.get_engine.cache_clear()
    upgrade(core_db.get_engine())
    yield core_db.get_engine()
    core_db.get_engine().dispose()
    get_settings.cache_clear()
    core_db.get_engine.cache_clear()

from __future__ import annotations

from tests.api.conftest import products  # noqa: F401


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives Debian's chromium through Playwright against a real server (SQLite only)"
    )

"""The compliance export's hand-worked cohort (tests/exports/conftest.py) serves the analytics API tests."""
from tests.exports.conftest import cohort  # noqa: F401
from tests.api.conftest import products  # noqa: F401

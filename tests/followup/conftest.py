from __future__ import annotations

import pytest

from followup_helpers import FIXTURE
from pv_service.rules import load_rules


@pytest.fixture(scope="session")
def rules():
    return load_rules(FIXTURE)

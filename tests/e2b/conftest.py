"""E2B(R3) fixtures: FDA's instances and the ICH schema set from ../shared (the schema set is not
redistributable, so it is never copied into the repository; in CI a missing fixture fails)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import products  # noqa: F401  (CART-1 of MAH A, for LTFU reports)
from tests.conftest import IN_CI

INTEROP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "interop" / "e2b"
FDA = INTEROP / "fda_faers2022"
ICH_XSD = INTEROP / "ich_xsd"
SCENARIOS = ["1", "2", "3", "4", "5-1", "5-2", "7", "8"]


def shared(path: Path) -> Path:
    if not path.exists():
        if IN_CI:
            pytest.fail(f"fixture {path} is missing (CI is set)", pytrace=False)
        pytest.skip(f"fixture {path} is missing")
    return path


def fda(name: str) -> bytes:
    """One of FDA's FAERS 2022 E2B(R3) instances (US government work), e.g. fda("Scenario1.xml")."""
    return shared(FDA / f"FAERS2022{name}").read_bytes() if not name.endswith(".ack") else shared(FDA / name).read_bytes()


@pytest.fixture(scope="session")
def ich_xsd() -> Path:
    return shared(ICH_XSD)


@pytest.fixture
def schemas(ich_xsd):
    """The ICH schema set, compiled."""
    from pv_service.e2b import schema_set

    return schema_set.load(ich_xsd)


@pytest.fixture
def e2b_rules():
    """The E2B business rules of alerts/e2b_rules.yaml."""
    from pv_service.jobs.definitions import current_rules

    return current_rules().e2b


@pytest.fixture
def schema_settings(ich_xsd, monkeypatch):
    """The service's settings pointing at the ICH schema set."""
    from pv_service.core.settings import get_settings

    monkeypatch.setenv("PV_E2B_SCHEMA_DIR", str(ich_xsd))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def no_schemas(tmp_path, monkeypatch):
    from pv_service.core.settings import get_settings

    monkeypatch.setenv("PV_E2B_SCHEMA_DIR", str(tmp_path / "not-installed"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def fda_product(session, world):
    """Scenario 1's Drug A (code 59762-2858) registered as MAH A's product, approved by FDA."""
    import datetime as dt

    from pv_service.products.models import Product, ProductApproval

    product = Product(code="59762-2858", inn="ingredient a", trade_name="Drug A", modality="car_t",
                      mah_organization_id=world.mah.org_id, created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    session.add(product)
    session.flush()
    session.add(ProductApproval(product_id=product.id, jurisdiction="FDA", approval_date=dt.date(2020, 1, 1),
                                approval_type="full", indication="x"))
    session.commit()
    return product


@pytest.fixture(params=["here", "readers"])
def reading(request, monkeypatch):
    """The import as it runs a small batch (read in this process) and a large one (read by reader
    processes, e2b/worker.py): every batch of a test counts as large in the second run."""
    from pv_service.e2b import importer

    if request.param == "readers":
        monkeypatch.setattr(importer, "WORKER_MIN_BYTES", 0)
        monkeypatch.setattr(importer, "READERS", importer.READERS or 2)  # a one-core machine reads here
    return request.param

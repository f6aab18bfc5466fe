"""Fixtures for the demo data tests: temp-file SQLite databases loaded with the demo."""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import pv_service.models  # noqa: F401  (registers every table)
from pv_service.core.db import make_engine
from pv_service.demo.load import load_demo
from pv_service.products.seed import seed_products

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
SMALL_N = 400


@dataclass
class LoadedDemo:
    engine: Engine
    summary: dict[str, Any]
    seconds: float
    n_patients: int
    now: dt.datetime


def make_demo_db(path: Path, n_patients: int, seed: int = 20261123) -> LoadedDemo:
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    start = time.perf_counter()
    with Session(engine) as session:
        seed_products(session, NOW)
        summary = load_demo(session, NOW, seed=seed, n_patients=n_patients)
        session.commit()
    return LoadedDemo(engine, summary, time.perf_counter() - start, n_patients, NOW)


@pytest.fixture(scope="session")
def demo_now() -> dt.datetime:
    return NOW


@pytest.fixture(scope="session")
def small_n() -> int:
    return SMALL_N


@pytest.fixture(scope="session")
def demo_factory():
    """make_demo_db(path, n_patients, seed=...) -> LoadedDemo; the caller disposes the engine."""
    return make_demo_db


@pytest.fixture(scope="session")
def full_demo(tmp_path_factory) -> LoadedDemo:
    """The default-size demo (3000 patients), loaded once for the session."""
    demo = make_demo_db(tmp_path_factory.mktemp("demo_full") / "demo.db", n_patients=3000)
    yield demo
    demo.engine.dispose()


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> LoadedDemo:
    demo = make_demo_db(tmp_path_factory.mktemp("demo_small") / "demo.db", n_patients=SMALL_N)
    yield demo
    demo.engine.dispose()

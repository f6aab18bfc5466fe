"""Fixtures for the disproportionality engine tests."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def caers_rows() -> pd.DataFrame:
    """Real CAERS rows (openEBGM ``data(caers)``), renamed to the engine's columns."""
    rows = pd.read_csv(DATA / "caers_raw.csv.gz", dtype=str, keep_default_na=False, na_values=[""])
    return rows.rename(columns={"id": "report_id", "var1": "product", "var2": "event",
                                "strat1": "sex"})


@pytest.fixture(scope="session")
def caers_csv(tmp_path_factory, caers_rows) -> Path:
    path = tmp_path_factory.mktemp("caers") / "caers.csv"
    caers_rows.to_csv(path, index=False)
    return path


def table_rows(cells: list[tuple[int, int, int, int]], *, strata: bool = False) -> pd.DataFrame:
    """Report rows realising 2x2 tables for the pair (P, E), one table per stratum.

    Each table (a, b, c, d) becomes a reports naming P and E, b naming P and X, c naming
    Q and E and d naming Q and X, so n_product = a + b, n_event = a + c and n = a+b+c+d
    in that stratum.
    """
    out = []
    next_id = 0
    for s, (a, b, c, d) in enumerate(cells):
        for count, product, event in ((a, "P", "E"), (b, "P", "X"), (c, "Q", "E"), (d, "Q", "X")):
            for _ in range(count):
                out.append({"report_id": f"r{next_id}", "product": product, "event": event,
                            "stratum": f"s{s}"})
                next_id += 1
    frame = pd.DataFrame(out)
    return frame if strata else frame.drop(columns="stratum")


@pytest.fixture
def make_table_rows():
    """The :func:`table_rows` builder, as a fixture (test modules do not import conftest)."""
    return table_rows

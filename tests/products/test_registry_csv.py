"""Every value of the shipped registry fits the API's vocabulary and limits (no database)."""
from __future__ import annotations

import pytest

from pv_service.products import seed
from pv_service.products.seed import RegistryError, read_products_csv


def test_every_csv_row_fits_the_api_schemas():
    rows = read_products_csv()
    assert len(rows) == 15
    assert {r.approval_type for r in rows} >= {"accelerated", "conditional", "full", "unverified"}


def test_a_csv_value_outside_the_vocabulary_is_refused_naming_row_and_column(monkeypatch):
    header = "code,inn,trade_name,modality,target,mah,jurisdiction,approval_date,approval_type,indication,source\n"
    good = "OK-1,okcel,Okcel,car_t,CD19,MAH One,FDA,2020-01-01,full,lymphoma,\n"
    bad = "BAD-1,badcel,Badcel,car_t,CD19,MAH One,FDA,2020-01-01,provisional,lymphoma,\n"
    monkeypatch.setattr(seed, "_registry_text", lambda: header + good + bad)
    with pytest.raises(RegistryError) as exc:
        read_products_csv()
    message = str(exc.value)
    assert "products.csv" in message and "row 3" in message and "approval_type" in message

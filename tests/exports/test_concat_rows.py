"""The summary's tables are stacked per product with each column's dtype from the products
that have values in it (pandas' behaviour before 2.1, which it now warns will change)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pv_service.exports.summary import concat_rows


def test_a_part_with_a_column_all_missing_keeps_the_others_dtype_and_raises_no_warning():
    with_values = pd.DataFrame({"n": [1.5, 2.0], "name": ["a", "b"], "note": [None, None]})
    all_missing = pd.DataFrame({"n": pd.Series([None], dtype=object), "name": ["c"],
                                "note": [None]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pd.concat of these warns (FutureWarning)
        out = concat_rows([with_values, all_missing])
    assert list(out.columns) == ["n", "name", "note"]
    assert out["n"].dtype == np.float64
    assert out["n"].tolist()[:2] == [1.5, 2.0] and np.isnan(out["n"].iloc[2])
    assert out["name"].tolist() == ["a", "b", "c"]
    # missing in every part: kept, with the rows, as pd.concat keeps it
    assert out["note"].isna().all() and len(out) == 3


def test_columns_of_later_parts_follow_in_order_of_appearance():
    out = concat_rows([pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [2], "a": [3]})])
    assert list(out.columns) == ["a", "b"]
    assert out["a"].tolist() == [1, 3]
    assert out["b"].isna().iloc[0] and out["b"].iloc[1] == 2

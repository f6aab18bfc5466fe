"""Probabilistic record linkage of case reports (Fellegi-Sunter, as vigiMatch), with splink on DuckDB.

The comparisons and blocking rules are below (`model_settings`); their trained m and u probabilities
are data, in alerts/duplicates.yaml (`model:`, written by pv_service.duplicates.training). Scoring
only reads that model: nothing is estimated while the service runs.

Blocking: a pair is scored only if it agrees on one of the blocking keys, so the number of pairs
grows with the number of reports times the (bounded) size of a block, not with its square.
"""
from __future__ import annotations

import logging
from typing import Any

import pandas as pd

# The features a record carries (pv_service.duplicates.features builds them from a case version).
FEATURES = ("case_id", "sex", "birth_year", "age_group", "onset_date", "received_date", "country", "pts",
            "products", "batch", "qualification", "clinic")
# Output columns of the comparisons, named for the review page ("the fields that agree and disagree").
COMPARED = {"sex": "patient sex", "age": "age or year of birth", "onset": "onset date",
            "received": "receipt date", "country": "country", "pts": "preferred terms",
            "products": "suspect products", "batch": "batch/lot", "qualification": "reporter qualification",
            "clinic": "treating clinic"}


def _band(birth_year: pd.Series, received: pd.Series, group: pd.Series) -> pd.Series:
    age = received.dt.year - birth_year.astype("Float64")
    band = pd.Series(pd.NA, index=birth_year.index, dtype="object")
    band[age.notna() & (age < 12)] = "child"
    band[age.notna() & (age >= 12) & (age < 18)] = "adolescent"
    band[age.notna() & (age >= 18) & (age < 65)] = "adult"
    band[age.notna() & (age >= 65)] = "elderly"
    return band.where(band.notna(), group)


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns splink reads, from the features (one row per case)."""
    out = pd.DataFrame({
        "unique_id": frame["case_id"].astype("int64"),
        "sex": frame["sex"],
        "birth_year": frame["birth_year"].astype("Int64"),
        "age_band": _band(frame["birth_year"], frame["received_date"], frame["age_group"]),
        "onset_date": pd.to_datetime(frame["onset_date"]),
        "onset_text": pd.to_datetime(frame["onset_date"]).dt.strftime("%Y%m%d"),
        "onset_month": pd.to_datetime(frame["onset_date"]).dt.strftime("%Y-%m"),
        "received_date": pd.to_datetime(frame["received_date"]),
        "country": frame["country"],
        "pts": frame["pts"].map(list),
        "products": frame["products"].map(list),
        "product_first": frame["products"].map(lambda p: p[0] if len(p) else None),
        "pt_first": frame["pts"].map(lambda p: p[0] if len(p) else None),
        "batch": frame["batch"],
        "qualification": frame["qualification"],
        "clinic": frame["clinic"].astype("object").where(frame["clinic"].notna(), None).map(
            lambda c: None if c is None else str(c)),
    })
    out["onset_text"] = out["onset_text"].where(out["onset_date"].notna(), None)
    out["onset_month"] = out["onset_month"].where(out["onset_date"].notna(), None)
    return out


def _null(col: str) -> dict:
    return {"sql_condition": f'"{col}_l" IS NULL OR "{col}_r" IS NULL', "label_for_charts": "missing",
            "is_null_level": True}


def _else() -> dict:
    return {"sql_condition": "ELSE", "label_for_charts": "disagree"}


def _level(sql: str, label: str) -> dict:
    return {"sql_condition": sql, "label_for_charts": label}


def _comparison(name: str, levels: list[dict]) -> dict:
    return {"output_column_name": name, "comparison_description": COMPARED[name], "comparison_levels": levels}


def _exact(name: str, col: str) -> dict:
    return _comparison(name, [_null(col), _level(f'"{col}_l" = "{col}_r"', "exact"), _else()])


def _overlap(col: str) -> list[dict]:
    return [
        {"sql_condition": f'"{col}_l" IS NULL OR "{col}_r" IS NULL OR len("{col}_l") = 0 OR len("{col}_r") = 0',
         "label_for_charts": "missing", "is_null_level": True},
        _level(f'list_sort("{col}_l") = list_sort("{col}_r")', "same set"),
        _level(f'len(list_intersect("{col}_l", "{col}_r")) >= 1 AND (len(list_intersect("{col}_l", "{col}_r")) '
               f'= len("{col}_l") OR len(list_intersect("{col}_l", "{col}_r")) = len("{col}_r"))', "one within the other"),
        _level(f'len(list_intersect("{col}_l", "{col}_r")) >= 1', "some in common"),
        _else(),
    ]


def _days(col: str) -> str:
    return f'abs(date_diff(\'day\', "{col}_l", "{col}_r"))'


def model_settings() -> dict[str, Any]:
    """The untrained model: comparisons (every level's meaning) and blocking rules."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "probability_two_random_records_match": 1e-5,
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": True,
        "blocking_rules_to_generate_predictions": [
            # Each catches duplicates the others miss: an age sent as a group, a mistyped onset, a missing term.
            'l.onset_date = r.onset_date AND l.product_first = r.product_first AND l.sex = r.sex',
            'l.onset_date = r.onset_date AND l.pt_first = r.pt_first AND l.product_first = r.product_first',
            ('l.birth_year = r.birth_year AND l.sex = r.sex AND l.product_first = r.product_first '
             'AND l.onset_month = r.onset_month'),
            'l.batch = r.batch AND l.pt_first = r.pt_first',
            'l.birth_year = r.birth_year AND l.sex = r.sex AND l.pt_first = r.pt_first AND l.clinic = r.clinic',
        ],
        "comparisons": [
            _exact("sex", "sex"),
            _comparison("age", [
                {"sql_condition": '("birth_year_l" IS NULL OR "birth_year_r" IS NULL) AND ("age_band_l" IS NULL '
                                  'OR "age_band_r" IS NULL)', "label_for_charts": "missing", "is_null_level": True},
                _level('"birth_year_l" = "birth_year_r"', "same year of birth"),
                _level('abs("birth_year_l" - "birth_year_r") <= 1', "year of birth within 1"),
                # Only when a side has no year of birth (an age sent as a group): two years 5 apart in one
                # group are two people.
                _level('("birth_year_l" IS NULL OR "birth_year_r" IS NULL) AND "age_band_l" = "age_band_r"',
                       "same age group"),
                _else(),
            ]),
            _comparison("onset", [
                _null("onset_date"),
                _level('"onset_date_l" = "onset_date_r"', "exact"),
                _level('levenshtein("onset_text_l", "onset_text_r") <= 1 OR (month("onset_date_l") = '
                       'day("onset_date_r") AND day("onset_date_l") = month("onset_date_r") AND '
                       'year("onset_date_l") = year("onset_date_r"))', "one typo"),
                _level(f'{_days("onset_date")} <= 10', "within 10 days"),
                _level(f'{_days("onset_date")} <= 60', "within 60 days"),
                _else(),
            ]),
            _comparison("received", [
                _null("received_date"),
                _level(f'{_days("received_date")} <= 7', "within a week"),
                _level(f'{_days("received_date")} <= 62', "within two months"),
                _level(f'{_days("received_date")} <= 365', "within a year"),
                _else(),
            ]),
            _exact("country", "country"),
            _comparison("pts", _overlap("pts")),
            _comparison("products", _overlap("products")),
            _exact("batch", "batch"),
            _exact("qualification", "qualification"),
            _exact("clinic", "clinic"),
        ],
    }


def _linker(frames: list[pd.DataFrame], model: dict[str, Any]):
    from splink import DuckDBAPI, Linker

    db = DuckDBAPI()
    registered = [db.register(f) for f in frames]
    return Linker(registered[0] if len(registered) == 1 else registered, model, log_level=logging.WARNING), db, registered


_OUT = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"] + [f"mw_{c}" for c in COMPARED]


def score_within(model: dict[str, Any], records: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Scored pairs among `records` (prepared) at or above `threshold` match probability."""
    if len(records) < 2:
        return pd.DataFrame(columns=_OUT)
    linker, _, registered = _linker([records], model)
    got = linker.inference.predict_within(registered[0], threshold_match_probability=threshold, warning_mode="never")
    return got.as_pandas_dataframe()[_OUT]


def score_between(model: dict[str, Any], new: pd.DataFrame, existing: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Scored pairs of a new record with an existing one (and new with new), at or above `threshold`."""
    if new.empty:
        return pd.DataFrame(columns=_OUT)
    existing = existing[~existing["unique_id"].isin(new["unique_id"])]
    if existing.empty:
        return score_within(model, new, threshold)
    linker, db, _ = _linker([new], model)
    left, right = db.register(new), db.register(existing)
    between = linker.inference.predict_between(left, right, threshold_match_probability=threshold,
                                               warning_mode="never").as_pandas_dataframe()[_OUT]
    within = linker.inference.predict_within(left, threshold_match_probability=threshold,
                                             warning_mode="never").as_pandas_dataframe()[_OUT]
    return pd.concat([between, within], ignore_index=True)


def agreement(row: Any) -> dict[str, float]:
    """Each compared field's match weight for a scored pair (log2 Bayes factor: > 0 agrees, < 0
    disagrees, 0 missing on either side)."""
    return {name: round(float(getattr(row, f"mw_{name}")), 3) for name in COMPARED}

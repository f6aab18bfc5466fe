"""Filters, search and sorting of a line listing (pure functions over its frame)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# Every column a reader would order by; the narrative excerpt is searched (q), not sorted.
SORTABLE = ("first_received", "case_id", "sender_case_id", "version", "report_type", "country", "age_years", "sex",
            "product", "lot", "infusion_date", "onset_date", "days_to_onset", "serious", "seriousness", "reactions",
            "outcome", "expectedness", "transgene_in_tumour", "vector_test")
SEARCHED = ("sender_case_id", "reactions", "narrative_excerpt", "lot", "product")
CHOICE_FILTERS = ("country", "sex", "outcome", "expectedness", "lot")


@dataclass(frozen=True)
class SeriesFilters:
    q: str = ""  # words found in the sender's case id, reactions, narrative excerpt, lot or product
    country: str = ""
    sex: str = ""
    serious: bool | None = None
    outcome: str = ""  # one outcome among the case's matching reactions
    expectedness: str = ""  # a word of the expectedness column, e.g. unlisted
    lot: str = ""
    sort: str = "first_received"
    descending: bool = True


def apply(frame: pd.DataFrame, f: SeriesFilters) -> pd.DataFrame:
    """The rows that pass every filter, sorted (ties: newest case first); missing values sort last."""
    keep = pd.Series(True, index=frame.index)
    for word in f.q.lower().split():
        hit = pd.Series(False, index=frame.index)
        for col in SEARCHED:
            hit |= frame[col].fillna("").astype(str).str.lower().str.contains(word, regex=False)
        hit |= frame["case_id"].astype(str) == word
        keep &= hit
    for col in ("country", "sex", "lot"):
        value = getattr(f, col)
        if value:
            keep &= frame[col].fillna("").astype(str).str.lower() == value.lower()
    if f.outcome:
        keep &= frame["outcome"].fillna("").map(lambda s: f.outcome in s.split("; "))
    if f.expectedness:
        keep &= frame["expectedness"].fillna("").str.lower().str.contains(f.expectedness.lower(), regex=False)
    if f.serious is not None:
        keep &= frame["serious"] == f.serious
    out = frame[keep]
    if out.empty:
        return out
    return out.sort_values([f.sort, "case_id"], ascending=[not f.descending, False], na_position="last",
                           kind="mergesort", ignore_index=True)


def options(frame: pd.DataFrame) -> dict[str, list[str]]:
    """The values each choice filter can take in this series (for the page's menus)."""
    out = {}
    for col in ("country", "sex", "lot"):
        out[col] = sorted({str(v) for v in frame[col].dropna() if str(v)})
    out["outcome"] = sorted({o for s in frame["outcome"].fillna("") for o in s.split("; ") if o})
    return out

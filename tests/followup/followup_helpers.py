"""Helpers for the follow-up tests: small frames built from tuples, dates by ISO text."""
from __future__ import annotations

import pandas as pd

from pv_service.followup.compliance import evaluate_compliance
from tests.conftest import D  # noqa: F401  (the follow-up tests import it from here)


def treatments_df(rows: list[tuple]) -> pd.DataFrame:
    """rows: (treatment_id, patient_id, plan, infusion_date)"""
    return pd.DataFrame(
        [(t, p, plan, D(day)) for t, p, plan, day in rows],
        columns=["treatment_id", "patient_id", "plan", "infusion_date"],
    )


def contacts_df(rows: list[tuple]) -> pd.DataFrame:
    """rows: (contact_id, treatment_id, kind, contact_date[, timepoint])"""
    out = []
    for r in rows:
        cid, tid, kind, day = r[:4]
        out.append((cid, tid, kind, D(day), r[4] if len(r) > 4 else None))
    return pd.DataFrame(out, columns=["contact_id", "treatment_id", "kind", "contact_date", "timepoint"])


def run(treatments, contacts, rules, as_of: str):
    return evaluate_compliance(treatments, contacts, rules, D(as_of))


def tp_status(result, treatment_id: int) -> dict[str, str]:
    tp = result.timepoints[result.timepoints["treatment_id"] == treatment_id]
    return dict(zip(tp["label"].astype(str), tp["status"].astype(str)))


def tp_row(result, treatment_id: int, label: str) -> pd.Series:
    tp = result.timepoints
    rows = tp[(tp["treatment_id"] == treatment_id) & (tp["label"].astype(str) == label)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def t_row(result, treatment_id: int) -> pd.Series:
    return result.treatments.set_index("treatment_id").loc[treatment_id]


def p_status(result, patient_id: int) -> str:
    return str(result.patients.set_index("patient_id").loc[patient_id, "status"])


def ts(day: str) -> pd.Timestamp:
    return pd.Timestamp(day)

"""Follow-up alerts rolled up per clinic and product (pure): one open item listing the clinic's
due, overdue and missed timepoints and patients lost to follow-up, so a safety officer sees one
line per clinic and product instead of one per visit, and no visit outranks a signal.

Patients are listed by pseudonym only.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from pv_service.alerting.reconcile import AlertSpec

# Worst first; each level's severity and priority (below every operational clock and deadline).
LEVELS = (("lost", "high", 45.0), ("missed", "high", 40.0), ("overdue", "medium", 25.0), ("window_open", "low", 10.0))
SEVERITY = {name: sev for name, sev, _ in LEVELS}
PRIORITY = {name: p for name, _, p in LEVELS}


@dataclass(frozen=True)
class Item:
    treatment_id: int
    patient_id: int
    clinic_id: int
    product_id: int
    status: str  # window_open, overdue, missed, lost
    timepoint: str | None = None
    due_date: str | None = None


def key(clinic_id: int, product_id: int) -> str:
    return f"followup:clinic:{clinic_id}:{product_id}"


def rollup_specs(items: Iterable[Item], clinics: Mapping[int, str], products: Mapping[int, str],
                 pseudonyms: Mapping[int, str]) -> list[AlertSpec]:
    """One alert per clinic and product holding any item; severity and priority of its worst item."""
    groups: dict[tuple[int, int], list[Item]] = {}
    for it in items:
        groups.setdefault((it.clinic_id, it.product_id), []).append(it)
    specs = []
    for (clinic_id, product_id), its in sorted(groups.items()):
        counts = {name: sum(1 for i in its if i.status == name) for name, _, _ in LEVELS}
        worst = next(name for name, _, _ in LEVELS if counts[name])
        patients: dict[int, dict] = {}
        for it in sorted(its, key=lambda i: (i.patient_id, i.treatment_id, i.due_date or "", i.timepoint or "")):
            p = patients.setdefault(it.patient_id, {"pseudonym": pseudonyms.get(it.patient_id, ""),
                                                     "treatment_ids": [], "timepoints": [], "lost": False})
            if it.treatment_id not in p["treatment_ids"]:
                p["treatment_ids"].append(it.treatment_id)
            if it.status == "lost":
                p["lost"] = True
            else:
                p["timepoints"].append({"timepoint": it.timepoint, "status": it.status, "due_date": it.due_date})
        clinic, code = clinics.get(clinic_id, f"clinic {clinic_id}"), products.get(product_id, str(product_id))
        said = [f"{counts[n]} {label}" for n, label in (("missed", "missed"), ("overdue", "overdue"),
                                                        ("lost", "lost to follow-up"), ("window_open", "due"))
                if counts[n]]
        specs.append(AlertSpec(
            key=key(clinic_id, product_id), type="followup", severity=SEVERITY[worst], subject_type="clinic",
            subject_id=int(clinic_id), product_id=int(product_id), priority=PRIORITY[worst],
            title=f"Follow-up at {clinic} ({code}): {', '.join(said)}"[:300],
            detail={"clinic_id": int(clinic_id), "clinic": clinic, "product": code, "counts": counts,
                    "patients": list(patients.values()), "n_patients": len(patients)},
        ))
    return specs


def items_from(timepoints: pd.DataFrame, lost: pd.DataFrame, treatments: pd.DataFrame, date) -> list[Item]:
    """Items of the compliance engine's frames (due timepoints, treatments lost to follow-up)."""
    info = treatments.set_index("treatment_id")[["clinic_id", "product_id"]]
    out = []
    for rec in timepoints.itertuples(index=False):
        clinic_id, product_id = info.loc[rec.treatment_id]
        out.append(Item(int(rec.treatment_id), int(rec.patient_id), int(clinic_id), int(product_id), str(rec.status),
                        str(rec.label), date(rec.due_date)))
    for rec in lost.itertuples(index=False):
        clinic_id, product_id = info.loc[rec.treatment_id]
        out.append(Item(int(rec.treatment_id), int(rec.patient_id), int(clinic_id), int(product_id), "lost"))
    return out

"""Pair counts computed by the database, over the latest version of each case.

A case counts once per (product, event) whatever its rows repeat. Products are those in
a suspect or interacting role; events are MedDRA codes at the analysis level (the PT code
the reaction carries, or the HLT, HLGT, SOC or SMQ it reaches in a loaded version: see
pv_service.signals.hierarchy), or named groups of PT codes (a case counts once per
group). Names never decide a count.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pv_service.cases.access import counted_case
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.patients.models import Patient
from pv_service.products.models import Product
from pv_service.signals.hierarchy import level_event
from pv_service.signals.levels import PT, Level

SUSPECT_ROLES = ("suspect", "interacting")
STRATA = ("sex", "age_band", "report_year")  # report_quarter (year*10 + quarter) serves the quarterly trend


# D.2.2b age units (UCUM, as E2B sends them) in years; an age in another unit is not banded.
AGE_UNIT_YEARS = {"10.a": 10.0, "a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25, "h": 1 / 8766,
                  "min": 1 / 525960}
# D.2.3 age groups: foetus, neonate, infant, child, adolescent (all under 18), adult, elderly (65 and over).
AGE_GROUP_BANDS = {"0": "0-17", "1": "0-17", "2": "0-17", "3": "0-17", "4": "0-17", "5": "18-64", "6": "65+"}
UNKNOWN = "unknown"


def _age_band(year):
    """The registered patient's age in the report year; for a patient the report describes, the age at
    onset (D.2.2), else the report year less the year of birth (D.2.1), else the age group (D.2.3)."""
    described_age = sa.case(*[(CaseVersion.patient_age_unit == unit, CaseVersion.patient_age * factor)
                              for unit, factor in AGE_UNIT_YEARS.items()])
    age = sa.case((Patient.id.is_not(None), year - Patient.birth_year),
                  else_=sa.func.coalesce(described_age, year - CaseVersion.patient_birth_year))
    by_group = sa.case(*[(CaseVersion.patient_age_group == g, band) for g, band in AGE_GROUP_BANDS.items()],
                       else_=UNKNOWN)
    return sa.case((age.is_(None), by_group), (age < 18, "0-17"), (age < 65, "18-64"), else_="65+")


def _stratum_columns(strata: Sequence[str]):
    year = sa.extract("year", Case.first_received)
    exprs = {
        # the registry's sex for a registered patient, else D.5 as reported
        "sex": sa.func.coalesce(Patient.sex, CaseVersion.patient_sex, UNKNOWN),
        "age_band": _age_band(year),
        "report_year": sa.cast(year, sa.Integer),
        "report_quarter": sa.cast(year, sa.Integer) * 10
        + (sa.cast(sa.extract("month", Case.first_received), sa.Integer) + 2) // 3,
    }
    unknown = set(strata) - set(exprs)
    if unknown:
        raise ValueError(f"unknown stratum {sorted(unknown)}; choose from {list(exprs)}")
    return [exprs[s].label(s) for s in strata]


def pair_counts(session: Session, *, strata: Sequence[str] = (), groups: Mapping[str, Sequence[str]] | None = None,
                product_scope: Sequence[str] | None = None, level: Level = PT,
                meddra_version: str | None = None, data_lock_point: dt.date | None = None) -> pd.DataFrame:
    """One row per (product, event[, strata]) with a, n_product, n_event, n_total.

    `level` says what an event is (PT code by default; levels above need `meddra_version`,
    a loaded version); `groups` instead maps a group name to its PT codes. `product_scope`
    restricts the whole background to those product codes. Every case stays in the
    background (n_total, n_product) whether or not it reaches a term at the level.
    `data_lock_point`: only cases first received on or before it count.
    """
    strata = list(strata)
    latest = (
        sa.select(Case.id.label("case_id"), Case.latest_version_id.label("vid"), *_stratum_columns(strata))
        # Every counted case (not nullified, not a confirmed duplicate), registered patient or not
        # (imported cases describe theirs: E2B D).
        .select_from(Case)
        .outerjoin(Patient, Patient.id == Case.patient_id)
        .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
        .where(counted_case())
    )
    if data_lock_point is not None:
        latest = latest.where(Case.first_received <= data_lock_point)
    if product_scope is not None:
        latest = latest.where(Case.latest_version_id.in_(
            sa.select(CaseDrug.case_version_id).join(Product, Product.id == CaseDrug.product_id)
            .where(Product.code.in_(list(product_scope)), CaseDrug.role.in_(SUSPECT_ROLES))
        ))
    latest = latest.cte("latest")
    s_cols = [latest.c[s] for s in strata]

    prod_q = (
        sa.select(latest.c.case_id, *s_cols, Product.code.label("product"))
        .join(CaseDrug, CaseDrug.case_version_id == latest.c.vid)
        .join(Product, Product.id == CaseDrug.product_id)
        .where(CaseDrug.role.in_(SUSPECT_ROLES))
    )
    if product_scope is not None:
        prod_q = prod_q.where(Product.code.in_(list(product_scope)))
    prod = prod_q.distinct().cte("prod")

    if groups is None:
        join, code = level_event(level, meddra_version)
        evt = join(
            sa.select(latest.c.case_id, *s_cols, code.label("event")).select_from(latest)
            .join(CaseReaction, CaseReaction.case_version_id == latest.c.vid)
        ).distinct().cte("evt")
    else:
        parts = [
            sa.select(latest.c.case_id, *s_cols, sa.literal(name, sa.String).label("event"))
            .join(CaseReaction, CaseReaction.case_version_id == latest.c.vid)
            .where(CaseReaction.pt_code.in_(sorted(codes)))
            for name, codes in groups.items() if codes
        ]
        if not parts:
            return _empty(strata)
        evt = sa.union(*parts).cte("evt") if len(parts) > 1 else parts[0].distinct().cte("evt")

    key = [prod.c[s] for s in strata]
    cells = (
        sa.select(prod.c.product, evt.c.event, *key, sa.func.count().label("a"))
        .join(evt, evt.c.case_id == prod.c.case_id)
        .group_by(prod.c.product, evt.c.event, *key)
    )
    n_product = sa.select(prod.c.product, *key, sa.func.count().label("n_product")).group_by(prod.c.product, *key)
    n_event = sa.select(evt.c.event, *[evt.c[s] for s in strata], sa.func.count().label("n_event")).group_by(
        evt.c.event, *[evt.c[s] for s in strata])
    n_total = sa.select(*s_cols, sa.func.count().label("n_total")).select_from(latest)
    if strata:
        n_total = n_total.group_by(*s_cols)

    conn = session.connection()
    frame = pd.DataFrame(conn.execute(cells).mappings().all(), columns=["product", "event", *strata, "a"])
    if frame.empty:
        return _empty(strata)
    frame = frame.merge(pd.DataFrame(conn.execute(n_product).mappings().all()), on=["product", *strata])
    frame = frame.merge(pd.DataFrame(conn.execute(n_event).mappings().all()), on=["event", *strata])
    totals = pd.DataFrame(conn.execute(n_total).mappings().all())
    frame = frame.merge(totals, on=strata) if strata else frame.assign(n_total=int(totals["n_total"].iloc[0]))
    if strata and (groups is not None or level.level != "pt"):
        frame = _add_margin_rows(frame, pd.DataFrame(conn.execute(n_product).mappings().all()), strata)
    return frame


def _empty(strata: Sequence[str] = ()) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ("product", "event", *strata)}).assign(
        a=pd.Series(dtype="int64"), n_product=pd.Series(dtype="int64"), n_event=pd.Series(dtype="int64"),
        n_total=pd.Series(dtype="int64"))


def _add_margin_rows(frame: pd.DataFrame, n_product: pd.DataFrame, strata: list[str]) -> pd.DataFrame:
    """With groups, a product may have reports in a stratum but no grouped event there.

    Its reports still belong in that stratum's expected counts, so it gets a row with a = 0
    (paired with any event of the stratum) that carries only its marginal.
    """
    present = frame[["product", *strata]].drop_duplicates()
    missing = n_product.merge(present, on=["product", *strata], how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"].drop(columns="_merge")
    if missing.empty:
        return frame
    one_event = frame.drop_duplicates(strata)[[*strata, "event", "n_event", "n_total"]]
    extra = missing.merge(one_event, on=strata).assign(a=0)
    return pd.concat([frame, extra[frame.columns]], ignore_index=True)

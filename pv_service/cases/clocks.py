"""Expedited-reporting clocks of the cases in the database.

A case is reported to each regulator that approved one of its suspect products (the
approval jurisdictions of the product registry). Day 0 is the case's first receipt. A case is
unexpected for a regulator unless every reaction of its latest version is listed in the label
for that regulator in force at receipt (pv_service.rsi): unassessed or no label counts as
unexpected, the conservative reading. A report from a study (C.1.3) is flagged `study`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pv_service.cases.access import counted_case
from pv_service.cases.models import (
    Case,
    CaseDrug,
    CaseReaction,
    CaseVersion,
    RegulatorySubmission,
)
from pv_service.cases.reporting_clock import evaluate_reporting_clocks
from pv_service.products.models import Product, ProductApproval
from pv_service.rsi.models import ReactionExpectedness

SUSPECT_ROLES = ("suspect", "interacting")


def clock_cases(session: Session, product_ids: Sequence[int] | None = None,
                received_from: dt.date | None = None) -> pd.DataFrame:
    """One row per (case, jurisdiction): the engine's input, plus product codes."""
    conn = session.connection()
    flags = (
        sa.select(
            Case.id.label("case_id"), Case.first_received, CaseVersion.serious,
            sa.func.max(sa.case((CaseVersion.report_type == "study", 1), else_=0)).label("study"),
            sa.func.count(CaseReaction.id).label("n_reactions"),
            sa.func.max(sa.case((sa.or_(CaseReaction.death.is_(True), CaseReaction.outcome == "fatal"), 1), else_=0)).label("death"),
            sa.func.max(sa.case((CaseReaction.life_threatening.is_(True), 1), else_=0)).label("life_threatening"),
        )
        .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
        .join(CaseReaction, CaseReaction.case_version_id == CaseVersion.id)
        .where(counted_case())
        .group_by(Case.id, Case.first_received, CaseVersion.serious)
    )
    if received_from is not None:
        flags = flags.where(Case.first_received >= received_from)
    where = [CaseDrug.role.in_(SUSPECT_ROLES)]
    if product_ids is not None:
        where.append(CaseDrug.product_id.in_(list(product_ids)))
    targets = (
        sa.select(Case.id.label("case_id"), ProductApproval.jurisdiction, Product.code.label("product_code"),
                  Product.id.label("product_id"))
        .join(CaseDrug, CaseDrug.case_version_id == Case.latest_version_id)
        .join(Product, Product.id == CaseDrug.product_id)
        .join(ProductApproval, ProductApproval.product_id == Product.id)
        .where(*where).distinct()
    )
    listed = (
        sa.select(Case.id.label("case_id"), ReactionExpectedness.jurisdiction, sa.func.count().label("n_listed"))
        .join(ReactionExpectedness, ReactionExpectedness.case_version_id == Case.latest_version_id)
        .where(ReactionExpectedness.expectedness == "listed")
        .group_by(Case.id, ReactionExpectedness.jurisdiction)
    )
    if received_from is not None:
        listed = listed.where(Case.first_received >= received_from)
    f = pd.DataFrame(conn.execute(flags).mappings().all(),
                     columns=["case_id", "first_received", "serious", "study", "n_reactions", "death",
                              "life_threatening"])
    n_listed = pd.DataFrame(conn.execute(listed).mappings().all(), columns=["case_id", "jurisdiction", "n_listed"])
    t = pd.DataFrame(conn.execute(targets).mappings().all(), columns=["case_id", "jurisdiction", "product_code", "product_id"])
    t = (t.groupby(["case_id", "jurisdiction"], as_index=False)
         .agg(product_codes=("product_code", lambda s: ",".join(sorted(set(s)))), product_id=("product_id", "min")))
    subs = pd.DataFrame(conn.execute(sa.select(
        RegulatorySubmission.case_id, RegulatorySubmission.jurisdiction, RegulatorySubmission.submitted_date
    ).where(RegulatorySubmission.status == "accepted")).mappings().all(), columns=["case_id", "jurisdiction", "submitted_date"])
    frame = (f.merge(t, on="case_id").merge(subs, on=["case_id", "jurisdiction"], how="left")
             .merge(n_listed, on=["case_id", "jurisdiction"], how="left"))
    frame["death"] = frame["death"].astype(bool)
    frame["life_threatening"] = frame["life_threatening"].astype(bool)
    frame["serious"] = frame["serious"].astype(bool)
    frame["study"] = frame["study"].astype(bool)
    listed_n = pd.to_numeric(frame["n_listed"], errors="coerce").fillna(0).astype(int)
    frame["unexpected"] = listed_n < frame["n_reactions"].astype(int)
    return frame.drop(columns=["n_listed", "n_reactions"])


def clock_status(session: Session, rules, as_of: dt.date, product_ids: Sequence[int] | None = None,
                 received_from: dt.date | None = None) -> pd.DataFrame:
    """Due date and status per (case, jurisdiction) as of a date (see reporting_clock.py)."""
    cases = clock_cases(session, product_ids, received_from)
    if cases.empty:
        return cases
    result = evaluate_reporting_clocks(cases, rules, as_of)
    extra = [c for c in ("product_codes", "product_id") if c not in result.columns]
    return result.merge(cases[["case_id", "jurisdiction", *extra]], on=["case_id", "jurisdiction"], how="left") if extra else result

"""Individual case safety reports, shaped after ICH E2B(R3). Versions are append-only."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime


class Case(SQLModel, table=True):
    """A sender's case (C.1.8.1); its content lives in immutable versions."""
    __tablename__ = "safety_case"
    __table_args__ = (sa.UniqueConstraint("sender_id", "sender_case_id", name="uq_case_sender_case"),)
    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: the unique (sender_id, sender_case_id) index leads with it.
    sender_id: int = Field(foreign_key="organization.id")
    sender_case_id: str = Field(max_length=100)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    # Day 0 of the reporting clock: first receipt of the valid case (C.1.4 of the initial version).
    first_received: dt.date = Field(index=True)
    # Pointer to the version analysis uses: the highest version number received.
    latest_version_id: int | None = Field(default=None, index=True)
    latest_version: int = 0
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class CaseVersion(SQLModel, table=True):
    __tablename__ = "case_version"
    __table_args__ = (sa.UniqueConstraint("case_id", "version", name="uq_case_version_case_version"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="safety_case.id")  # indexed by the unique (case_id, version)
    version: int
    content_hash: str = Field(max_length=64)
    report_type: str = Field(max_length=20)
    received_date: dt.date  # C.1.4 as sent with this version
    latest_info_date: dt.date  # C.1.5
    reporter_qualification: str = Field(max_length=40)
    reporter_country: str = Field(max_length=2)
    serious: bool = Field(index=True)
    narrative: str | None = None
    transgene_in_tumour: str | None = Field(default=None, max_length=20)
    submitted_by: int = Field(foreign_key="app_user.id")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class CaseDrug(SQLModel, table=True):
    """G.k: a product in the case, tied to the patient's treatment (chain of identity)."""
    __tablename__ = "case_drug"
    id: int | None = Field(default=None, primary_key=True)
    case_version_id: int = Field(foreign_key="case_version.id", index=True)
    treatment_id: int = Field(foreign_key="treatment.id", index=True)
    product_id: int = Field(foreign_key="product.id", index=True)  # the treatment's product
    role: str = Field(max_length=20)


class CaseReaction(SQLModel, table=True):
    """E.i: one reaction/event.

    `meddra_version`, `llt_*`, `pt_*` and `soc_code` are the current coding (derived from a
    loaded dictionary, moved by `meddra recode`); `reported_*` keep the coding as reported.
    Without a loaded dictionary both are as sent and `soc_code` is empty.
    """
    __tablename__ = "case_reaction"
    id: int | None = Field(default=None, primary_key=True)
    case_version_id: int = Field(foreign_key="case_version.id", index=True)
    meddra_version: str | None = Field(default=None, max_length=10)
    soc_code: str | None = Field(default=None, max_length=8)  # the PT's primary SOC in meddra_version
    reported_meddra_version: str | None = Field(default=None, max_length=10)
    reported_llt_code: str | None = Field(default=None, max_length=20)
    reported_pt_code: str | None = Field(default=None, max_length=20)
    pt_code: str = Field(max_length=20, index=True)
    pt_name: str = Field(max_length=250, index=True)
    llt_code: str | None = Field(default=None, max_length=20)
    llt_name: str | None = Field(default=None, max_length=250)
    onset_date: dt.date | None = None
    death: bool = False
    life_threatening: bool = False
    hospitalisation: bool = False
    disability: bool = False
    congenital_anomaly: bool = False
    other_medically_important: bool = False
    outcome: str = Field(max_length=30)
    grade: int | None = None
    grade_scale: str | None = Field(default=None, max_length=10)
    causality: str | None = Field(default=None, max_length=30)


class RegulatorySubmission(SQLModel, table=True):
    """The date an expedited report of a case reached a regulator: it stops that case's clock."""
    __tablename__ = "regulatory_submission"
    __table_args__ = (sa.UniqueConstraint("case_id", "jurisdiction", name="uq_regulatory_submission_case_jurisdiction"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="safety_case.id", index=True)
    jurisdiction: str = Field(max_length=20)
    submitted_date: dt.date
    reference: str | None = Field(default=None, max_length=100)
    recorded_by: int = Field(foreign_key="app_user.id")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)

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
    # The registered patient (LTFU), or None for a patient described in the report only (E2B D).
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
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
    content_hash: str = Field(max_length=64, index=True)  # identical content under another case id
    report_type: str = Field(max_length=20)
    received_date: dt.date  # C.1.4 as sent with this version
    latest_info_date: dt.date  # C.1.5
    reporter_qualification: str = Field(max_length=40)
    reporter_country: str = Field(max_length=2)
    serious: bool = Field(index=True)
    narrative: str | None = None
    transgene_in_tumour: str | None = Field(default=None, max_length=20)
    # E2B(R3) identification: how the version came (json or e2b), C.1.1, C.1.8.1, the message
    # (N.2.r.1) and its C.1.2 creation time; C.1.11 nullification or amendment.
    source_format: str = Field(default="json", max_length=10, sa_column_kwargs={"server_default": "json"})
    safety_report_id: str | None = Field(default=None, max_length=100)
    worldwide_id: str | None = Field(default=None, max_length=100, index=True)
    message_id: str | None = Field(default=None, max_length=100)
    message_created: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    nullification: str | None = Field(default=None, max_length=20)
    nullification_reason: str | None = Field(default=None, max_length=2000)
    # D: a patient described by the report (not registered): no name, initials or identifier is kept
    # except as a pseudonym keyed per sender.
    patient_pseudonym: str | None = Field(default=None, max_length=64)
    patient_sex: str | None = Field(default=None, max_length=10)
    patient_birth_year: int | None = None
    patient_age: float | None = None
    patient_age_unit: str | None = Field(default=None, max_length=10)
    patient_age_group: str | None = Field(default=None, max_length=10)
    patient_weight_kg: float | None = None
    patient_height_cm: float | None = None
    patient_death_date: dt.date | None = None
    # H.2 and H.4 (H.1 is `narrative`).
    reporter_comments: str | None = None
    sender_comments: str | None = None
    # The repeating parts kept as sent: C.2.r sources, C.1.9.1 other ids, C.4 literature, C.5 study,
    # D.7 history, D.8 past drugs, D.9 causes of death, D.10 parent, F.r tests, H.3 diagnoses.
    detail: dict | None = Field(default=None, sa_type=sa.JSON)
    submitted_by: int = Field(foreign_key="app_user.id")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class CaseDrug(SQLModel, table=True):
    """G.k: a product in the case: the patient's treatment (chain of identity), or a drug as reported
    (any role, matched to a registered product where possible)."""
    __tablename__ = "case_drug"
    id: int | None = Field(default=None, primary_key=True)
    case_version_id: int = Field(foreign_key="case_version.id", index=True)
    treatment_id: int | None = Field(default=None, foreign_key="treatment.id", index=True)
    # The treatment's product, or the registry's match of a reported drug (None: not a registered product).
    product_id: int | None = Field(default=None, foreign_key="product.id", index=True)
    role: str = Field(max_length=20)
    name_as_reported: str | None = Field(default=None, max_length=250)  # G.k.2.2
    product_code: str | None = Field(default=None, max_length=100)  # G.k.2.1 (MPID/PhPID or a national code)
    authorisation_number: str | None = Field(default=None, max_length=100)  # G.k.3.1
    holder: str | None = Field(default=None, max_length=250)  # G.k.3.3
    batch_lot: str | None = Field(default=None, max_length=100, index=True)  # G.k.4.r.7 of the first dosage
    action_taken: str | None = Field(default=None, max_length=10)  # G.k.8
    # G.k.2.3 substances, G.k.4.r dosages, G.k.7.r indications, G.k.9.i relatedness, as sent.
    detail: dict | None = Field(default=None, sa_type=sa.JSON)


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
    # From the regulator's ACK: accepted (CA/AA) stops the clock; rejected (CR/AR) does not.
    status: str = Field(default="accepted", max_length=10, sa_column_kwargs={"server_default": "accepted"})
    reason: str | None = Field(default=None, max_length=2000)  # the regulator's words when rejected
    recorded_by: int = Field(foreign_key="app_user.id")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)

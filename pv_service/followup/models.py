from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime


class FollowupContact(SQLModel, table=True):
    """A follow-up visit, or a contact outcome that is not a visit (death, withdrawal, ...)."""
    __tablename__ = "followup_contact"
    id: int | None = Field(default=None, primary_key=True)
    treatment_id: int = Field(foreign_key="treatment.id", index=True)
    kind: str = Field(max_length=20)
    contact_date: dt.date = Field(index=True)
    # Label of the scheduled timepoint this fulfils (e.g. "M3", "Y2"); None lets the
    # compliance engine match by window.
    timepoint: str | None = Field(default=None, max_length=20)
    vital_status: str = Field(max_length=10)
    malignancy_screening: str = Field(default="not_done", max_length=20)
    malignancy_detail: str | None = Field(default=None, max_length=500)
    vector_test: str = Field(default="not_done", max_length=20)
    anc_10e9_l: float | None = None
    hemoglobin_g_dl: float | None = None
    platelets_10e9_l: float | None = None
    lymphocytes_10e9_l: float | None = None
    igg_g_l: float | None = None
    infection_since_last: bool | None = None
    notes: str | None = Field(default=None, max_length=2000)
    created_by: int = Field(foreign_key="app_user.id")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)

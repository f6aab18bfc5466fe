"""Reference safety information (RSI): each product's labelled events per jurisdiction's label,
versioned by effective date, and the expectedness of each stored reaction against it."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime


class RsiVersion(SQLModel, table=True):
    """One version of one label (US PI, China label, EU SmPC): it applies from `effective_from`
    until the next version of the same product and jurisdiction. Never edited: a change is a new version."""
    __tablename__ = "rsi_version"
    __table_args__ = (sa.UniqueConstraint("product_id", "jurisdiction", "effective_from",
                                          name="uq_rsi_version_product_jurisdiction_from"),)
    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    jurisdiction: str = Field(max_length=20)  # as the product's approvals name it (FDA, NMPA, EMA)
    document: str = Field(max_length=40)  # US PI, China label, EU SmPC
    version_label: str = Field(max_length=100)  # e.g. the label's revision date
    effective_from: dt.date
    source: str = Field(max_length=500)
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class RsiTerm(SQLModel, table=True):
    """A labelled event: a MedDRA PT code, or every PT under an HLT or in an SMQ (narrow or broad)."""
    __tablename__ = "rsi_term"
    id: int | None = Field(default=None, primary_key=True)
    rsi_version_id: int = Field(foreign_key="rsi_version.id", index=True)
    kind: str = Field(max_length=10)  # pt, hlt, smq
    code: str = Field(max_length=20)
    scope: str | None = Field(default=None, max_length=10)  # smq only: narrow or broad
    name: str | None = Field(default=None, max_length=250)  # for display only: codes decide


class ReactionExpectedness(SQLModel, table=True):
    """Listed or unlisted, for one reaction of one case version, in one jurisdiction, against the label
    version in force on the version's date of receipt (no_label: none in force then)."""
    __tablename__ = "reaction_expectedness"
    __table_args__ = (sa.UniqueConstraint("case_reaction_id", "jurisdiction",
                                          name="uq_reaction_expectedness_reaction_jurisdiction"),)
    id: int | None = Field(default=None, primary_key=True)
    case_reaction_id: int = Field(foreign_key="case_reaction.id")  # indexed by the unique constraint
    case_version_id: int = Field(foreign_key="case_version.id", index=True)
    jurisdiction: str = Field(max_length=20)
    expectedness: str = Field(max_length=10)  # listed, unlisted, no_label
    rsi_version_id: int | None = Field(default=None, foreign_key="rsi_version.id")
    matched: str | None = Field(default=None, max_length=60)  # the label term that listed it, e.g. "HLT 97000201"
    assessed_at: dt.datetime = Field(sa_type=UTCDateTime)

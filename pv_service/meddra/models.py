"""A loaded MedDRA dictionary, one set of rows per version (versions live side by side).

Codes are kept as 8-digit text, as case reactions carry them, so analysis joins
`case_reaction.pt_code` to these tables directly (`meddra_version` + code).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime

_VERSION_FK = "meddra_version.version"


class MeddraVersion(SQLModel, table=True):
    """A loaded release; immutable once loaded (its content hash says what was loaded)."""
    __tablename__ = "meddra_version"
    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=10, unique=True)
    language: str | None = Field(default=None, max_length=40)
    content_hash: str = Field(max_length=64)
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    loaded_at: dt.datetime = Field(sa_type=UTCDateTime)


class MeddraTerm(SQLModel, table=True):
    """A term at any level: LLTs point at their PT, PTs name their primary SOC, SOCs carry their abbreviation."""
    __tablename__ = "meddra_term"
    __table_args__ = (sa.Index("ix_meddra_term_version_pt_code", "version", "pt_code"),)
    version: str = Field(max_length=10, primary_key=True, foreign_key=_VERSION_FK)
    level: str = Field(max_length=4, primary_key=True)  # llt, pt, hlt, hlgt, soc
    code: str = Field(max_length=8, primary_key=True)
    name: str = Field(max_length=250)
    name_folded: str = Field(max_length=250)  # case- and accent-free, for search
    pt_code: str | None = Field(default=None, max_length=8)  # an LLT's PT; a PT's own code
    current: bool = True  # LLT currency (llt_currency); always true above LLT
    primary_soc_code: str | None = Field(default=None, max_length=8)  # PTs
    abbrev: str | None = Field(default=None, max_length=20)  # SOCs
    intl_order: int | None = None  # SOCs: the internationally agreed order


class MeddraPath(SQLModel, table=True):
    """A row of mdhier.asc: one path of a PT up to a SOC; exactly one path per PT is primary."""
    __tablename__ = "meddra_path"
    __table_args__ = (
        sa.Index("ix_meddra_path_version_hlt_code", "version", "hlt_code"),
        sa.Index("ix_meddra_path_version_hlgt_code", "version", "hlgt_code"),
        sa.Index("ix_meddra_path_version_soc_code", "version", "soc_code"),
    )
    version: str = Field(max_length=10, primary_key=True, foreign_key=_VERSION_FK)
    pt_code: str = Field(max_length=8, primary_key=True)
    hlt_code: str = Field(max_length=8, primary_key=True)
    hlgt_code: str = Field(max_length=8, primary_key=True)
    soc_code: str = Field(max_length=8, primary_key=True)
    is_primary: bool


class MeddraSmq(SQLModel, table=True):
    __tablename__ = "meddra_smq"
    version: str = Field(max_length=10, primary_key=True, foreign_key=_VERSION_FK)
    smq_code: str = Field(max_length=8, primary_key=True)
    name: str = Field(max_length=250)
    name_folded: str = Field(max_length=250)
    smq_level: int
    status: str = Field(max_length=1)  # A active, I inactive
    algorithm: str | None = Field(default=None, max_length=40)
    description: str | None = None


class MeddraSmqTerm(SQLModel, table=True):
    """An SMQ's content flattened at load: sub-SMQs resolved to their PTs and LLTs, active terms only.

    Narrow search = scope 'narrow'; broad search = 'narrow' and 'broad'. `pt_code` is the
    term's PT (an LLT's PT), so counting by PT needs no further join.
    """
    __tablename__ = "meddra_smq_term"
    __table_args__ = (sa.Index("ix_meddra_smq_term_version_pt_code", "version", "pt_code"),)
    version: str = Field(max_length=10, primary_key=True, foreign_key=_VERSION_FK)
    smq_code: str = Field(max_length=8, primary_key=True)
    term_level: str = Field(max_length=4, primary_key=True)  # pt or llt
    term_code: str = Field(max_length=8, primary_key=True)
    pt_code: str = Field(max_length=8)
    scope: str = Field(max_length=6)  # narrow or broad
    category: str | None = Field(default=None, max_length=2)  # algorithmic SMQs' term category

"""API views of the loaded MedDRA dictionary."""
from __future__ import annotations

import datetime as dt
from enum import Enum

from pydantic import BaseModel, Field


class Level(str, Enum):
    llt = "llt"
    pt = "pt"
    hlt = "hlt"
    hlgt = "hlgt"
    soc = "soc"


class VersionPublic(BaseModel):
    version: str
    language: str | None
    content_hash: str = Field(description="SHA-256 of the distribution's records, as loaded")
    counts: dict[str, int]
    loaded_at: dt.datetime


class TermSummary(BaseModel):
    version: str
    level: Level
    code: str
    name: str
    current: bool = Field(description="LLT currency; always true above LLT")
    pt_code: str | None = Field(description="An LLT's PT (a PT's own code)")


class TermRef(BaseModel):
    code: str
    name: str


class SocRef(TermRef):
    abbrev: str | None = None


class LltRef(TermRef):
    current: bool


class PathPublic(BaseModel):
    primary: bool | None = Field(description="The PT's primary path (null above PT level, where it is not defined)")
    hlt: TermRef | None = None
    hlgt: TermRef | None = None
    soc: SocRef | None = None


class ChildRef(TermRef):
    level: Level


class SmqMembership(BaseModel):
    code: str
    name: str
    smq_level: int
    status: str = Field(description="A active, I inactive")
    scope: str = Field(description="narrow (in the narrow and broad searches) or broad (broad search only)")
    via: str = Field(description="pt: the term's PT is in the SMQ; llt: the LLT itself is")


class TermDetail(BaseModel):
    version: str
    level: Level
    code: str
    name: str
    current: bool
    also_at_levels: list[Level] = Field(description="Other levels with this code (an LLT shares its PT's code)")
    llt: LltRef | None
    pt: TermRef | None
    primary_soc_code: str | None
    paths: list[PathPublic] = Field(description="LLT/PT: every path of the PT to a SOC, the primary first; "
                                                "HLT/HLGT/SOC: the distinct paths above it")
    children: list[ChildRef] = Field(description="HLT/HLGT/SOC: the terms one level below")
    smqs: list[SmqMembership]

"""Coding a reported reaction against the loaded dictionary: pure, by code.

The service derives the PT and its primary SOC from the code (LLT, or PT), so a name only
ever confirms a code: it is compared case-, accent- and space-insensitively, and one that
names another term is refused rather than believed.
"""
from __future__ import annotations

from dataclasses import dataclass

from pv_service.meddra.distribution import CODE, fold
from pv_service.meddra.lookup import Dictionary, version_key


@dataclass(frozen=True, slots=True)
class Coded:
    meddra_version: str
    llt_code: str | None
    llt_name: str | None
    pt_code: str
    pt_name: str
    soc_code: str
    llt_current: bool | None  # None: no LLT was reported


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # the reaction's field at fault
    message: str


def _loaded(dictionaries: dict[str, Dictionary]) -> str:
    return ", ".join(sorted(dictionaries, key=version_key, reverse=True))


def code(dictionaries: dict[str, Dictionary], version: str | None, llt_code: str | None, pt_code: str | None,
         llt_name: str | None = None, pt_name: str | None = None) -> Coded | Problem:
    """The coding of one reaction, or the first thing wrong with it (`dictionaries` must not be empty)."""
    if version is None:
        return Problem("meddra_version", f"required: codes are checked against the loaded MedDRA ({_loaded(dictionaries)})")
    d = dictionaries.get(version)
    if d is None:
        return Problem("meddra_version", f"MedDRA {version} is not loaded (loaded: {_loaded(dictionaries)})")
    if llt_code is None and pt_code is None:
        return Problem("llt_code", "an LLT code (E.i.2.1b) or a PT code is required")
    for field_, value in (("llt_code", llt_code), ("pt_code", pt_code)):
        if value is not None and not CODE.fullmatch(value):
            return Problem(field_, f"{value!r} is not an 8-digit MedDRA code")
    llt = None
    if llt_code is not None:
        llt = d.llts.get(llt_code)
        if llt is None:
            return Problem("llt_code", f"{llt_code} is not an LLT in MedDRA {version}")
        if pt_code is not None and pt_code != llt.pt_code:
            return Problem("pt_code", f"{pt_code} contradicts llt_code {llt_code}, whose PT in MedDRA {version} is "
                                      f"{llt.pt_code}")
        if llt_name is not None and fold(llt_name) != llt.folded:
            return Problem("llt_name", f"{llt_name!r} contradicts llt_code {llt_code}, which is {llt.name!r} in "
                                       f"MedDRA {version}")
        pt_code = llt.pt_code
    pt = d.pts.get(pt_code)
    if pt is None:
        return Problem("pt_code", f"{pt_code} is not a PT in MedDRA {version}")
    if pt_name is not None and fold(pt_name) != pt.folded:
        return Problem("pt_name", f"{pt_name!r} contradicts the code's PT {pt_code}, which is {pt.name!r} in "
                                  f"MedDRA {version}")
    return Coded(version, llt_code, llt.name if llt else None, pt_code, pt.name, pt.soc_code,
                 llt.current if llt else None)

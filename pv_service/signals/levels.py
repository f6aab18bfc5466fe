"""The MedDRA level a disproportionality analysis counts at, and its pure mapping from PT codes.

Reactions carry a PT code; every level above is reached from it through one dictionary
version: HLT, HLGT and SOC through the PT's `mdhier` paths (its primary path only, by
default, so a multi-axial PT counts once, under its primary SOC; or every path), an SMQ
through its flattened content (narrow terms, or narrow and broad). A report counts once
per term at the level, however many of its PTs lead there (MedDRA "Data Retrieval and
Presentation: Points to Consider", section 3: primary SOC for counts, secondary paths
as an option).

This module is pure (a Distribution in, dictionaries out) for the analyst CLI; the
database route is pv_service.signals.hierarchy, which must give the same counts.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pv_service.meddra.ascii import MeddraFormatError
from pv_service.meddra.distribution import Distribution, read_distribution

from .compute import SignalResult, compute_from_counts
from .counts import PairCounts, SignalInputError, count_pairs, restrict_to_comparator

LEVELS = ("pt", "hlt", "hlgt", "soc", "smq")
PATHS = ("primary", "all")
SCOPES = ("narrow", "broad")
# Rows whose PT reaches no term at the level keep their report in the background under
# this event; its pairs are dropped before any measure is computed.
OUTSIDE = "\x00outside"


@dataclass(frozen=True)
class Level:
    """A level with its option: `paths` for HLT, HLGT and SOC; `scope` for SMQ."""
    level: str = "pt"
    paths: str = "primary"
    scope: str = "narrow"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level {self.level!r} is not one of {', '.join(LEVELS)}")
        if self.paths not in PATHS:
            raise ValueError(f"paths {self.paths!r} is not one of {', '.join(PATHS)}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope {self.scope!r} is not one of {', '.join(SCOPES)}")

    @property
    def needs_dictionary(self) -> bool:
        return self.level != "pt"

    @property
    def label(self) -> str:
        """How runs and alerts name it: the level, plus its option where not the default."""
        if self.level in ("hlt", "hlgt", "soc") and self.paths == "all":
            return f"{self.level}:all"
        if self.level == "smq" and self.scope == "broad":
            return "smq:broad"
        return self.level

    @classmethod
    def parse(cls, label: str) -> "Level":
        """The inverse of `label` ("soc:all", "smq:broad", "hlt", ...); ValueError naming what is wrong."""
        level, _, option = label.partition(":")
        if not option:
            return cls(level)
        if level == "smq":
            return cls(level, scope=option)
        if level in ("hlt", "hlgt", "soc"):
            return cls(level, paths=option)
        raise ValueError(f"level {level!r} takes no option (got {label!r})")

    def describe(self) -> dict[str, str]:
        out = {"level": self.level}
        if self.level in ("hlt", "hlgt", "soc"):
            out["paths"] = self.paths
        if self.level == "smq":
            out["scope"] = self.scope
        return out


PT = Level()


def pt_to_level(dist: Distribution, level: Level) -> dict[str, set[str]]:
    """PT code -> the codes it counts under at `level` in this distribution."""
    out: dict[str, set[str]] = {}
    if level.level == "pt":
        for t in dist.terms:
            if t[0] == "pt":
                out[t[1]] = {t[1]}
        return out
    if level.level == "smq":
        active = {s[0] for s in dist.smqs if s[3] == "A"}
        for smq, term_level, _term, pt, scope, _category in dist.smq_terms:
            # A PT-level entry; an LLT entry needs the reaction's LLT, which report rows do not carry.
            if smq in active and term_level == "pt" and (level.scope == "broad" or scope == "narrow"):
                out.setdefault(pt, set()).add(smq)
        return out
    index = {"hlt": 1, "hlgt": 2, "soc": 3}[level.level]
    for path in dist.paths:
        if level.paths == "all" or path[4]:
            out.setdefault(path[0], set()).add(path[index])
    return out


def level_names(dist: Distribution, level: Level) -> dict[str, str]:
    if level.level == "smq":
        return {s[0]: s[1] for s in dist.smqs}
    return {t[1]: t[2] for t in dist.terms if t[0] == level.level}


def rows_at_level(rows: pd.DataFrame, mapping: Mapping[str, set[str]], *, event_col: str = "event") -> pd.DataFrame:
    """One row per (row, term at the level); a row whose PT reaches none keeps its report as `OUTSIDE`."""
    pairs = pd.DataFrame([(pt, code) for pt, codes in mapping.items() for code in codes],
                         columns=["__pv_pt", "__pv_code"])
    merged = rows.assign(__pv_pt=rows[event_col].astype(str).str.strip()).merge(pairs, on="__pv_pt", how="left")
    merged[event_col] = merged["__pv_code"].fillna(OUTSIDE)
    return merged.drop(columns=["__pv_pt", "__pv_code"]).reset_index(drop=True)


def without_event(counts: PairCounts, label: str) -> PairCounts:
    """The same counts with the pairs of one event removed; every margin is kept (the
    event's reports stay in the products' counts and the totals)."""
    hits = (counts.events == label).nonzero()[0]
    if not hits.size:
        return counts
    keep_pair = counts.pair_event != hits[0]
    if not keep_pair.any():
        raise SignalInputError("no report names a term at this level")
    new_index = keep_pair.cumsum() - 1
    keep_cell = keep_pair[counts.cell_pair]
    return PairCounts(
        products=counts.products, events=counts.events, strata=counts.strata,
        pair_product=counts.pair_product[keep_pair], pair_event=counts.pair_event[keep_pair],
        a=counts.a[keep_pair], product_margin=counts.product_margin, event_margin=counts.event_margin,
        stratum_total=counts.stratum_total, cell_pair=new_index[counts.cell_pair[keep_cell]],
        cell_stratum=counts.cell_stratum[keep_cell], cell_a=counts.cell_a[keep_cell])


def compute_at_level(rows: pd.DataFrame, dist: Distribution, level: Level, *, strata: list[str],
                     comparator: list[str] | None = None, max_stratum_levels: int, **options) -> SignalResult:
    """The measures of every (product, term at `level`) pair of report rows whose events are PT codes.

    Reports keep their place in the background whether or not their PTs reach a term at the
    level, as in the database route. The table gains `event_name` from the dictionary.
    """
    if comparator:
        rows = restrict_to_comparator(rows, comparator)
    mapping = pt_to_level(dist, level)
    unknown = set(rows["event"].astype(str).str.strip()) - {t[1] for t in dist.terms if t[0] == "pt"}
    if unknown:
        example = ", ".join(sorted(unknown)[:3])
        raise SignalInputError(f"{len(unknown)} event code(s) are not PTs of MedDRA {dist.version} (e.g. {example}); "
                               "events must be PT codes of the dictionary given")
    mapped = rows_at_level(rows, mapping)
    counts = count_pairs(mapped["report_id"], mapped["product"], mapped["event"],
                         mapped[strata] if strata else None, max_stratum_levels=max_stratum_levels)
    result = compute_from_counts(without_event(counts, OUTSIDE), **options)
    names = level_names(dist, level)
    table = result.table
    table.insert(table.columns.get_loc("event") + 1, "event_name", table["event"].map(names))
    return SignalResult(table, result.fit, result.prior)


def cli_distribution(directory: Path | None, version: str | None, level: Level) -> Distribution | None:
    """The dictionary the analyst CLI counts with: a distribution directory (read with the loader's
    parser) or a version loaded in the database; None at PT level with neither. SignalInputError
    for what is wrong (both given, a broken distribution, a version not loaded, a level with none)."""
    if directory is not None and version is not None:
        raise SignalInputError("give --meddra DIR or --meddra-version, not both")
    if directory is not None:
        try:
            return read_distribution(directory)
        except MeddraFormatError as exc:
            raise SignalInputError(f"--meddra: {exc}") from None
    if version is not None:
        from pv_service.cli import _check_migrated, _engine  # the database only when asked for
        from pv_service.signals.hierarchy import analysis_version, stored_distribution

        engine = _engine()
        _check_migrated(engine)
        with engine.connect() as conn:
            return stored_distribution(conn, analysis_version(conn, version))
    if level.needs_dictionary:
        raise SignalInputError(f"--level {level.label} needs a dictionary: --meddra DIR or --meddra-version V")
    return None

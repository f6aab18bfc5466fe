"""A MedDRA distribution read and checked as a whole, ready to store: pure, no database.

Every reference is checked (an LLT's PT, a PT's primary SOC, each `mdhier` path against
the link files, each SMQ's terms), so what is stored is a consistent hierarchy. SMQs are
flattened here: a nested SMQ contributes its own terms (resolved to the bottom) with their
scopes, so the narrow search of an SMQ is its narrow terms and the broad search its narrow
plus broad terms (MedDRA "Introductory Guide for Standardised MedDRA Queries", section 2).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from pv_service.meddra.ascii import SPECS, MeddraFormatError, find_files, read_rows

CODE = re.compile(r"^[0-9]{8}$")
VERSION = re.compile(r"^[0-9]{1,3}\.[0-9]{1,2}$")
LEVELS = ("llt", "pt", "hlt", "hlgt", "soc")
# smq_content.asc: term_level 0 is a sub-SMQ, 4 a PT, 5 an LLT; term_scope 1 broad, 2 narrow.
_CONTENT_LEVEL = {"0": "smq", "4": "pt", "5": "llt"}
_SCOPE = {"1": "broad", "2": "narrow"}


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a name, for search and comparison (NFKD, marks dropped, casefold)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


@dataclass
class Distribution:
    version: str
    language: str | None
    # One row per term: (level, code, name, pt_code, current, primary_soc_code, abbrev, intl_order).
    terms: list[tuple] = field(default_factory=list)
    # (pt, hlt, hlgt, soc, primary)
    paths: list[tuple[str, str, str, str, bool]] = field(default_factory=list)
    # (smq_code, name, level, status, algorithm, description)
    smqs: list[tuple] = field(default_factory=list)
    # flattened content: (smq_code, term_level, term_code, pt_code, scope, category)
    smq_terms: list[tuple] = field(default_factory=list)
    content_hash: str = ""

    def counts(self) -> dict[str, int]:
        counts = {level: 0 for level in LEVELS}
        for t in self.terms:
            counts[t[0]] += 1
        return {**counts, "mdhier": len(self.paths), "smq": len(self.smqs), "smq_terms": len(self.smq_terms)}


class _Reader:
    """Reads one file's rows and words problems with its actual file name and line."""

    def __init__(self, files: dict[str, Path]):
        self.files = files
        self.digest = hashlib.sha256()

    def rows(self, name: str) -> list[tuple[int, tuple[str, ...]]]:
        path = self.files.get(name)
        if path is None:
            return []
        rows = read_rows(SPECS[name], path.read_bytes(), path.name)
        # The hash covers the records, not the bytes: line endings or a missing final $ do not change it.
        self.digest.update(name.encode() + b"\0")
        for _, fields in rows:
            self.digest.update("\x1f".join(fields).encode() + b"\n")
        return rows

    def fail(self, name: str, line: int | None, reason: str) -> MeddraFormatError:
        path = self.files.get(name)
        return MeddraFormatError(path.name if path else name, line, reason)

    def code(self, name: str, line: int, column: str, value: str) -> str:
        if not CODE.fullmatch(value):
            raise self.fail(name, line, f"{column} {value!r} is not an 8-digit MedDRA code")
        return value

    def flag(self, name: str, line: int, column: str, value: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(name, line, f"{column} {value!r} is not one of {', '.join(allowed)}")
        return value

    def name(self, name: str, line: int, column: str, value: str) -> str:
        return self.text(name, line, column, value, 250, required=True)

    def text(self, name: str, line: int, column: str, value: str, longest: int, required: bool = False) -> str | None:
        """A field's text, trimmed; refused when longer than the column holding it (MedDRA's are shorter)."""
        value = value.strip()
        if required and not value:
            raise self.fail(name, line, f"{column} is empty")
        if len(value) > longest:
            raise self.fail(name, line, f"{column} is {len(value)} characters long, more than {longest}")
        return value or None


def read_distribution(directory: Path, version: str | None = None) -> Distribution:
    """Read and check a distribution; raises MeddraFormatError (file, line, reason) on the first problem."""
    r = _Reader(find_files(directory))
    release = r.rows("meddra_release.asc")
    file_version, language = (release[0][1][0].strip(), r.text("meddra_release.asc", release[0][0], "language",
                                                               release[0][1][1], 40)) if release else (None, None)
    if version is not None and file_version is not None and version != file_version:
        raise r.fail("meddra_release.asc", release[0][0],
                     f"the distribution is version {file_version!r}, not {version!r} as given")
    version = version or file_version
    if version is None:
        raise r.fail("meddra_release.asc", None, "no meddra_release.asc to name the version: give --version")
    if not VERSION.fullmatch(version):
        raise r.fail("meddra_release.asc", release[0][0] if release else None,
                     f"version {version!r} is not a MedDRA version such as 27.1")
    dist = Distribution(version=version, language=language)

    socs = {}
    for line, (code, name, abbrev) in r.rows("soc.asc"):
        code = r.code("soc.asc", line, "soc_code", code)
        if code in socs:
            raise r.fail("soc.asc", line, f"code {code} already given on line {socs[code][0]}")
        socs[code] = (line, r.name("soc.asc", line, "soc_name", name), r.text("soc.asc", line, "soc_abbrev", abbrev, 20))
    order = {}
    for line, (rank, soc) in r.rows("intl_ord.asc"):
        if soc not in socs:
            raise r.fail("intl_ord.asc", line, f"soc_code {soc} is not in soc.asc")
        if not rank.isdigit():
            raise r.fail("intl_ord.asc", line, f"intl_ord_code {rank!r} is not a number")
        order[soc] = int(rank)

    def simple(name: str, column: str) -> dict[str, tuple[int, str]]:
        rows = r.rows(name)
        terms = {}
        for line, (code, term) in rows:
            code = r.code(name, line, f"{column}_code", code)
            if code in terms:
                raise r.fail(name, line, f"code {code} already given on line {terms[code][0]}")
            terms[code] = (line, r.name(name, line, f"{column}_name", term))
        return terms

    hlgts, hlts = simple("hlgt.asc", "hlgt"), simple("hlt.asc", "hlt")
    pts = {}
    for line, (code, name, soc) in r.rows("pt.asc"):
        code = r.code("pt.asc", line, "pt_code", code)
        if code in pts:
            raise r.fail("pt.asc", line, f"code {code} already given on line {pts[code][0]}")
        if not soc.strip():
            raise r.fail("pt.asc", line, f"PT {code} has no primary SOC (pt_soc_code is empty)")
        soc = r.code("pt.asc", line, "pt_soc_code", soc)
        if soc not in socs:
            raise r.fail("pt.asc", line, f"PT {code}: primary SOC {soc} is not in soc.asc")
        pts[code] = (line, r.name("pt.asc", line, "pt_name", name), soc)
    llts = {}
    for line, (code, name, pt, currency) in r.rows("llt.asc"):
        code = r.code("llt.asc", line, "llt_code", code)
        if code in llts:
            raise r.fail("llt.asc", line, f"code {code} already given on line {llts[code][0]}")
        pt = r.code("llt.asc", line, "pt_code", pt)
        if pt not in pts:
            raise r.fail("llt.asc", line, f"LLT {code} points at PT {pt}, which is not in pt.asc")
        llts[code] = (line, r.name("llt.asc", line, "llt_name", name), pt,
                      r.flag("llt.asc", line, "llt_currency", currency, ("Y", "N")) == "Y")

    def links(name: str, parents: dict, children: dict, p: str, c: str) -> set[tuple[str, str]]:
        pairs = set()
        for line, (parent, child) in r.rows(name):
            if r.code(name, line, f"{p}_code", parent) not in parents:
                raise r.fail(name, line, f"{p}_code {parent} is not in {p}.asc")
            if r.code(name, line, f"{c}_code", child) not in children:
                raise r.fail(name, line, f"{c}_code {child} is not in {c}.asc")
            pairs.add((parent, child))
        return pairs

    hlt_pt = links("hlt_pt.asc", hlts, pts, "hlt", "pt")
    hlgt_hlt = links("hlgt_hlt.asc", hlgts, hlts, "hlgt", "hlt")
    soc_hlgt = links("soc_hlgt.asc", socs, hlgts, "soc", "hlgt")

    primary: dict[str, int] = {}
    seen_paths = set()
    for line, (pt, hlt, hlgt, soc, *_names, pt_soc, flag) in r.rows("mdhier.asc"):
        for column, value, known in (("pt_code", pt, pts), ("hlt_code", hlt, hlts), ("hlgt_code", hlgt, hlgts),
                                     ("soc_code", soc, socs)):
            if r.code("mdhier.asc", line, column, value) not in known:
                raise r.fail("mdhier.asc", line, f"{column} {value} is not in {column[:-5]}.asc")
        if (hlt, pt) not in hlt_pt or (hlgt, hlt) not in hlgt_hlt or (soc, hlgt) not in soc_hlgt:
            raise r.fail("mdhier.asc", line, f"path {pt} > {hlt} > {hlgt} > {soc} is not in hlt_pt, hlgt_hlt and "
                                             "soc_hlgt")
        if (pt, hlt, hlgt, soc) in seen_paths:
            raise r.fail("mdhier.asc", line, f"path {pt} > {hlt} > {hlgt} > {soc} is given twice")
        seen_paths.add((pt, hlt, hlgt, soc))
        is_primary = r.flag("mdhier.asc", line, "primary_soc_fg", flag, ("Y", "N")) == "Y"
        if is_primary:
            if pt in primary:
                raise r.fail("mdhier.asc", line, f"PT {pt} has a second primary path (the first on line {primary[pt]})")
            if soc != pts[pt][2]:
                raise r.fail("mdhier.asc", line, f"PT {pt}'s primary path ends in SOC {soc}, but pt.asc names "
                                                 f"{pts[pt][2]}")
            primary[pt] = line
        dist.paths.append((pt, hlt, hlgt, soc, is_primary))
    for pt, (line, _, soc) in pts.items():
        if pt not in primary:
            raise r.fail("pt.asc", line, f"PT {pt} has no primary SOC path in mdhier.asc (SOC {soc})")

    smqs = {}
    for line, (code, name, level, description, _source, _note, _version, status, algorithm) in r.rows("smq_list.asc"):
        code = r.code("smq_list.asc", line, "smq_code", code)
        if code in smqs:
            raise r.fail("smq_list.asc", line, f"code {code} already given on line {smqs[code][0]}")
        if level not in ("1", "2", "3", "4", "5"):
            raise r.fail("smq_list.asc", line, f"smq_level {level!r} is not 1 to 5")
        smqs[code] = (line, r.name("smq_list.asc", line, "smq_name", name), int(level),
                      r.flag("smq_list.asc", line, "status", status, ("A", "I")),
                      r.text("smq_list.asc", line, "smq_algorithm", algorithm, 40), description.strip() or None)
    content: dict[str, list[tuple[str, str, str | None, str]]] = {code: [] for code in smqs}
    for line, (smq, term, level, scope, category, _weight, status, *_versions) in r.rows("smq_content.asc"):
        smq = r.code("smq_content.asc", line, "smq_code", smq)
        if smq not in smqs:
            raise r.fail("smq_content.asc", line, f"smq_code {smq} is not in smq_list.asc")
        term = r.code("smq_content.asc", line, "term_code", term)
        kind = _CONTENT_LEVEL.get(level)
        if kind is None:
            raise r.fail("smq_content.asc", line, f"term_level {level!r} is not 0 (SMQ), 4 (PT) or 5 (LLT)")
        if term not in {"smq": smqs, "pt": pts, "llt": llts}[kind]:
            raise r.fail("smq_content.asc", line, f"term {term} (level {level}) is not in "
                                                  f"{'smq_list' if kind == 'smq' else kind}.asc")
        if r.flag("smq_content.asc", line, "term_status", status, ("A", "I")) == "I":
            continue  # inactive terms are no longer part of the query
        if kind == "smq":
            content[smq].append((kind, term, None, category))
        else:
            if scope not in _SCOPE:
                raise r.fail("smq_content.asc", line, f"term_scope {scope!r} is not 1 (broad) or 2 (narrow)")
            content[smq].append((kind, term, _SCOPE[scope], r.text("smq_content.asc", line, "term_category",
                                                                  category, 2)))

    flat: dict[str, dict[tuple[str, str], tuple[str, str]]] = {}

    def flatten(code: str, trail: tuple[str, ...]) -> dict[tuple[str, str], tuple[str, str]]:
        if code in flat:
            return flat[code]
        if code in trail:
            raise r.fail("smq_content.asc", None, "SMQs contain each other: " + " > ".join((*trail, code)))
        terms: dict[tuple[str, str], tuple[str, str]] = {}

        def add(key, scope, category):
            # A term reached as narrow and as broad is narrow: the narrow search must find it.
            if key not in terms or (scope == "narrow" and terms[key][0] == "broad"):
                terms[key] = (scope, category)

        for kind, term, scope, category in content[code]:
            if kind == "smq":
                for key, (sub_scope, sub_category) in flatten(term, (*trail, code)).items():
                    add(key, sub_scope, sub_category)
            else:
                add((kind, term), scope, category)
        flat[code] = terms
        return terms

    for code in smqs:
        flatten(code, ())

    for code, (_, name, soc_abbrev) in socs.items():
        dist.terms.append(("soc", code, name, None, True, None, soc_abbrev, order.get(code)))
    for level, terms in (("hlgt", hlgts), ("hlt", hlts)):
        for code, (_, name) in terms.items():
            dist.terms.append((level, code, name, None, True, None, None, None))
    for code, (_, name, soc) in pts.items():
        dist.terms.append(("pt", code, name, code, True, soc, None, None))
    for code, (_, name, pt, current) in llts.items():
        dist.terms.append(("llt", code, name, pt, current, None, None, None))
    for code, (_, name, level, status, algorithm, description) in smqs.items():
        dist.smqs.append((code, name, level, status, algorithm, description))
        for (kind, term), (scope, category) in sorted(flat[code].items()):
            dist.smq_terms.append((code, kind, term, term if kind == "pt" else llts[term][2], scope, category or None))
    r.digest.update(f"version={version}".encode())
    dist.content_hash = r.digest.hexdigest()
    return dist

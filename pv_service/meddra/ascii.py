"""The MedDRA ASCII distribution (`MedAscii/*.asc`): finding the files and reading their records.

Field order per file after the MSSO's "Distribution File Format" document (tables 2-3 and
3-1 to 3-12). Every record is one line of `$`-separated fields, each followed by a `$`;
some releases leave the last `$` off (the v10 `SMQ_List.asc`), file names come in either
case, files may be empty and the last line may have no newline. Fields the format keeps
only for history (WHO-ART, HARTS, COSTART, ICD, J-ART codes, the null fields) are read,
counted and dropped. Pure: bytes in, tuples of text out; no database.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class MeddraFormatError(ValueError):
    """A distribution that cannot be loaded, with the file and line that show why."""

    def __init__(self, file: str, line: int | None, reason: str):
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}, line {line}" if line else file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class FileSpec:
    name: str  # canonical (lower-case) file name
    columns: tuple[str, ...]  # every field of a record, in order
    required: bool = True

    def keep(self) -> tuple[int, ...]:
        """Positions of the fields still in use (historical ones are named with a trailing '+')."""
        return tuple(i for i, c in enumerate(self.columns) if not c.endswith("+") and c != "null_field")


_LEGACY = ("whoart_code+", "harts_code+", "costart_sym+", "icd9_code+", "icd9cm_code+", "icd10_code+")

SPECS: dict[str, FileSpec] = {s.name: s for s in (
    FileSpec("meddra_release.asc", ("version", "language", "null_field", "null_field", "null_field"), required=False),
    FileSpec("llt.asc", ("llt_code", "llt_name", "pt_code", *(f"llt_{c}" for c in _LEGACY), "llt_currency",
                         "llt_jart_code+")),
    FileSpec("pt.asc", ("pt_code", "pt_name", "null_field", "pt_soc_code", *(f"pt_{c}" for c in _LEGACY),
                        "pt_jart_code+")),
    FileSpec("hlt.asc", ("hlt_code", "hlt_name", *(f"hlt_{c}" for c in _LEGACY), "hlt_jart_code+")),
    FileSpec("hlt_pt.asc", ("hlt_code", "pt_code")),
    FileSpec("hlgt.asc", ("hlgt_code", "hlgt_name", *(f"hlgt_{c}" for c in _LEGACY), "hlgt_jart_code+")),
    FileSpec("hlgt_hlt.asc", ("hlgt_code", "hlt_code")),
    FileSpec("soc.asc", ("soc_code", "soc_name", "soc_abbrev", *(f"soc_{c}" for c in _LEGACY), "soc_jart_code+")),
    FileSpec("soc_hlgt.asc", ("soc_code", "hlgt_code")),
    FileSpec("mdhier.asc", ("pt_code", "hlt_code", "hlgt_code", "soc_code", "pt_name", "hlt_name", "hlgt_name",
                            "soc_name", "soc_abbrev", "null_field", "pt_soc_code", "primary_soc_fg")),
    FileSpec("intl_ord.asc", ("intl_ord_code", "soc_code"), required=False),
    FileSpec("smq_list.asc", ("smq_code", "smq_name", "smq_level", "smq_description", "smq_source", "smq_note",
                              "meddra_version", "status", "smq_algorithm")),
    FileSpec("smq_content.asc", ("smq_code", "term_code", "term_level", "term_scope", "term_category",
                                 "term_weight", "term_status", "term_addition_version",
                                 "term_last_modified_version")),
)}


def find_files(directory: Path) -> dict[str, Path]:
    """Canonical name -> path of the distribution's files, in DIR or DIR/MedAscii, names in any case.

    Raises MeddraFormatError naming every required file that is missing.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise MeddraFormatError(str(directory), None, "not a directory")
    candidates = [d for d in directory.iterdir() if d.is_dir() and d.name.lower() == "medascii"]
    folder = candidates[0] if candidates else directory
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        if name in SPECS and path.is_file():
            if name in found:
                raise MeddraFormatError(path.name, None, f"two files for {name} ({found[name].name} and {path.name})")
            found[name] = path
    missing = [n for n, s in SPECS.items() if s.required and n not in found]
    if missing:
        raise MeddraFormatError(str(folder.name), None, "not a MedDRA ASCII distribution: missing "
                                + ", ".join(missing))
    return found


def _decode(name: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MeddraFormatError(name, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    nul = text.find("\0")
    if nul >= 0:  # not text, and PostgreSQL could not store it
        raise MeddraFormatError(name, text.count("\n", 0, nul) + 1, "a NUL character: not a text file")
    return text


def read_rows(spec: FileSpec, data: bytes, file_label: str | None = None) -> list[tuple[int, tuple[str, ...]]]:
    """(line number, kept fields) per record; blank lines are skipped.

    A record has exactly the file's number of fields, with or without the closing `$`.
    """
    label = file_label or spec.name
    text = _decode(label, data)
    if text.startswith("\ufeff"):  # a byte-order mark some editors add
        text = text[1:]
    n = len(spec.columns)
    keep = spec.keep()
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("$")
        if len(parts) == n + 1 and parts[-1] == "":
            parts.pop()
        elif len(parts) != n:
            found = len(parts) - 1 if parts[-1] == "" else len(parts)
            raise MeddraFormatError(label, number, f"expected {n} $-separated fields, found {found}")
        rows.append((number, tuple(parts[i] for i in keep)))
    return rows


def kept_columns(spec: FileSpec) -> tuple[str, ...]:
    return tuple(spec.columns[i] for i in spec.keep())

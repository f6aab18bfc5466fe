"""The ICH E2B(R3) schema set, taken from the operator (it is not redistributed with the service).

The set is the folder ICH publishes: `multicacheschemas/` (MCCI_IN200100UV01.xsd for ICSR
batches, MCCI_IN200101UV01.xsd for acknowledgements, ...) beside `coreschemas/`. It is
compiled once per folder and kept; schema files are read from that folder only (no network).
"""
from __future__ import annotations

import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

BATCH_XSD = "MCCI_IN200100UV01.xsd"
ACK_XSD = "MCCI_IN200101UV01.xsd"
REQUIRED = (f"multicacheschemas/{BATCH_XSD}", f"multicacheschemas/{ACK_XSD}", "coreschemas/datatypes.xsd")
MAX_ZIP_BYTES = 50 * 1024 * 1024


class SchemaSetError(Exception):
    """The schema set is missing or unusable; the message says what to do."""


@dataclass(frozen=True)
class SchemaSet:
    root: Path
    batch: etree.XMLSchema
    ack: etree.XMLSchema


_lock = threading.Lock()
_compiled: dict[Path, SchemaSet] = {}


def find_root(directory: Path) -> Path:
    """The folder holding multicacheschemas/ and coreschemas/: `directory` itself or one folder below it
    (ICH's package nests the set a level or two deep)."""
    candidates = [directory, *sorted(p.parent for p in directory.glob("*/multicacheschemas")),
                  *sorted(p.parent for p in directory.glob("*/*/multicacheschemas"))]
    for c in candidates:
        if all((c / r).is_file() for r in REQUIRED):
            return c
    missing = ", ".join(r for r in REQUIRED if not (directory / r).is_file())
    raise SchemaSetError(f"{directory} is not the ICH E2B(R3) schema set (missing {missing})")


def _compile(path: Path) -> etree.XMLSchema:
    # The schema set's own includes are local files; nothing is fetched from the network.
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    try:
        return etree.XMLSchema(etree.parse(str(path), parser))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
        raise SchemaSetError(f"{path.name} does not compile: {exc}") from None


def load(directory: Path) -> SchemaSet:
    """The compiled set in `directory` (cached)."""
    root = find_root(directory.resolve())
    with _lock:
        found = _compiled.get(root)
        if found is None:
            found = _compiled[root] = SchemaSet(root, _compile(root / "multicacheschemas" / BATCH_XSD),
                                                _compile(root / "multicacheschemas" / ACK_XSD))
        return found


def configured(directory: Path) -> SchemaSet:
    """The set the settings name, or a SchemaSetError saying how to provide one."""
    if not directory.is_dir():
        raise SchemaSetError("no ICH E2B(R3) schema set is installed: set PV_E2B_SCHEMA_DIR to ICH's schema "
                             "folder or run `pv-service e2b install-schemas DIR_OR_ZIP`")
    return load(directory)


def _extract(archive: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and m.filename.lower().endswith(".xsd")]
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise SchemaSetError(f"{archive.name}: the schema files unpack to more than {MAX_ZIP_BYTES} bytes")
            for m in members:
                name = Path(m.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise SchemaSetError(f"{archive.name}: member {m.filename!r} points outside the archive")
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(m))
    except zipfile.BadZipFile:
        raise SchemaSetError(f"{archive.name} is not a zip archive") from None


def install(source: Path, target: Path) -> SchemaSet:
    """Copy the schema set from a folder or ICH's zip into `target` (replacing what was there) once it
    compiles; a set that does not compile leaves `target` as it was."""
    if not source.exists():
        raise SchemaSetError(f"{source} does not exist")
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staging = Path(tmp) / "set"
        if source.is_dir():
            root = find_root(source)
            for r in ("multicacheschemas", "coreschemas"):
                shutil.copytree(root / r, staging / r, ignore=shutil.ignore_patterns("*.zip"))
        else:
            unpacked = Path(tmp) / "unpacked"
            _extract(source, unpacked)
            root = find_root(unpacked)
            for r in ("multicacheschemas", "coreschemas"):
                shutil.copytree(root / r, staging / r)
        # Compile before replacing, so a bad set never displaces a good one.
        _compile(staging / "multicacheschemas" / BATCH_XSD)
        _compile(staging / "multicacheschemas" / ACK_XSD)
        old = Path(tmp) / "old"
        if target.exists():
            target.rename(old)
        staging.rename(target)
    with _lock:
        _compiled.pop(target, None)
    return load(target)



def e2b_health(directory: Path) -> dict:
    """For /health: whether the schema set is loaded (the folder is not named: it is the operator's)."""
    try:
        configured(directory)
    except SchemaSetError as exc:
        return {"schemas_loaded": False, "import": f"refused: {exc}".replace(str(directory), "PV_E2B_SCHEMA_DIR")}
    return {"schemas_loaded": True, "import": "messages validated against the ICH E2B(R3) schema set"}

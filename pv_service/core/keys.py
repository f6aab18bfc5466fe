"""The service's three secret keys: how strong a production key must be, and where
development and test keys come from when none is set (a random pair kept in a local,
git-ignored file, so there is no built-in secret anyone could sign tokens with)."""
from __future__ import annotations

import json
import math
import os
import secrets
import tempfile
from collections import Counter
from pathlib import Path

MIN_LENGTH = 32
# Bits by the character frequencies of the key itself. A random 32-character hex key
# estimates 96-125 bits, secrets.token_urlsafe(32) about 210; "abcd" * 8 gives 64, "a" * 32 0.
MIN_ESTIMATED_BITS = 80
# Values that were once published in this repository: never a key.
PUBLISHED = frozenset({"dev-only-secret-change-me-0123456789abcdef"})
KEY_NAMES = ("secret_key", "pseudonym_key", "audit_key")


def estimated_bits(value: str) -> float:
    """Shannon entropy of the key's own character distribution, times its length."""
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    return -n * sum(c / n * math.log2(c / n) for c in counts.values())


def weakness(value: str) -> str | None:
    """Why `value` is not fit to be a production key, or None."""
    if value in PUBLISHED:
        return "is the development value published with the source"
    if len(value) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    if estimated_bits(value) < MIN_ESTIMATED_BITS:
        return "is not random enough (too few distinct characters or too repetitive)"
    return None


def new_key() -> str:
    return secrets.token_urlsafe(32)


def local_keys(path: Path) -> dict[str, str]:
    """The development keys kept in `path`, created (readable by its owner only) if absent.

    Several processes may start at once (test workers, uvicorn workers): the file is
    written under a temporary name and linked into place, so exactly one set wins and
    every process reads that one.
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except MissingKeys as exc:  # a file from before a key was added: keep its keys, add the new ones
        _write(path, {**exc.present, **{name: new_key() for name in KEY_NAMES if name not in exc.present}})
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pv-keys-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({name: new_key() for name in KEY_NAMES}, f)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return _read(path)


class MissingKeys(ValueError):
    def __init__(self, path: Path, present: dict[str, str]):
        super().__init__(f"{path} does not hold every key ({', '.join(KEY_NAMES)})")
        self.present = present


def _read(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text())
    present = {k: v for k, v in data.items() if k in KEY_NAMES and isinstance(v, str) and v}
    if len(present) < len(KEY_NAMES):
        raise MissingKeys(path, present)
    return data


def _write(path: Path, keys: dict[str, str]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pv-keys-")
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f)
    os.replace(tmp, path)

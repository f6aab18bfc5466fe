"""Content hash of a case version: decides whether a resent version is the same report."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any


def _default(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")


# Built once (json.dumps builds an encoder per call); the output is the same byte for byte,
# which stored hashes depend on.
_ITEM = json.JSONEncoder(sort_keys=True, default=_default)
_CANONICAL = json.JSONEncoder(sort_keys=True, default=_default, separators=(",", ":"))


def content_hash(version: dict[str, Any], drugs: list[dict[str, Any]], reactions: list[dict[str, Any]]) -> str:
    """SHA-256 of the canonical JSON of a version's normalised content.

    Order of drugs and reactions does not matter; every field value does.
    """
    canonical = {
        "version": {k: version[k] for k in sorted(version)},
        "drugs": sorted(_ITEM.encode(d) for d in drugs),
        "reactions": sorted(_ITEM.encode(r) for r in reactions),
    }
    blob = _CANONICAL.encode(canonical)
    return hashlib.sha256(blob.encode()).hexdigest()

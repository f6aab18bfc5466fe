"""Content hash of a case version: decides whether a resent version is the same report."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from json.encoder import c_make_encoder, encode_basestring_ascii
from typing import Any


def _default(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")


def _encoder(key_separator: str, item_separator: str):
    """json.dumps(sort_keys=True, default=_default) with these separators, built once.

    json.dumps builds its (C) encoder on every call, which cost a third of the hashing; this
    builds the same encoder once. The output is the same byte for byte, which stored hashes
    depend on (tests/cases/test_hashing.py).
    """
    if c_make_encoder is None:  # an interpreter without the C accelerator
        encoder = json.JSONEncoder(sort_keys=True, default=_default, separators=(item_separator, key_separator))
        return encoder.encode
    make = c_make_encoder(None, _default, encode_basestring_ascii, None, key_separator, item_separator, True, False, True)
    return lambda value: "".join(make(value, 0))


_item = _encoder(": ", ", ")
_canonical = _encoder(":", ",")


def content_hash(version: dict[str, Any], drugs: list[dict[str, Any]], reactions: list[dict[str, Any]]) -> str:
    """SHA-256 of the canonical JSON of a version's normalised content.

    Order of drugs and reactions does not matter; every field value does.
    """
    canonical = {
        "version": {k: version[k] for k in sorted(version)},
        "drugs": sorted(_item(d) for d in drugs),
        "reactions": sorted(_item(r) for r in reactions),
    }
    blob = _canonical(canonical)
    return hashlib.sha256(blob.encode()).hexdigest()

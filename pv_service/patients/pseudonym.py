"""Keyed pseudonyms: HMAC-SHA256 of the clinic's local patient identifier."""
from __future__ import annotations

import hashlib
import hmac


def pseudonymize(local_id: str, clinic_id: int, key: str) -> str:
    # The clinic id is part of the message so equal local ids at two clinics stay two patients.
    message = f"{clinic_id}:{local_id.strip()}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()

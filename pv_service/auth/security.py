"""Password hashes, access tokens and API keys."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import jwt
from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()
API_KEY_PREFIX = "pvk_"
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def verify_password(password: str, password_hash: str | None) -> bool:
    """Exactly one hash verification whether or not there is a hash to check: an unknown or
    passwordless user takes as long to refuse as a wrong password (no enumeration by timing)."""
    if not password_hash:
        _hasher.verify(password, _dummy_hash())
        return False
    return _hasher.verify(password, password_hash)


@dataclass(frozen=True)
class Claims:
    user_id: int
    expires: dt.datetime
    version: int  # the user's token version when it was issued (0 for tokens from before versions)


def create_access_token(user_id: int, role: str, secret: str, minutes: int, now: dt.datetime, version: int = 0) -> str:
    payload = {"sub": str(user_id), "role": role, "ver": version, "iat": now, "exp": now + dt.timedelta(minutes=minutes)}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, secret: str, now: dt.datetime) -> Claims | None:
    """The claims of a valid token, judged against the service clock (not the wall clock)."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},
        )
        expires = dt.datetime.fromtimestamp(float(payload["exp"]), dt.timezone.utc)
        if now >= expires:
            return None
        version = payload.get("ver", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            return None
        return Claims(int(payload["sub"]), expires, version)
    except (jwt.PyJWTError, KeyError, ValueError, TypeError, OverflowError, OSError):
        return None


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # API keys carry 256 bits of entropy, so a fast hash is enough (and keeps requests fast).
    return hashlib.sha256(key.encode()).hexdigest()

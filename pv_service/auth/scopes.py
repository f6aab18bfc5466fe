"""What an API key may do. A signed-in session may do all its role allows; a key, only
what its scopes name, and never manage keys or users (a leaked key must not mint more).

- ``read``: every GET its user's role allows;
- ``reports:write``: submit safety reports (``POST /v1/reports``, ``/v1/reports/batch``, ``/v1/e2b/batches``, FHIR ``POST /fhir`` and ``/fhir/AdverseEvent``): a
  clinic gateway that only forwards reports needs nothing else;
- ``write``: every other change its user's role allows (includes ``reports:write``).

Scopes narrow a role, never widen it: the role checks still apply.
"""
from __future__ import annotations

from fastapi import HTTPException, Request, status

SCOPES = ("read", "reports:write", "write")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REPORT_PATHS = frozenset({"/v1/reports", "/v1/reports/batch", "/v1/e2b/batches", "/fhir", "/fhir/AdverseEvent"})
ACCOUNT_PATHS = ("/v1/auth/api-keys", "/v1/users")
# What each scope also grants.
IMPLIES = {"write": {"write", "reports:write"}, "reports:write": {"reports:write"}, "read": {"read"}}


def parse_scopes(text: str) -> frozenset[str]:
    return frozenset(text.split())


def granted(scopes: frozenset[str]) -> frozenset[str]:
    return frozenset().union(*(IMPLIES.get(s, ()) for s in scopes))


def required_scope(method: str, path: str) -> str | None:
    """The scope a call needs; None when no API key may make it."""
    path = path.rstrip("/") or "/"
    if method.upper() in SAFE_METHODS:
        return "read"
    if path.startswith(ACCOUNT_PATHS):
        return None
    return "reports:write" if path in REPORT_PATHS else "write"


def check_scope(request: Request, principal) -> None:
    if principal.scopes is None:
        return
    needed = required_scope(request.method, request.url.path)
    if needed is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="API keys cannot manage keys or users; sign in")
    if needed not in granted(principal.scopes):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"this API key lacks the scope {needed!r}")

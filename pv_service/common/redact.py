"""Keep the clinic's own patient identifier out of logs and error bodies (PRIMER section 7).

The identifier travels in the body of intake calls and, for the older lookup
`GET /v1/patients?local_id=`, in the query string, which every access log writes down.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters whose value identifies a person.
SENSITIVE_QUERY_PARAMS = frozenset({"local_id"})
REDACTED = "[redacted]"


def redact_query(path: str) -> str:
    """`path` (with its query string) with the values of identifying parameters replaced."""
    parts = urlsplit(path)
    if not parts.query:
        return path
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k in SENSITIVE_QUERY_PARAMS for k, _ in pairs):
        return path
    query = urlencode([(k, REDACTED if k in SENSITIVE_QUERY_PARAMS else v) for k, v in pairs], safe="[]")
    return urlunsplit(parts._replace(query=query))


class AccessLogRedactor(logging.Filter):
    """For uvicorn's access log, whose record args are (client, method, path with query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def install_access_log_redaction(logger_name: str = "uvicorn.access") -> None:
    """Once per process (an app may be built many times, e.g. by tests)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, AccessLogRedactor) for f in logger.filters):
        logger.addFilter(AccessLogRedactor())


def without_inputs(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors without the values sent: the field and the reason suffice, and an
    echoed value could be a patient identifier."""
    return [{k: v for k, v in e.items() if k not in ("input", "url")} for e in errors]

"""Refuse, before any handler runs, what no request may carry: NaN / Infinity as JSON numbers,
NUL and other control characters, lone surrogates and U+FFFE/U+FFFF in strings, JSON nested
deeper than a parser's stack.

Python's json module takes NaN and Infinity and lone surrogate escapes ("\\ud800"); a NUL
character is stored by SQLite and refused by PostgreSQL; and each broke a later step (the
422 that echoes a NaN cannot itself be written as JSON). One check for every JSON and form
body and every query string, so each database answers the same: 422 naming the field
(the offending value is not echoed).

Fast path: orjson refuses NaN, Infinity, numbers that overflow a double and lone
surrogates, and is an order of magnitude faster than json; a body it takes without a
``\\u0000`` escape is clean. Only other bodies are parsed again with json to name the field.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import orjson

from pv_service.common.errors import FieldProblem

# NUL, the other C0 control characters but tab, LF and CR, lone surrogates, U+FFFE and U+FFFF: no
# XML 1.0 document can hold them (E2B and FHIR XML reads of the case then failed) and FHIR strings
# shall not contain them
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# a JSON escape that may decode to one of them (only then is a body orjson takes parsed again)
_BAD_ESCAPE = re.compile(rb"\\u(?:00[01][0-9a-fA-F]|[fF]{3}[eEfF])")
# the same in a query string or form body, percent-encoded or raw
_BAD_PAIRS = re.compile(rb"%[01][0-9a-fA-F]|%[eE][fF]%[bB][fF]%[bB][eEfF]|[\x00-\x08\x0b\x0c\x0e-\x1f]")
NOT_FINITE = "must be a finite number (NaN and Infinity are not JSON numbers)"


class _NonFinite:
    """Stands for a NaN / Infinity / overflowing number while the parsed body is searched."""


_NON_FINITE = _NonFinite()


def _float(text: str):
    value = float(text)
    return value if math.isfinite(value) else _NON_FINITE


def text_problem(value: str) -> str | None:
    match = _BAD_TEXT.search(value)
    if match is None:
        return None
    char = match.group()
    if char == "\x00":
        return "must not contain a NUL character (\\u0000)"
    if "\ud800" <= char <= "\udfff":
        return "must not contain a lone surrogate (\\ud800-\\udfff): text must be valid Unicode"
    if char in "\ufffe\uffff":
        return f"must not contain the noncharacter \\u{ord(char):04x} (no XML document can hold it)"
    return (f"must not contain the control character \\u{ord(char):04x}: of the characters below "
            "\\u0020 only tab, line feed and carriage return are text")


def _name(key: str) -> str:
    """A key or parameter name fit to be shown in an error (its bad characters escaped)."""
    return _BAD_TEXT.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), key)


def _walk(value: Any, loc: tuple) -> Iterator[FieldProblem]:
    stack = [(value, loc)]  # iterative: a valid body may still be deep
    while stack:
        node, where = stack.pop()
        if node is _NON_FINITE:
            yield FieldProblem(where, NOT_FINITE)
        elif isinstance(node, str):
            problem = text_problem(node)
            if problem:
                yield FieldProblem(where, problem)
        elif isinstance(node, dict):
            for key, item in node.items():
                problem = text_problem(key)
                if problem:
                    yield FieldProblem((*where, _name(key)), f"field name {problem}")
                stack.append((item, (*where, key)))
        elif isinstance(node, list):
            stack.extend((item, (*where, i)) for i, item in enumerate(node))


def json_problems(body: bytes) -> list[FieldProblem]:
    try:
        orjson.loads(body)
        if _BAD_ESCAPE.search(body) is None:
            return []
    except orjson.JSONDecodeError:
        pass
    try:
        value = json.loads(body, parse_constant=lambda _: _NON_FINITE, parse_float=_float)
    except RecursionError:
        return [FieldProblem(("body",), "JSON nested too deeply")]
    except UnicodeDecodeError:
        return [FieldProblem(("body",), "JSON must be UTF-8")]
    except ValueError:
        return []  # not JSON at all: the framework answers that with its own 422
    # Sorted so that the first problem is the first in the body (the stack walks backwards).
    return sorted(_walk(value, ("body",)), key=lambda p: [str(x) for x in p.loc])


def _pairs_problems(text: bytes, where: str) -> list[FieldProblem]:
    if _BAD_PAIRS.search(text) is None:
        return []  # percent-decoding cannot make a surrogate (invalid UTF-8 becomes U+FFFD)
    problems = []
    for name, value in parse_qsl(text.decode("latin-1"), keep_blank_values=True):
        if text_problem(name):
            problems.append(FieldProblem((where, _name(name)), f"parameter name {text_problem(name)}"))
        elif text_problem(value):
            problems.append(FieldProblem((where, name), text_problem(value)))
    return problems


def query_problems(query_string: bytes) -> list[FieldProblem]:
    return _pairs_problems(query_string, "query")


def body_problems(body: bytes, content_type: str) -> list[FieldProblem]:
    """Problems of a request body of this content type (bodies of other types are not read here)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return _pairs_problems(body, "body")
    if not kind or kind == "application/json" or kind.endswith("+json"):
        return json_problems(body) if body else []
    return []


def _reads_body(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return not kind or "json" in kind or kind == "application/x-www-form-urlencoded"


class StrictInput:
    """ASGI middleware: 422 for a query string or body with any of the problems above.
    Sits inside the body size limit, so the body it buffers is already bounded."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problems = query_problems(scope.get("query_string", b""))
        if problems:
            return await _refuse(send, problems, scope)
        content_type = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"content-type"), "")
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or not _reads_body(content_type):
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away (or the size limit said so)
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problems = body_problems(body, content_type)
        if problems:
            return await _refuse(send, problems, scope)
        return await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[dict], then=None):
    async def receive():
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}
    return receive


async def _refuse(send, problems: list[FieldProblem], scope: dict) -> None:
    media = b"application/json"
    if scope.get("path", "").startswith("/fhir"):  # FHIR clients get an OperationOutcome
        from pv_service.fhir.outcome import fhir_refusal

        body, media = fhir_refusal([(p.loc, p.msg) for p in problems[:20]]), b"application/fhir+json"
    else:
        body = json.dumps({"detail": [p.as_dict() for p in problems[:20]]}).encode()
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", media), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

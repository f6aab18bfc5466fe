"""Security headers on every response: no framing (clickjacking), no MIME sniffing, no
referrer leaving the service, and a Content-Security-Policy.

The web pages use only their own stylesheet, inline SVG and a data: favicon, and no
scripts at all, so their policy allows exactly that. The API documentation pages (/docs,
/redoc) are FastAPI's: their assets come from the service itself ('self'), and each page
starts Swagger UI or ReDoc with a short inline script, which their policy allows.
"""
from __future__ import annotations

COMMON = "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
PAGES_CSP = f"default-src 'none'; style-src 'self'; img-src 'self' data:; {COMMON}"
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; {COMMON}")
DOCS_PATHS = ("/docs", "/redoc")


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    csp = DOCS_CSP if path.startswith(DOCS_PATHS) else PAGES_CSP
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


_PREBUILT = {kind: headers_for(path) for kind, path in (("docs", "/docs"), ("pages", "/"))}


class SecurityHeaders:
    """Pure ASGI (no per-request objects beyond the header list), so it costs next to nothing."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = _PREBUILT["docs" if scope.get("path", "").startswith(DOCS_PATHS) else "pages"]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = list(message.get("headers", ())) + [h for h in extra if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)

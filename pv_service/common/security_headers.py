"""Security headers on every response: no framing (clickjacking), no MIME sniffing, no
referrer leaving the service, and a Content-Security-Policy.

The web pages use only their own stylesheet, inline SVG and a data: favicon, and no
scripts at all, so their policy allows exactly that. The API documentation pages (/docs,
/redoc) load their assets from the service itself and start from a local script, so they
run scripts from 'self' only; ReDoc styles itself with inline <style> (styled-components)
and runs its search in a blob: worker, which its policy alone allows.
"""
from __future__ import annotations

COMMON = "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
PAGES_CSP = f"default-src 'none'; style-src 'self'; img-src 'self' data:; {COMMON}"
DOCS_CSP = f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; {COMMON}"
REDOC_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
             f"worker-src 'self' blob:; connect-src 'self'; {COMMON}")


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    csp = REDOC_CSP if path.startswith("/redoc") else DOCS_CSP if path.startswith("/docs") else PAGES_CSP
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


_PREBUILT = {path: headers_for(path) for path in ("/docs", "/redoc", "/")}


class SecurityHeaders:
    """Pure ASGI (no per-request objects beyond the header list), so it costs next to nothing."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        extra = _PREBUILT["/redoc" if path.startswith("/redoc") else "/docs" if path.startswith("/docs") else "/"]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = list(message.get("headers", ())) + [h for h in extra if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)

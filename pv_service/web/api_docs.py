"""The API's documentation pages, /docs (Swagger UI) and /redoc, served entirely by the service.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank where the service
runs without internet. The assets come from the fastapi-offline package (MIT; it vendors
swagger-ui-dist, Apache-2.0, and redoc, MIT) and are served under /ui/static/docs/. The pages
carry no inline script or style: Swagger UI is started by a small .js file of ours, so a
same-origin Content-Security-Policy (script-src 'self') holds.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from pv_service.common.errors import NotFound

STATIC_URL = "/ui/static/docs"
_VENDORED = Path(fastapi_offline.__file__).resolve().parent / "static"
_OURS = Path(__file__).resolve().parent / "static"
# name -> (file, media type): a closed list, so no path from the request reaches the file system.
ASSETS = {
    "swagger-ui-bundle.js": (_VENDORED / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_VENDORED / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": (_VENDORED / "redoc.standalone.js", "text/javascript"),
    "favicon.png": (_VENDORED / "favicon.png", "image/png"),
    "swagger-init.js": (_OURS / "swagger-init.js", "text/javascript"),
    "docs.css": (_OURS / "docs.css", "text/css"),
}

router = APIRouter(include_in_schema=False)


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n")


def _urls(request: Request) -> tuple[str, str]:
    """(assets prefix, OpenAPI document URL), under the app's root path when behind a proxy prefix."""
    root = request.scope.get("root_path", "").rstrip("/")
    return root + STATIC_URL, root + request.app.openapi_url


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    static, openapi = _urls(request)
    return _page(
        f"{request.app.title} - Swagger UI",
        f'<link rel="icon" type="image/png" href="{escape(static)}/favicon.png">\n'
        f'<link rel="stylesheet" href="{escape(static)}/swagger-ui.css">\n',
        f'<div id="swagger-ui" data-openapi-url="{escape(openapi)}"></div>\n'
        f'<script src="{escape(static)}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{escape(static)}/swagger-init.js"></script>\n')


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    static, openapi = _urls(request)
    return _page(
        f"{request.app.title} - ReDoc",
        f'<link rel="icon" type="image/png" href="{escape(static)}/favicon.png">\n'
        f'<link rel="stylesheet" href="{escape(static)}/docs.css">\n',
        f'<redoc spec-url="{escape(openapi)}"></redoc>\n'
        f'<script src="{escape(static)}/redoc.standalone.js"></script>\n')


@router.get(STATIC_URL + "/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound("no such file")
    path, media_type = ASSETS[name]
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})

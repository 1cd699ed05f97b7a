"""The gateway's pages: the review queue (`/v1/review/`) and the API reference (`/v1/reference/`).

Static HTML, script and style from `static/`, served by the admin app without a key. They hold
no data: everything they show comes from the gateway's API, called with the key the reader types
into the page (kept in the tab's sessionStorage, sent as `Authorization: Bearer`), under the same
scopes as any other client. A page that required the key itself would need it in a cookie, an
ambient credential any other site could make the browser send with a forged approve or reject
(CSRF), or in the URL, where it lands in history and logs; an explicit header does neither.

Prompts and answers are attacker-controlled text, so the pages build every node with
`textContent`, and each response carries a Content-Security-Policy that allows scripts and styles
from this origin only (no inline script, no `eval`) and no framing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

__all__ = ["ASSETS", "ASSET_PREFIX", "PAGES", "PAGE_HEADERS", "STATIC_DIR", "is_page", "pages_router"]

STATIC_DIR = Path(__file__).with_name("static")
PAGES: dict[str, str] = {"/v1/review/": "review.html", "/v1/reference/": "reference.html"}
"""Page path → its file in `static/`; the same path without the slash redirects here."""
ASSET_PREFIX = "/v1/pages/"
ASSETS = frozenset(path.name for path in STATIC_DIR.iterdir() if path.suffix in (".js", ".css"))
"""Scripts and styles, each served at `/v1/pages/<file>`."""

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
PAGE_HEADERS: dict[str, str] = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    # A page always matches the API of the gateway that serves it.
    "cache-control": "no-store",
}


def is_page(method: str, path: str) -> bool:
    """True for a page, its slashless form or an asset: the paths the gateway serves without a key."""
    if method != "GET":
        return False
    if path in PAGES or path + "/" in PAGES:
        return True
    return path.startswith(ASSET_PREFIX) and path.removeprefix(ASSET_PREFIX) in ASSETS


def pages_router() -> APIRouter:
    """The routes of the pages and their assets; each file is read once, here."""
    router = APIRouter(include_in_schema=False)
    for page_path, file_name in PAGES.items():
        router.add_api_route(page_path, _file_endpoint(file_name), methods=["GET"])
        # A relative target, so the redirect (like the pages' own links) holds below any mount prefix.
        slashless = page_path.rstrip("/")
        router.add_api_route(slashless, _redirect_endpoint(slashless.rsplit("/", 1)[1] + "/"), methods=["GET"])
    for name in sorted(ASSETS):
        router.add_api_route(ASSET_PREFIX + name, _file_endpoint(name), methods=["GET"])
    return router


# Endpoints without parameters: FastAPI would read any parameter as a query parameter.
def _file_endpoint(name: str) -> Callable[[], Response]:
    body = (STATIC_DIR / name).read_bytes()
    media_type = _MEDIA_TYPES[Path(name).suffix]

    def serve_file() -> Response:
        return Response(body, media_type=media_type, headers=PAGE_HEADERS)

    return serve_file


def _redirect_endpoint(target: str) -> Callable[[], Response]:
    def redirect() -> Response:
        return RedirectResponse(target, status_code=308)

    return redirect

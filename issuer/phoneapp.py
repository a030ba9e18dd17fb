"""The resident's phone wallet, served at ``/wallet/`` on the issuer's own origin.

Same origin as the OpenID4VCI endpoints, so the app fetches offers, tokens and the registry
without CORS. Files come from memory (``edges.appfiles``): only their names answer, so no path
reaches the file system. The app's CSP allows its own scripts and the QR decoder's wasm and
nothing else; ``no-cache`` makes the browser revalidate, while the service worker keeps the app
offline. Nothing about who fetches it is logged.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from edges.appfiles import BUILD_HINT, AppNotBuilt, app_files, content_type

APP_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"

APP_HEADERS = {
    "Content-Security-Policy": APP_CSP,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_NOT_BUILT = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Phone wallet not built</title></head>'
    "<body><h1>The phone wallet is not built</h1><p>To build it, {hint}.</p></body></html>"
)


def _file(path: str) -> Response:
    try:
        files = app_files()
    except AppNotBuilt:
        page = _NOT_BUILT.format(hint=escape(BUILD_HINT))
        headers = {**APP_HEADERS, "Cache-Control": "no-store", "Retry-After": "60"}
        return Response(page, status_code=503, media_type="text/html; charset=utf-8", headers=headers)
    body = files.get(path)
    if body is None:
        return Response("not found\n", status_code=404, media_type="text/plain; charset=utf-8", headers=APP_HEADERS)
    return Response(body, media_type=content_type(path), headers=APP_HEADERS)


def phone_app_router() -> APIRouter:
    """``/wallet`` (a redirect), ``/wallet/`` (index.html) and ``/wallet/{path}`` (an app file)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/wallet")
    def wallet_root() -> Response:
        return RedirectResponse("/wallet/", status_code=308, headers=APP_HEADERS)

    @router.get("/wallet/")
    def wallet_index() -> Response:
        return _file("index.html")

    @router.get("/wallet/{path:path}")
    def wallet_file(path: str) -> Response:
        return _file(path)

    return router

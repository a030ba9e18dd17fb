"""Security headers on every response of the issuer, error responses included.

No page of the issuer may be framed, send a referrer or be sniffed into another type; a
response without its own content security policy gets one that allows nothing (the clerk's
pages set their own, ``issuer/desk.py``). Over HTTPS, browsers are told to stay on HTTPS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

HSTS = "max-age=31536000"


def security_headers(*, https: bool) -> dict[str, str]:
    """The headers every response carries (HSTS only when the issuer is served over HTTPS)."""
    headers = {
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    }
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    """ASGI middleware: add :func:`security_headers` to each response that does not set them itself."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, https: bool) -> None:
        self.app = app
        headers = security_headers(https=https)
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [(name, value) for name, value in self.headers if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

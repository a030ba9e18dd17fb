"""ASGI middleware shared by the city's web apps (the issuer and the desk app).

``SecurityHeaders(app, headers=...)`` adds headers to every response that does not set them
itself, error responses included (each app chooses its own set).

``BodyLimit(app, limit=N)`` answers 413 with ``{"reason": "too_large", ...}`` when a request
says its body is larger than ``N`` bytes (``Content-Length``), and when a body without one
(chunked) grows past ``N`` as it streams in: it stops reading there, so a large upload is never
held in memory, and it closes the connection, so the rest is never read either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE_BODY = json.dumps(
    {"error": "invalid_request", "error_description": "the request body is too large", "reason": "too_large"}
).encode()
"""The 413's body: the issuer's OAuth-style error with a stable ``reason`` (the desk reads only that)."""


class _TooLarge(Exception):
    """Raised into the app from ``receive`` once the body is over the limit."""


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes, declared or streamed, with a 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send)
            return
        seen, over, started = 0, False, False

        async def limited_receive() -> Message:
            nonlocal seen, over
            if over:
                raise _TooLarge
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                over = True
                raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # whatever the app makes of the exception, the answer is the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await _too_large(send)


async def _too_large(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(TOO_LARGE_BODY)).encode()),
               (b"cache-control", b"no-store"), (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": TOO_LARGE_BODY})


class SecurityHeaders:
    """Add ``headers`` to every response that does not set them itself (errors included)."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str]) -> None:
        self.app = app
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.headers if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)

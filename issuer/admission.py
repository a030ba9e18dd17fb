"""Admission control: a few issuance requests at a time, a short queue, and a quick 503 beyond it.

``/token``, ``/credential`` and ``/notification`` each need the CPU (PIN checks, signatures) and
a database connection. On two cores, twenty of them at once are no faster than eight, and a
hundred at once made every request wait thirty seconds for a connection and then fail: the
issuer did a quarter of the work it can do. So at most ``limit`` run at once and at most
``queue`` wait for a place; a request beyond that is answered at once ``503 overloaded`` with
``Retry-After``, before its body is read, and the wallet comes back when told. Other paths
(metadata, keys, status lists, the trust bundle, the clerk's pages, health) are not held up.

A plain ASGI middleware, so that a refused request costs no thread and no connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("cityid.issuer")

ISSUANCE_PATHS = frozenset({"/token", "/credential", "/notification"})
"""The endpoints that do a wallet's issuance work; only these are admitted one by one."""

OVERLOADED = "overloaded"
"""The reason code of the 503 sent when every place and every queue place is taken."""


class Admission:
    """At most ``limit`` requests to ``paths`` in flight and ``queue`` waiting; the rest get 503."""

    def __init__(
        self, app: ASGIApp, *, limit: int, queue: int, retry_after: int, paths: Collection[str] = ISSUANCE_PATHS
    ) -> None:
        if limit < 1 or queue < 0:
            raise ValueError("admission needs a limit of at least 1 and a queue of at least 0")
        self.app, self.paths, self.queue, self.retry_after = app, frozenset(paths), queue, retry_after
        self._places = asyncio.Semaphore(limit)
        self._waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if self._places.locked() and self._waiting >= self.queue:
            log.warning("overloaded path=%s", scope["path"])
            await self._refuse(send)
            return
        self._waiting += 1
        try:
            await self._places.acquire()
        finally:
            self._waiting -= 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._places.release()

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({
            "error": "temporarily_unavailable",
            "error_description": "the city's service is busy, try again",
            "reason": OVERLOADED,
        }).encode()  # fmt: skip
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"retry-after", str(self.retry_after).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

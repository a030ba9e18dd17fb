"""The one way a desk downloads: bounded in bytes and, for a whole sync, in time.

A sync fetches a handful of small files (the trust bundle, a few status lists). A server that
streams without end must not fill the desk's memory, and one that hangs or trickles must not
hold the desk for minutes: each body is read as it arrives and refused past ``limit`` bytes
(``too_large``), and every fetch of one sync shares one deadline (``sync_timeout``). A refused
sync writes nothing (``verifier/sync.py`` stores only after everything is verified).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .sync import MAX_DOWNLOAD, Fetch, SyncError

SYNC_TIMEOUT = 60.0
"""Seconds a whole sync may take, all its downloads together."""


def bounded_fetch(*, timeout: float = SYNC_TIMEOUT, limit: int = MAX_DOWNLOAD,
                  clock: Callable[[], float] = time.monotonic) -> Fetch:  # fmt: skip
    """A :data:`~verifier.sync.Fetch` over HTTP for one sync: at most ``limit`` bytes a body,
    and ``timeout`` seconds for every call together, from now."""
    import httpx  # noqa: PLC0415 - only a sync goes online

    deadline = clock() + timeout

    def left(url: str) -> float:
        remaining = deadline - clock()
        if remaining <= 0:
            raise SyncError("sync_timeout", f"the sync took longer than {timeout:g} s (at {url[:200]}); nothing "
                            "was changed")  # fmt: skip
        return remaining

    def fetch(url: str) -> str:
        try:
            with httpx.stream("GET", url, timeout=left(url), follow_redirects=False) as response:
                response.raise_for_status()
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise SyncError("too_large", f"{url[:200]} is larger than {limit // (1024 * 1024)} MB")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise SyncError("too_large", f"{url[:200]} is larger than {limit // (1024 * 1024)} MB")
                    left(url)
                return body.decode(response.encoding or "utf-8", errors="replace")
        except httpx.TimeoutException:  # each wait was given all the time left, so it is gone
            raise SyncError("sync_timeout", f"the sync took longer than {timeout:g} s (no answer from "
                            f"{url[:200]}); nothing was changed") from None  # fmt: skip

    return fetch

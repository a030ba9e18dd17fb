"""Camera frames decoded off the event loop, a few at a time.

Finding a QR code in a large frame takes seconds of CPU (a 36-megapixel photo, about 2.5 s
with every retry). Done in the desk app's event loop, that stalls every other request: the
page, the request QR, other scans. So frames are decoded in a small pool of worker threads
(zxing-cpp and Pillow release the GIL while they work), and only a bounded number may wait
for one: past that the desk answers ``busy`` at once (503 with ``Retry-After``) instead of
queueing work nobody will wait for. The camera page sends the next frame a moment later.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

WORKERS = 2
"""Frames decoded at once: the desk machine's cores stay free for the page and the browser."""
WAITING = 2
"""Frames that may wait for a worker; the next one is refused as ``busy``."""
RETRY_AFTER = 1
"""Seconds the page is told to wait before it sends another frame."""


class Busy(Exception):
    """Every worker is decoding and the queue is full (reason ``busy``)."""

    reason = "busy"


class DecodePool:
    """Run ``decode`` in ``workers`` threads, with at most ``waiting`` more calls queued.

    Safe to share across event loops and threads: the count of calls in flight has its own lock.
    """

    def __init__(self, decode: Callable[[bytes], list[str]], *, workers: int = WORKERS,
                 waiting: int = WAITING) -> None:  # fmt: skip
        self.decode, self.capacity = decode, workers + waiting
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cityid-decode")
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Calls decoding or waiting to, now."""
        return self._in_flight

    async def run(self, frame: bytes) -> list[str]:
        """The QR texts in ``frame``; raises :class:`Busy` at once when the pool is full."""
        with self._lock:
            if self._in_flight >= self.capacity:
                raise Busy
            self._in_flight += 1
        try:
            future = self._executor.submit(self.decode, frame)
        except RuntimeError:  # shut down
            self._done(None)
            raise Busy from None
        future.add_done_callback(self._done)  # counted until the thread is done, even if nobody waits
        return await asyncio.wrap_future(future)

    def _done(self, _future: object) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

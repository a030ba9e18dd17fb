"""Debian's Chromium driven by Playwright, for tests of the pages cityid renders.

The browser is the system's (``/usr/bin/chromium``, or ``CITYID_CHROMIUM``); Playwright's own
download is never used. Without a browser the tests are skipped with a message saying so,
unless ``CITYID_REQUIRE_BROWSER=1`` (which ``./dev test`` sets), when they fail instead.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
import uvicorn
from issuer_support import free_port
from playwright.sync_api import Browser, sync_playwright

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> Path | None:
    configured = os.environ.get("CITYID_CHROMIUM")
    found = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found and Path(found).exists() else None


def missing(message: str) -> NoReturn:
    """Skip a browser test for want of ``message``'s part, or fail it under ``./dev test``
    (``CITYID_REQUIRE_BROWSER=1``), where every part must be there."""
    if os.environ.get("CITYID_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def required_chromium() -> Path:
    """The system's Chromium, or the test is skipped (or failed, see :func:`missing`)."""
    path = chromium_path()
    if path is None:
        missing("Chromium is not installed (Debian: apt-get install chromium); browser tests need it")
    return path


@contextmanager
def serving(app: object, port: int | None = None) -> Iterator[str]:
    """``app`` on http://127.0.0.1:PORT in a thread, for a browser to open; its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def chromium(*extra_flags: str) -> Iterator[Browser]:
    """The system's Chromium, headless, with ``extra_flags`` after the usual ones."""
    path = required_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(path), args=[*FLAGS, *extra_flags])
        try:
            yield browser
        finally:
            browser.close()

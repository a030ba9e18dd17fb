"""Debian's Chromium driven by Playwright, for tests of the pages cityid renders.

The browser is the system's (``/usr/bin/chromium``, or ``CITYID_CHROMIUM``); Playwright's own
download is never used. Without a browser the tests are skipped with a message saying so,
unless ``CITYID_REQUIRE_BROWSER=1`` (which ``./dev test`` sets), when they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
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


@contextmanager
def chromium(*extra_flags: str) -> Iterator[Browser]:
    """The system's Chromium, headless, with ``extra_flags`` after the usual ones."""
    path = chromium_path()
    if path is None:
        message = "Chromium is not installed (Debian: apt-get install chromium); browser tests need it"
        if os.environ.get("CITYID_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(path), args=[*FLAGS, *extra_flags])
        try:
            yield browser
        finally:
            browser.close()

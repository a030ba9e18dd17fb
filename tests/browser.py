"""Debian's Chromium driven by Playwright, for tests of the pages cityid renders.

The browser is the system's (``/usr/bin/chromium``, or ``CITYID_CHROMIUM``); Playwright's own
download is never used. Without a browser the tests are skipped with a message saying so,
unless ``CITYID_REQUIRE_BROWSER=1`` (which ``./dev test`` sets), when they fail instead.

A page's camera is Chromium's fake one playing a y4m video of a QR code (:class:`Camera`).
"""

from __future__ import annotations

import io
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
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

from edges.qrimage import make_qr, to_png

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


def write_qr_video(png: bytes, path: Path, frames: int = 20) -> Path:
    """A 640x480 I420 video of a QR image, large and centred on white, which Chromium loops as its
    camera. It is written beside ``path`` and moved over it, so a camera never opens half a file."""
    with Image.open(io.BytesIO(png)) as image:
        side = 440
        qr = image.convert("L").resize((side, side), Image.Resampling.NEAREST)
    canvas = Image.new("L", (640, 480), 255)
    canvas.paste(qr, ((640 - side) // 2, (480 - side) // 2))
    luma, chroma = canvas.tobytes(), bytes([128]) * (320 * 240)
    partial = path.with_name(path.name + ".part")
    with partial.open("wb") as video:
        video.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            video.write(b"FRAME\n" + luma + chroma + chroma)
    partial.replace(path)
    return path


def camera_flags(video: Path) -> list[str]:
    """Chromium's flags for a camera that plays ``video`` (allowed without asking)."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"]  # fmt: skip


class Camera:
    """The fake camera of one Chromium launch (:attr:`flags`), pointed at a code by :meth:`show`.

    Chromium opens the video file anew each time a page starts its camera, so one launch serves
    every scene: show the next code once the page has stopped its camera (the phone app stops it
    after each read; a page's camera stops when it is reloaded or left)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.show(_white_png())

    @property
    def flags(self) -> list[str]:
        return camera_flags(self.path)

    def show(self, png: bytes) -> None:
        write_qr_video(png, self.path)

    def show_text(self, text: str) -> None:
        self.show(to_png(make_qr(text)))


def _white_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (64, 64), 255).save(out, format="PNG")
    return out.getvalue()


def desk_result(page: Page, timeout: float = 30_000) -> dict[str, str]:
    """What the desk page shows once it has read a code: the result's class and reason, its
    verdict and its facts."""
    page.wait_for_selector("#result:not([hidden])", timeout=timeout)
    return {
        "class": page.get_attribute("#result", "class") or "",
        "reason": page.get_attribute("#result", "data-reason") or "",
        "verdict": page.inner_text("#verdict"),
        "facts": page.inner_text("#facts"),
    }


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

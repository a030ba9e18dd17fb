"""The desk in operation: a huge camera frame does not stall the page, a sync that misbehaves
is cut off, and the page says how old its trust is and what a non-proof scan was.

Names new with these changes are imported inside the tests, so each fails on its own on the
code before them.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from desk_support import World, answer, make_world
from fastapi.testclient import TestClient
from issuer_support import free_port, running_issuer
from PIL import Image

from credential import decode_request_text


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_issuer(tmp_path / "issuer") as issuer:
        built = make_world(issuer, tmp_path / "desk")
        built.sync()
        yield built


@contextmanager
def serving(data: Path) -> Iterator[str]:
    """A real `cityid verifier serve` over ``data``; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cityid", "verifier", "serve", "--audience", "desk:rec", "--port", str(port),
         "--data", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the desk did not start"
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(10)


def _huge_frame() -> bytes:
    """A 36-megapixel frame with no code in it: seconds of decoding, every retry tried."""
    buffer = io.BytesIO()
    Image.new("L", (6000, 6000), 200).save(buffer, format="JPEG", quality=30)
    return buffer.getvalue()


# 1. Decoding off the event loop --------------------------------------------------------------


def test_the_desk_answers_other_requests_while_a_huge_frame_is_decoded(world: World) -> None:
    """A real server: the request QR comes back while a 36-megapixel frame is still being decoded
    (decoding used to run in the event loop, so everything waited for it)."""
    frame, finished, order = _huge_frame(), threading.Event(), []
    with serving(world.data) as base:
        origin = {"Origin": base, "Content-Type": "image/jpeg"}

        def scan() -> None:
            answer = httpx.post(f"{base}/api/scan?policy=senior-discount", content=frame, headers=origin, timeout=120)
            order.append(("scan", answer.status_code))
            finished.set()

        scanner = threading.Thread(target=scan)
        scanner.start()
        time.sleep(0.5)  # the frame is uploaded (a few hundred kB over loopback) and being decoded
        answer = httpx.get(f"{base}/api/request?policy=senior-discount", timeout=120)
        order.append(("request", answer.status_code))
        scanner.join(120)
    assert finished.is_set()
    assert order == [("request", 200), ("scan", 200)]


def test_a_full_decode_queue_is_answered_busy_with_retry_after(world: World) -> None:
    """When every worker is decoding and the queue is full, a frame is refused at once as
    ``busy`` (503, Retry-After); once the workers are free, frames are taken again."""
    from verifier.app import create_desk_app  # noqa: PLC0415
    from verifier.scanning import DecodePool  # noqa: PLC0415

    release, started = threading.Event(), threading.Semaphore(0)

    def stuck(_frame: bytes) -> list[str]:
        started.release()
        release.wait(30)
        return []

    pool = DecodePool(stuck, workers=1, waiting=1)
    client = TestClient(
        create_desk_app(world.data, audience="desk:rec", decoder=pool), base_url="http://127.0.0.1:8500"
    )
    headers = {"Origin": "http://127.0.0.1:8500", "Content-Type": "image/jpeg"}
    answers: list[int] = []

    def scan() -> None:
        answers.append(client.post("/api/scan?policy=senior-discount", content=b"frame", headers=headers).status_code)

    first, second = threading.Thread(target=scan), threading.Thread(target=scan)
    first.start()
    assert started.acquire(timeout=10)  # the worker holds the first frame
    second.start()
    deadline = time.monotonic() + 10
    while pool.in_flight < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    refused = client.post("/api/scan?policy=senior-discount", content=b"frame", headers=headers)
    assert refused.status_code == 503
    assert refused.json()["reason"] == "busy"
    assert refused.headers["retry-after"] == "1"
    release.set()
    first.join(10)
    second.join(10)
    assert answers == [200, 200]
    assert client.post("/api/scan?policy=senior-discount", content=b"frame", headers=headers).status_code == 200
    pool.close()


# 2. Sync bounded in bytes and time -----------------------------------------------------------


@contextmanager
def misbehaving_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server on 127.0.0.1 whose /endless streams (up to 64 MB, to stay bounded),
    /trickle sends a byte now and then, and /hang never answers; each stops when the test ends
    (at most 30 s). Yields its URL and the bytes it sent."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415

    done, sent = threading.Event(), [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            stop = time.monotonic() + 30
            try:
                if self.path.startswith("/hang"):
                    done.wait(30)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/jwt")
                self.end_headers()
                while not done.is_set() and time.monotonic() < stop:
                    if self.path.startswith("/endless"):
                        if sent[0] >= 64 * 1024 * 1024:
                            return
                        self.wfile.write(b"e" * 65_536)
                        sent[0] += 65_536
                    else:
                        self.wfile.write(b"e")
                        self.wfile.flush()
                        done.wait(0.2)
            except OSError:  # the desk hung up
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sent
    finally:
        done.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def _sync(tmp_path: Path, url: str, *extra: str) -> tuple[int, str, float]:
    from typer.testing import CliRunner  # noqa: PLC0415

    from cityid.cli import app  # noqa: PLC0415

    keys = tmp_path / "keys.jwks"
    keys.write_text('{"keys": []}')
    started = time.monotonic()
    result = CliRunner().invoke(app, ["verifier", "sync", url, "--data", str(tmp_path / "desk"), "--issuer-jwks",
                                      str(keys), "--board-jwks", str(keys), *extra])  # fmt: skip
    return result.exit_code, result.output, time.monotonic() - started


def test_a_sync_refuses_an_endless_download_past_the_byte_cap(tmp_path: Path) -> None:
    """A body streamed without end is cut off at 8 MB as ``too_large`` (it used to be read whole
    into memory, then refused), and nothing is written."""
    with misbehaving_server() as (base, sent):
        code, output, took = _sync(tmp_path, base + "/endless")
    assert code == 2  # too large, as every command exits for it (edges/exits.py)
    assert "[too_large]" in output
    assert sent[0] < 24 * 1024 * 1024, f"the desk kept reading: {sent[0]:,} bytes"
    assert not (tmp_path / "desk").exists()
    assert took < 30


@pytest.mark.parametrize("path", ["/hang", "/trickle"])
def test_a_sync_that_hangs_or_trickles_stops_at_its_deadline(tmp_path: Path, path: str) -> None:
    """A server that never answers, or sends a byte now and then (each wait shorter than a read
    timeout), stops the sync at --timeout as ``sync_timeout``; nothing is written."""
    with misbehaving_server() as (base, _sent):
        code, output, took = _sync(tmp_path, base + path, "--timeout", "2")
    assert code == 1
    assert "[sync_timeout]" in output
    assert not (tmp_path / "desk").exists()
    assert took < 20


# 3. How old the kept trust is ------------------------------------------------------------------

DESK = "http://127.0.0.1:8500"


def _client(world: World) -> TestClient:
    from verifier.app import create_desk_app  # noqa: PLC0415

    return TestClient(create_desk_app(world.data, audience="desk:rec"), base_url=DESK)


def test_the_desk_page_says_when_it_synced_and_when_it_starts_refusing(world: World) -> None:
    """/api/trust and the page: synced N h ago, refuses after the earliest of the status lists'
    expiry and their issue time plus the strictest policy's max_status_age; translated."""
    from verifier.freshness import freshness, moment  # noqa: PLC0415
    from verifier.sync import load_trust  # noqa: PLC0415

    trust = load_trust(world.data)
    ages = min(policy.max_status_age for policy in trust.registry.policies.values())
    lists = list(trust.status_lists.values())
    assert lists
    expected = min([token.issued_at + ages for token in lists] + [t.expires_at for t in lists if t.expires_at])
    assert freshness(trust).refuses_after == expected
    with _client(world) as client:
        answer = client.get("/api/trust").json()
        assert answer["synced_at"] == trust.synced_at
        assert answer["refuses_after"] == expected
        assert answer["status_lists_valid_until"] == min(t.expires_at for t in lists if t.expires_at)
        assert answer["words"] == f"Synced 0 h ago; refuses after {moment(expected)}."
        assert answer["words"] in client.get("/").text
        spanish = client.get("/", params={"lang": "es"}).text
        assert f"Sincronizado hace 0 h; rechazará pruebas después de {moment(expected)}." in spanish


def test_a_sync_prints_until_when_its_status_lists_hold(world: World, tmp_path: Path) -> None:
    """`cityid verifier sync` says when the status lists expire and when the desk starts refusing."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from cityid.cli import app  # noqa: PLC0415

    issuer_keys, board = tmp_path / "issuer.jwks", tmp_path / "board.jwks"
    issuer_keys.write_text(json.dumps(world.issuer.client.get("/.well-known/jwt-vc-issuer").json()))
    board.write_text(json.dumps(world.board_jwks))
    result = CliRunner().invoke(app, ["verifier", "sync", str(world.data / "trust.json"), "--data",
                                      str(tmp_path / "other"), "--issuer-jwks", str(issuer_keys), "--board-jwks",
                                      str(board)])  # fmt: skip
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Status lists valid until " in output
    assert "refuses proofs as status_stale after " in output


# 4. What a scan that is not a proof was --------------------------------------------------------


def _scan(client: TestClient, body: bytes, kind: str, lang: str = "en") -> dict[str, Any]:
    answer = client.post("/api/scan", params={"policy": "senior-discount", "lang": lang}, content=body,
                         headers={"Origin": DESK, "Content-Type": kind})  # fmt: skip
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    assert found["found"] is True, found
    return found["result"]  # type: ignore[no-any-return]


def test_the_desk_says_what_was_scanned_when_it_is_not_a_proof(world: World) -> None:
    """The desk's own request, a web address (photographed or typed), a truncated proof: each
    said in words and with a reason (the page used to show nothing, or only "not valid")."""
    from edges.qrimage import make_qr, to_png  # noqa: PLC0415

    with _client(world) as client:
        request = client.get("/api/request", params={"policy": "senior-discount"}).json()["request"]
        desk = _scan(client, to_png(make_qr(request)), "image/png")
        assert (desk["valid"], desk["reason"]) == (False, "desk_request")
        assert desk["words"].startswith("This is a desk request, not a resident's proof.")
        assert _scan(client, request.encode(), "text/plain")["reason"] == "desk_request"
        for body, kind in ((to_png(make_qr("https://example.org/menu")), "image/png"),
                           (b"https://example.org/menu", "text/plain")):  # fmt: skip
            other = _scan(client, body, kind)
            assert (other["reason"], other["words"]) == ("not_city_id", "This QR code is not a city ID."), kind
        now = int(time.time())
        proof = answer(world.residency[0], decode_request_text(request), now=now)
        cut = _scan(client, proof[: len(proof) // 2].encode(), "text/plain")
        assert cut["reason"] in {"bad_encoding", "malformed"}
        assert cut["words"] == "This code is damaged or incomplete: scan it again."
        assert _scan(client, proof[: len(proof) // 2].encode(), "text/plain", "es")["words"] == (
            "Este código está dañado o incompleto: escanéelo de nuevo."
        )
        assert _scan(client, b"https://example.org", "text/plain", "ar")["words"] == "رمز QR هذا ليس هوية المدينة."


# 5. The "No camera" line, translated -----------------------------------------------------------


def test_the_no_camera_line_comes_translated_from_the_page(world: World) -> None:
    """desk.js used to write it in English for every language; now it shows what the page carries."""
    with _client(world) as client:
        assert "No camera" not in client.get("/static/desk.js").text
        assert 'data-no-camera="No camera: use a handheld scanner in the box below."' in client.get("/").text
        chinese = client.get("/", params={"lang": "zh-Hans"}).text
        assert 'data-no-camera="没有摄像头：请用手持扫描器扫入下面的框。"' in chinese  # noqa: RUF001

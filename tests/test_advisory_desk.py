"""Security regressions of the desk (verifier/), each named after what it guards against.

Status-list rollback at sync; other web pages driving the desk app (foreign Origin, DNS
rebinding, a GET that changed state, any content type); request bodies read into memory
before the limit; replays of offline proofs after a restart, a sync or a full memory; and the
smaller ones: security headers on every answer, the trust bundle verified before anything it
names is fetched, an unknown policy answered with a reason. Names new with these fixes are
imported inside the tests, so each test fails on its own on the code before them.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from desk_support import World, make_world, offline
from fastapi.testclient import TestClient
from issuer_support import free_port, running_issuer
from typer.testing import CliRunner

from cityid.cli import app as cli
from credential import SigningKey, StatusList, sign_status_list
from credential._jws import sign_jwt
from edges.i18n import translator
from edges.keyfile import new_es256_key, public_jwks
from issuer.db import sessions
from issuer.service import revoke_batch
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry
from verifier.app import DeskApp, create_desk_app, reason_words
from verifier.engine import OFFLINE_MAX_AGE, Desk
from verifier.sync import TRUST_FILE, TRUST_TYP, SyncError, load_trust, sync

DESK = "http://127.0.0.1:8500"
SAME_ORIGIN = {"Origin": DESK}
FOREIGN = {"Origin": "http://evil.example"}
ISSUER = "https://id.riverton.example"
SENIOR = ("senior-discount", ("age_over_65",))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_issuer(tmp_path / "issuer") as issuer:
        built = make_world(issuer, tmp_path / "desk")
        built.sync()
        yield built


def _desk_client(world: World) -> TestClient:
    """The desk app as served on 127.0.0.1:8500 (the allowed hosts default to the server's address)."""
    return TestClient(create_desk_app(world.data, audience="desk:rec"), base_url=DESK)


def _offline(world: World, item: int, now: int, nonce: str) -> str:
    return offline(world.residency[item], SENIOR[0], SENIOR[1], now, nonce=nonce)


# A. Status-list rollback ------------------------------------------------------------------


def test_a_sync_never_rolls_a_status_list_back_to_before_a_revocation(world: World) -> None:
    """After a revocation and a sync, an older (still unexpired) list is refused, atomically."""
    issuer = world.issuer
    before = json.loads((world.data / TRUST_FILE).read_text())["status_lists"]
    time.sleep(1.05)  # the revocation's list is signed in a later second than the one held
    with sessions(issuer.engine).begin() as session:
        revoke_batch(session, issuer.clerk(), world.revocation_code, now=int(time.time()))
    issuer.client.app.state.runtime.status_cache.invalidate()  # type: ignore[attr-defined]
    world.sync()
    stored = (world.data / TRUST_FILE).read_bytes()
    desk, now = Desk(load_trust(world.data)), int(time.time())
    revoked = desk.check(_offline(world, 0, now, "revoked-nonce-0123456789"), policy=SENIOR[0], now=now)
    assert revoked.reason == "revoked"

    def replaying(url: str) -> str:  # an attacker on the way serves the list from before the revocation
        return before[url] if url in before else world.fetch(url)

    with pytest.raises(SyncError) as caught:
        sync(issuer.settings.issuer_url, world.data, fetch=replaying, now=int(time.time()))
    assert caught.value.reason == "status_rollback"
    assert "older than" in caught.value.message
    assert (world.data / TRUST_FILE).read_bytes() == stored
    still = Desk(load_trust(world.data)).check(_offline(world, 1, now, "revoked-nonce-abcdefghij"), policy=SENIOR[0],
                                                now=now)  # fmt: skip
    assert still.reason == "revoked"


def _registry(now: int) -> tuple[str, dict[str, Any]]:
    board = new_es256_key()
    chosen = [lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id == SENIOR[0]]
    token = sign_registry(chosen, board, issuer="Board", version=1, now=now, lifetime=30 * 86_400,
                          catalogue=default_catalogue())  # fmt: skip
    return token, public_jwks(board)


def _bundle(key: SigningKey, now: int, uris: list[str], registry: str | None = None) -> str:
    payload = {"iss": ISSUER, "iat": now, "exp": now + 86_400, "jwks": public_jwks(key), "status_lists": uris,
               "policy_registry": registry}  # fmt: skip
    return sign_jwt({"alg": key.alg, "typ": TRUST_TYP, "kid": key.kid}, payload, key)


def _status_list(key: SigningKey, uri: str, iat: int, revoked: set[int]) -> str:
    bits = bytearray(16)
    for index in revoked:
        bits[index // 8] |= 1 << (index % 8)
    return sign_status_list(StatusList(1, bytes(bits)), key, uri=uri, now=iat, lifetime=86_400, ttl=300)


def test_a_status_list_of_the_same_moment_may_add_revocations_but_never_clear_one(tmp_path: Path) -> None:
    """Equal ``iat``: the same list, or one that only revokes more, is taken; anything else is
    refused (it could be the older of two lists signed within one second)."""
    key, now, uri = new_es256_key(), int(time.time()), f"{ISSUER}/status/1"
    registry, board = _registry(now)
    bundle, data = _bundle(key, now, [uri], registry), tmp_path / "desk"

    def sync_list(iat: int, revoked: set[int], *, first: bool = False) -> None:
        package = tmp_path / "package.json"
        package.write_text(json.dumps({"bundle": bundle, "status_lists": {uri: _status_list(key, uri, iat, revoked)}}))
        pins: dict[str, Any] = {"issuer_jwks": public_jwks(key), "board_jwks": board} if first else {}
        sync(str(package), data, fetch=_no_fetch, now=now, **pins)

    def revoked_now() -> set[int]:
        held = load_trust(data, now=now).status_lists[uri].status_list
        return {index for index in range(held.size) if held.get(index)}

    sync_list(now - 50, {3}, first=True)
    sync_list(now - 50, {3}, first=False)  # the same list again
    sync_list(now - 50, {3, 5})  # same moment, one more revocation
    assert revoked_now() == {3, 5}
    for iat, revoked in ((now - 50, {5}), (now - 50, {3}), (now - 60, {3, 5}), (now - 60, {3, 5, 7})):
        stored = (data / TRUST_FILE).read_bytes()
        with pytest.raises(SyncError) as caught:
            sync_list(iat, revoked)
        assert caught.value.reason == "status_rollback", (iat, revoked)
        assert (data / TRUST_FILE).read_bytes() == stored
    sync_list(now - 40, {5})  # newer: the issuer's word, even if it differs
    assert revoked_now() == {5}


def _no_fetch(url: str) -> str:
    raise AssertionError(f"a package sync fetched {url}")


# B. Other web pages driving the desk app ---------------------------------------------------


def test_a_foreign_page_cannot_scan_or_replace_the_request(world: World) -> None:
    """A page elsewhere can send simple requests (text/plain POSTs) to 127.0.0.1: refused."""
    with _desk_client(world) as client:
        state = client.app.state.desk  # type: ignore[attr-defined]
        shown = client.get("/api/request", params={"policy": SENIOR[0]}).json()["request"]
        refused = (FOREIGN, {"Origin": "null"}, {"Origin": "http://127.0.0.1:9999"}, {},
                   {"Sec-Fetch-Site": "cross-site"}, {"Origin": DESK, "Sec-Fetch-Site": "cross-site"})  # fmt: skip
        for headers in refused:
            scan = client.post("/api/scan", params={"policy": SENIOR[0]}, content=b"CID1:ABC",
                               headers={**headers, "Content-Type": "text/plain"})  # fmt: skip
            assert (scan.status_code, scan.json()["reason"]) == (403, "forbidden_origin"), headers
            renew = client.post("/api/request", params={"policy": SENIOR[0]}, headers=headers)
            assert (renew.status_code, renew.json()["reason"]) == (403, "forbidden_origin"), headers
        assert sum(state.counts.values()) == 0
        assert client.get("/api/request", params={"policy": SENIOR[0]}).json()["request"] == shown
        ours = client.post("/api/scan", params={"policy": SENIOR[0]}, content=b"CID1:ABC",
                           headers={**SAME_ORIGIN, "Content-Type": "text/plain"})  # fmt: skip
        assert ours.status_code == 200 and ours.json()["found"] is True
        fetched = client.post("/api/scan", params={"policy": SENIOR[0]}, content=b"CID1:ABC",
                              headers={"Sec-Fetch-Site": "same-origin", "Content-Type": "text/plain"})  # fmt: skip
        assert fetched.status_code == 200


def test_dns_rebinding_is_refused_by_the_host_check(world: World) -> None:
    """evil.example resolving to 127.0.0.1 makes the desk same-origin with the attacker's page:
    only the desk's own Host is answered."""
    with _desk_client(world) as client:
        for path in ("/", "/api/request?policy=senior-discount", "/static/desk.js"):
            answer = client.get(path, headers={"Host": "evil.example:8500"})
            assert (answer.status_code, answer.json()["reason"]) == (403, "forbidden_host"), path
        scan = client.post("/api/scan", params={"policy": SENIOR[0]}, content=b"CID1:ABC",
                           headers={"Host": "evil.example:8500", "Origin": "http://evil.example:8500",
                                    "Content-Type": "text/plain"})  # fmt: skip
        assert (scan.status_code, scan.json()["reason"]) == (403, "forbidden_host")
        for host in ("127.0.0.1:8500", "localhost:8500"):
            assert client.get("/", headers={"Host": host}).status_code == 200


def test_the_desk_answers_at_the_address_it_is_served_on_and_at_its_loopback_names() -> None:
    from verifier.guards import own_hosts  # noqa: PLC0415 - new with the fix

    assert own_hosts("127.0.0.1", 8500) == {"127.0.0.1:8500", "localhost:8500", "[::1]:8500"}
    assert own_hosts("0.0.0.0", 8600) == {"127.0.0.1:8600", "localhost:8600", "[::1]:8600"}
    assert own_hosts("192.0.2.7", 8500) == {"192.0.2.7:8500"}
    assert "127.0.0.1" in own_hosts("127.0.0.1", 80)  # browsers leave out the default port


def test_a_get_never_replaces_the_open_request(world: World) -> None:
    """GET /api/request?fresh=1 (an image tag on any page) used to replace the request shown."""
    with _desk_client(world) as client:
        params = {"policy": SENIOR[0], "fresh": "1"}
        shown = client.get("/api/request", params=params).json()["request"]
        assert client.get("/api/request", params=params).json()["request"] == shown
        renewed = client.post("/api/request", params={"policy": SENIOR[0]}, headers=SAME_ORIGIN).json()["request"]
        assert renewed != shown
        assert client.get("/api/request", params={"policy": SENIOR[0]}).json()["request"] == renewed


def test_the_scanner_takes_only_what_the_desk_page_sends(world: World) -> None:
    """Frames (JPEG, PNG) and typed text; a form post or anything else is refused before reading."""
    with _desk_client(world) as client:
        for kind in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json", ""):
            answer = client.post("/api/scan", params={"policy": SENIOR[0]}, content=b"CID1:ABC",
                                 headers={**SAME_ORIGIN, "Content-Type": kind})  # fmt: skip
            assert (answer.status_code, answer.json()["reason"]) == (415, "unsupported_media_type"), kind
        for kind in ("image/jpeg", "image/png"):
            answer = client.post("/api/scan", params={"policy": SENIOR[0]}, content=b"\x89PNG not a picture",
                                 headers={**SAME_ORIGIN, "Content-Type": kind})  # fmt: skip
            assert answer.status_code == 200 and answer.json() == {"found": False}, kind
        answer = client.post("/api/scan", params={"policy": SENIOR[0]}, content=b"\x89PNG not a picture",
                             headers={**SAME_ORIGIN, "Content-Type": "text/plain;charset=UTF-8"})  # fmt: skip
        assert answer.status_code == 200 and answer.json()["result"]["reason"] == "not_city_id"  # typed: said so


# C. Request bodies bounded as they stream in -----------------------------------------------


def _rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def _stream(port: int, total: int, chunk: int = 64 * 1024) -> tuple[int, bytes]:
    """POST a chunked body (no Content-Length) of up to ``total`` bytes, stopping when the server
    answers or stops taking it; returns what was sent and the answer."""
    head = (
        f"POST /api/scan?policy=senior-discount HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}"
        "\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    framed, sent, answer = b"%x\r\n" % chunk + bytes(chunk) + b"\r\n", 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(head.encode())
        try:
            while sent < total and not select.select([connection], [], [], 0)[0]:
                connection.sendall(framed)
                sent += chunk
        except OSError:  # reset or timed out: the server stopped reading
            pass
        try:
            while data := connection.recv(65536):
                answer += data
        except OSError:
            pass
    return sent, answer


def test_a_chunked_upload_is_cut_off_at_the_limit_without_filling_the_desks_memory(world: World) -> None:
    """300 MB streamed to a real `cityid verifier serve`: a 413 with its reason after a few MB,
    and the server's memory stays flat (it used to read everything, then refuse)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cityid", "verifier", "serve", "--audience", "desk:rec", "--port", str(port),
         "--data", str(world.data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the desk did not start"
            time.sleep(0.2)
        before = _rss(server.pid, "VmRSS")
        started = time.monotonic()
        sent, answer = _stream(port, 300 * 1024 * 1024)
        peak = _rss(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(10)
    assert peak - before < 50 * 1024 * 1024, f"the desk's memory grew by {(peak - before):,} bytes"
    assert sent < 64 * 1024 * 1024, f"the desk kept reading: {sent:,} bytes"
    assert time.monotonic() - started < 10
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    assert json.loads(body)["reason"] == "too_large"
    assert b"connection: close" in head.lower() and b"content-security-policy" in head.lower()


def test_the_issuer_answers_a_chunked_body_over_its_limit_with_413(tmp_path: Path) -> None:
    """The shared limit: a body with no Content-Length used to come back as a 400 without a reason."""
    with running_issuer(tmp_path / "issuer") as issuer:
        chunks = (b"x" * 65_536 for _ in range(16))
        answer = issuer.client.post("/credential", content=chunks, headers={"content-type": "application/json"})
        assert (answer.status_code, answer.json()["reason"]) == (413, "too_large")
        declared = issuer.client.post("/token", content=b"x" * 300_000,
                                      headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert (declared.status_code, declared.json()["reason"]) == (413, "too_large")
        assert declared.json()["error"] == "invalid_request"


# D. Replays of offline proofs --------------------------------------------------------------


def test_an_offline_proof_is_refused_after_the_desk_restarts(world: World) -> None:
    """The desk keeps nothing on disk, so after a restart it refuses offline proofs made before it started."""
    now = int(time.time())
    proof = _offline(world, 0, now, "restart-nonce-0123456789")
    first = DeskApp(world.data, "desk:rec", clock=lambda: now)
    assert first.check(proof, SENIOR[0], now).valid
    restarted = DeskApp(world.data, "desk:rec", clock=lambda: now + 61)
    again = restarted.check(proof, SENIOR[0], now + 62)
    assert (again.valid, again.reason) == (False, "made_before_start")
    assert "fresh code" in reason_words(translator("en"), again.reason)
    assert restarted.check(_offline(world, 1, now + 62, "after-restart-0123456789"), SENIOR[0], now + 62).valid


def test_an_offline_proof_stays_refused_after_a_sync(world: World) -> None:
    """A routine sync rebuilds the engine; the replay memory goes with it to the new one."""
    desk, now = DeskApp(world.data, "desk:rec"), int(time.time())
    proof = _offline(world, 0, now, "sync-nonce-0123456789ab")
    assert desk.check(proof, SENIOR[0], now).valid
    engine = desk.desk
    world.sync()
    again = desk.check(proof, SENIOR[0], now)
    assert desk.desk is not engine, "the sync was not picked up"
    assert (again.valid, again.reason) == (False, "replayed")


def test_a_full_replay_memory_refuses_new_proofs_and_never_forgets_a_live_one(world: World) -> None:
    """It used to drop the oldest entry when full, so the first proof could be shown again."""
    from verifier.engine import ReplayGuard  # noqa: PLC0415 - new with the fix

    now = int(time.time())
    desk = Desk(load_trust(world.data), replay=ReplayGuard(started_at=now, capacity=50))
    proofs = [_offline(world, 0, now, f"capacity-nonce-{number:08d}") for number in range(51)]
    assert all(desk.check(proof, policy=SENIOR[0], now=now).valid for proof in proofs[:50])
    full = desk.check(proofs[50], policy=SENIOR[0], now=now)
    assert (full.valid, full.reason) == (False, "replay_memory_full")
    assert reason_words(translator("en"), full.reason) == "The desk is busy; try again in a minute."
    for later in (now, now + OFFLINE_MAX_AGE + 1, now + OFFLINE_MAX_AGE + 60):  # still fresh: still remembered
        assert desk.check(proofs[0], policy=SENIOR[0], now=later).reason == "replayed", later
    done = now + OFFLINE_MAX_AGE + 121  # every entry's proof is out of its window now: room again
    assert desk.check(proofs[0], policy=SENIOR[0], now=done).reason == "kb_not_fresh"
    assert desk.check(_offline(world, 1, done, "after-the-rush-01234567"), policy=SENIOR[0], now=done).valid


def test_verifier_check_says_it_cannot_remember_replays() -> None:
    """One process per proof keeps no memory; its help says so and points to `verifier serve`."""
    shown = CliRunner().invoke(cli, ["verifier", "check", "--help"], env={"COLUMNS": "200"})
    words = " ".join(shown.output.split())
    assert "remembers nothing" in words and "accepted again" in words and "verifier serve" in words


# E. Headers, the sync's fetches, unknown policies ------------------------------------------


def test_every_desk_answer_carries_the_security_headers(world: World) -> None:
    from verifier.app import BODY_LIMIT  # noqa: PLC0415 - new with the fix

    with _desk_client(world) as client:
        scan = {"params": {"policy": SENIOR[0]}}
        answers = {
            200: client.get("/"),
            400: client.post("/api/scan", params={"policy": "nope"}, content=b"x", headers=SAME_ORIGIN),
            403: client.post("/api/scan", **scan, content=b"x", headers={**FOREIGN, "Content-Type": "text/plain"}),
            404: client.get("/nowhere"),
            405: client.get("/api/scan", **scan),
            413: client.post("/api/scan", **scan, content=bytes(BODY_LIMIT + 1),
                             headers={**SAME_ORIGIN, "Content-Type": "image/jpeg"}),
            415: client.post("/api/scan", **scan, content=b"x", headers={**SAME_ORIGIN, "Content-Type": "text/html"}),
            422: client.get("/api/request", params={"policy": "p" * 65}),
        }  # fmt: skip
        for status, answer in answers.items():
            assert answer.status_code == status, (status, answer.text)
            assert "script-src 'self'" in answer.headers.get("content-security-policy", ""), status
            assert answer.headers.get("x-content-type-options") == "nosniff", status
            assert answer.headers.get("referrer-policy") == "no-referrer", status
            assert answer.headers.get("cache-control") == "no-store", status


def test_sync_verifies_the_trust_bundle_before_fetching_anything_it_names(tmp_path: Path) -> None:
    """An unsigned bundle used to make the desk fetch every URL in it (a request forger's dream)."""
    trusted, stranger, now = new_es256_key(), new_es256_key(), int(time.time())
    forged = _bundle(stranger, now, [f"{ISSUER}/status/1", "http://169.254.169.254/latest/meta-data/"])
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        return forged if url.endswith("/trust") else "not a status list"

    with pytest.raises(SyncError) as caught:
        sync(ISSUER, tmp_path / "desk", fetch=fetch, now=now, issuer_jwks=public_jwks(trusted),
             board_jwks=public_jwks(new_es256_key()))  # fmt: skip
    assert caught.value.reason in {"unknown_key", "bad_signature"}
    assert fetched == [f"{ISSUER}/trust"]
    assert not (tmp_path / "desk" / TRUST_FILE).exists()


@pytest.mark.parametrize(
    ("uris", "reason"),
    [
        ([f"{ISSUER}/status/{n}" for n in range(65)], "too_many_status_lists"),
        ([f"{ISSUER}/status/1", "https://elsewhere.example/status/1"], "foreign_status_list"),
        (["https://id.riverton.example@elsewhere.example/status/1"], "foreign_status_list"),
        (["http://id.riverton.example/status/1"], "foreign_status_list"),
        (["https://id.riverton.example:8443/status/1"], "foreign_status_list"),
        (["file:///etc/passwd"], "foreign_status_list"),
    ],
)
def test_sync_fetches_a_bounded_number_of_status_lists_from_the_issuers_own_origin(
    tmp_path: Path, uris: list[str], reason: str
) -> None:
    key, now = new_es256_key(), int(time.time())
    bundle = _bundle(key, now, uris)
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        return bundle if url == f"{ISSUER}/trust" else "not a status list"

    with pytest.raises(SyncError) as caught:
        sync(ISSUER, tmp_path / "desk", fetch=fetch, now=now, issuer_jwks=public_jwks(key),
             board_jwks=public_jwks(new_es256_key()))  # fmt: skip
    assert caught.value.reason == reason
    assert fetched == [f"{ISSUER}/trust"]


def test_an_unknown_policy_is_a_4xx_with_a_reason_never_a_500(world: World) -> None:
    with _desk_client(world) as client:  # the test client raises what the app does not handle
        answers = [
            client.get("/api/request", params={"policy": "nope"}),
            client.post("/api/request", params={"policy": "nope"}, headers=SAME_ORIGIN),
            client.post("/api/scan", params={"policy": "nope"}, content=b"CID1:ABC",
                        headers={**SAME_ORIGIN, "Content-Type": "text/plain"}),
        ]  # fmt: skip
        for answer in answers:
            assert (answer.status_code, answer.json()["reason"]) == (400, "unknown_policy"), answer.request.url
            assert "Traceback" not in answer.text

"""Resumable issuance: a receive stopped at any step finishes with one full batch, and the
issuer keeps nothing once the wallet has said so or the resume window has closed.

The must-show runs real `cityid issuer serve` and real `cityid wallet receive` processes with a
small forwarding proxy between them (the issuer's URL is the proxy's). It stops receives at 20
points: each of the 5 wallet requests that change something at the issuer (REQUESTS), in each
of 4 ways (WAYS): SIGINT or SIGKILL the wallet as the request arrives, SIGKILL it after the
issuer answered but before the answer is relayed, or SIGKILL the issuer (started again on the
same data directory) with the request in flight. One resident per way, side by side, is stopped
at each request in turn, `wallet receive` being run again after each stop (so the later stops
fall in resumed receives, and the issuer's deaths hit the others' requests too). Every resident
must end with exactly the batch asked for, each credential verifying and valid, no two sharing
a status index; every credential the issuer sent and the wallet does not hold must be revoked;
only an answer lost is sent again; and no offer, grant or claim value is left once the window of
a resident who went away has closed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from issuer_support import (
    ISSUER_URL,
    PASSPHRASE,
    enrolled,
    free_port,
    initialise,
    issuer_process,
    running_issuer,
)
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, update
from typer.testing import CliRunner

from cityid.cli import app
from credential import (
    RESIDENCY,
    KeySet,
    Reason,
    SigningKey,
    StatusError,
    StatusReference,
    check_status,
    parse_issued,
    present,
    sign_jwt,
    verify_presentation,
    verify_status_list_token,
)
from edges.keyfile import signing_key_from_jwk
from edges.sealing import lookup_hash
from issuer.db import make_engine, sessions
from issuer.models import Clerk, Grant, Offer, StatusEntry
from issuer.service import MAX_REPEATS, OfferCreated, create_offer
from issuer.settings import IssuerSettings, store_issuer_url
from wallet.receive import PRE_AUTHORIZED, Progress, parse_offer
from wallet.store import Wallet, load, save

CITYID = str(Path(sys.executable).with_name("cityid"))
PASS = "resident passphrase"
COUNT = 2
WINDOW = 120
"""The resume window in the process test: long enough for every resumed receive on a busy machine
(the grant of the resident who goes away is made to end sooner)."""
REQUESTS = ("/token", "/credential residency", "/credential identity", "/notification 1", "/notification 2")
"""The wallet's requests that change something at the issuer, in the order of a receive (a resumed
receive also asks /nonce first); "/notification 2" is the second notification of one run."""
WAYS = ("sigint", "sigkill", "answer_lost", "issuer_killed")
"""SIGINT or SIGKILL the wallet as the request arrives; SIGKILL it once the issuer has answered,
before the answer is relayed; SIGKILL the issuer with the request in flight (and start it again)."""
RUNNER = CliRunner()


# 1. The must-show: 20 stopping points, real processes


@dataclass
class Resident:
    name: str
    birthdate: str
    offer: OfferCreated
    wallet: Path
    way: str | None
    """How this resident's receive is stopped: at each of REQUESTS in turn, one stop per run."""
    stops: int = 0
    """How many of REQUESTS have had their stop."""
    notified: list[str] = field(default_factory=list)
    """The notification ids sent in the current run, in order (a notification tried again after a
    dropped connection keeps its place, so its stop can come again)."""
    process: subprocess.Popen[str] | None = None
    issued: dict[str, list[str]] = field(default_factory=lambda: {"residency": [], "identity": []})
    """Every credential the issuer sent for this resident, relayed or not (seen by the proxy)."""

    @property
    def code(self) -> str:
        return parse_offer(self.offer.offer_uri).code


class Served:
    """`cityid issuer serve` on one port and data directory, which the proxy may kill and start again."""

    def __init__(self, stack: ExitStack, data: Path, port: int, url: str, log: Path) -> None:
        self.stack, self.data, self.port, self.url, self.log = stack, data, port, url, log
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = self.stack.enter_context(issuer_process(self.data, None, self.port, self.log,
                                                               issuer_url=self.url))  # fmt: skip

    def kill_and_restart(self) -> None:
        with self.lock:
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)
            self.start()


class Proxy:
    """Forwards every request to the issuer, counting each resident's POSTs; when a resident's
    kill point comes, it stops the wallet or the issuer in the resident's chosen way."""

    def __init__(self, served: Served, residents: list[Resident]) -> None:
        self.served = served
        self.by_code = {resident.code: resident for resident in residents}
        self.by_token: dict[str, Resident] = {}
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=60)

    def relay(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        resident, way = self._count(handler, body)
        if way in {"sigint", "sigkill"}:  # the wallet stops as its request arrives
            self._stop_wallet(resident, signal.SIGINT if way == "sigint" else signal.SIGKILL)
            handler.close_connection = True
            return
        if way == "issuer_killed":  # the issuer dies with the request in flight, then comes back
            self.served.kill_and_restart()
            handler.close_connection = True
            return
        headers = {name: value for name, value in handler.headers.items()
                   if name.lower() in {"authorization", "content-type"}}  # fmt: skip
        try:
            answer = self.client.request(handler.command, f"http://127.0.0.1:{self.served.port}{handler.path}",
                                         headers=headers, content=body)  # fmt: skip
        except httpx.HTTPError:  # the issuer is down: the wallet sees a dropped connection
            if way == "answer_lost":  # and its stop comes with the request tried again
                with self.lock:
                    resident.stops -= 1  # type: ignore[union-attr]
            handler.close_connection = True
            return
        if way == "answer_lost" and answer.status_code >= 500:  # the issuer was down: the stop comes again
            with self.lock:
                resident.stops -= 1  # type: ignore[union-attr]
            way = None
        self._learn(resident, handler.path, answer)
        if way == "answer_lost":
            self._stop_wallet(resident, signal.SIGKILL)
            handler.close_connection = True
            return
        handler.send_response(answer.status_code)
        for name in ("content-type", "retry-after", "cache-control"):
            if name in answer.headers:
                handler.send_header(name, answer.headers[name])
        handler.send_header("Content-Length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)

    def _count(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[Resident | None, str | None]:
        """Whose request this is, and how to stop it when it is the resident's next stop."""
        with self.lock:
            if handler.path == "/token":
                resident = self.by_code.get(parse_qs(body.decode()).get("pre-authorized_code", [""])[0])
            else:
                resident = self.by_token.get(handler.headers.get("Authorization", "").removeprefix("Bearer "))
            if resident is None or resident.way is None or resident.stops == len(REQUESTS):
                return resident, None
            name = handler.path
            if name == "/credential":
                name += " " + json.loads(body)["credential_configuration_id"]
            elif name == "/notification":
                notification_id = json.loads(body)["notification_id"]
                if notification_id not in resident.notified:
                    resident.notified.append(notification_id)
                name += f" {min(resident.notified.index(notification_id) + 1, 2)}"
            if name != REQUESTS[resident.stops]:
                return resident, None
            resident.stops += 1
            return resident, resident.way

    def _learn(self, resident: Resident | None, path: str, answer: httpx.Response) -> None:
        if resident is None or answer.status_code != 200:
            return
        with self.lock:
            if path == "/token":
                self.by_token[answer.json()["access_token"]] = resident
            elif path == "/credential":
                credentials = [entry["credential"] for entry in answer.json()["credentials"]]
                kind = "residency" if RESIDENCY.is_named_by(parse_issued(credentials[0]).vct or "") else "identity"
                resident.issued[kind] += credentials

    @staticmethod
    def _stop_wallet(resident: Resident | None, how: signal.Signals) -> None:
        assert resident is not None and resident.process is not None
        resident.process.send_signal(how)
        resident.process.wait(30)


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            proxy.relay(self)

        def do_POST(self) -> None:
            proxy.relay(self)

        def log_message(self, *_arguments: Any) -> None:
            pass

    return Handler


def _canary(number: int) -> tuple[str, str]:
    return (
        f"Canary{number}x{secrets.token_hex(6)}",
        f"{1930 + secrets.randbelow(60):04d}-0{1 + number % 9}-1{number % 10}",
    )


def _enrol(settings: IssuerSettings, folder: Path, ways: list[str | None]) -> list[Resident]:
    engine = make_engine(settings.url)
    residents = []
    with sessions(engine).begin() as session:
        clerk = Clerk(username="alice", password_hash="-", created_at=0)
        session.add(clerk)
        session.flush()
        for number, way in enumerate(ways):
            name, birthdate = _canary(number)
            created = create_offer(session, settings, clerk, enrolled(name, birthdate), now=int(time.time()))
            residents.append(Resident(name, birthdate, created, folder / f"wallet-{number}.cidw", way))
    engine.dispose()
    return residents


def _receive(resident: Resident, *, offer: bool, pin: bool) -> subprocess.CompletedProcess[str]:
    command = [CITYID, "wallet", "receive", *([resident.offer.offer_uri] if offer else []),
               *(["--pin", resident.offer.pin] if pin else []), "--count", str(COUNT), "--wait", "90",
               "--wallet", str(resident.wallet)]  # fmt: skip
    env = {**os.environ, "CITYID_WALLET_PASSPHRASE": PASS}
    resident.notified = []
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)  # fmt: skip
    resident.process = process
    out, err = process.communicate(timeout=180)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def _stop_and_resume(resident: Resident) -> int:
    """`wallet receive`, and again after each stop until it finishes; returns how many runs it took.
    Runs after the first give the offer again or not, in turn, and the PIN only after a stop at
    /token (otherwise the wallet holds the access token and must not need it)."""
    runs = 0
    while True:
        stops = resident.stops
        done = _receive(resident, offer=runs % 2 == 0, pin=runs == 0 or REQUESTS[stops - 1] == "/token")
        runs += 1
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode == 0:
            break
        assert resident.stops == stops + 1 and resident.way != "issuer_killed", (resident.way, done.stderr)
        if resident.way == "sigint":
            assert done.returncode == 130, done.stderr
            assert "Stopped. Run `cityid wallet receive` again to finish: your offer is kept." in done.stderr
        else:
            assert done.returncode == -signal.SIGKILL, done.stderr
    assert resident.stops == len(REQUESTS), resident.way
    assert f"{COUNT} residency, {COUNT} identity" in done.stdout
    return runs


def _status_lists(base: str, references: set[str]) -> dict[str, Any]:
    keys = KeySet.from_jwks(httpx.get(f"{base}/.well-known/jwt-vc-issuer").json())
    now = int(time.time())
    return {uri: verify_status_list_token(httpx.get(base + uri[uri.index("/status/"):]).text, keys, uri=uri, now=now)
            for uri in references}  # fmt: skip


def _reference(credential: str) -> StatusReference:
    entry = parse_issued(credential).payload["status"]["status_list"]
    return StatusReference(entry["idx"], entry["uri"])


def test_a_receive_stopped_at_any_of_20_points_finishes_with_one_full_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYID_RESUME_WINDOW", str(WINDOW))
    monkeypatch.setenv("CITYID_STATUS_LIST_TTL", "2")
    proxy_port, issuer_port = free_port(), free_port()
    url = f"http://127.0.0.1:{proxy_port}"
    settings = IssuerSettings(data=tmp_path / "issuer", issuer_url=url, issuer_passphrase=SecretStr(PASSPHRASE),
                              status_list_size=2**16, resume_window=WINDOW)  # fmt: skip
    initialise(settings).dispose()
    store_issuer_url(settings.data, url)
    residents = _enrol(settings, tmp_path, [*WAYS, None])  # the last one redeems its offer and goes away
    *stopped, gone = residents
    with ExitStack() as stack:
        served = Served(stack, settings.data, issuer_port, url, tmp_path / "issuer.log")
        served.start()
        proxy = Proxy(served, residents)
        stack.callback(proxy.client.close)
        server = ThreadingHTTPServer(("127.0.0.1", proxy_port), _handler(proxy))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
        form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": gone.code, "tx_code": gone.offer.pin}
        assert httpx.post(f"{url}/token", data=form).status_code == 200
        _close_the_window_early(settings, gone)

        with ThreadPoolExecutor(max_workers=len(WAYS)) as pool:  # the issuer's deaths hit every resident
            runs = dict(zip(WAYS, pool.map(_stop_and_resume, stopped), strict=True))
        assert runs == {"sigint": 6, "sigkill": 6, "answer_lost": 6, "issuer_killed": 1}  # 20 stops in all

        held: dict[str, list[dict[str, Any]]] = {r.name: load(r.wallet, PASS).credentials for r in stopped}
        every = {_reference(c).uri for r in stopped for kind in r.issued.values() for c in kind}
        lists = _status_lists(f"http://127.0.0.1:{issuer_port}", every)
        keys = KeySet.from_jwks(httpx.get(f"http://127.0.0.1:{issuer_port}/.well-known/jwt-vc-issuer").json())
        for resident in stopped:
            store = load(resident.wallet, PASS)
            assert store.pending == [], resident.way
            for kind in ("residency", "identity"):
                mine = [entry for entry in store.credentials if entry["type"] == kind]
                assert len(mine) == COUNT and not any(entry["used"] for entry in mine), resident.way
                sent = resident.issued[kind]
                assert {entry["credential"] for entry in mine} <= set(sent), resident.way
                assert len(sent) <= (1 + MAX_REPEATS) * COUNT, resident.way
                for entry in mine:
                    _verifies(entry, keys)
                    check_status(_reference(entry["credential"]), lists, now=int(time.time()), max_age=60)
                for replaced in set(sent) - {entry["credential"] for entry in mine}:
                    with pytest.raises(StatusError) as caught:
                        check_status(_reference(replaced), lists, now=int(time.time()), max_age=60)
                    assert caught.value.reason is Reason.REVOKED
        for resident in stopped:  # each answer lost was sent once more (the first revoked), and only that
            again = COUNT if resident.way == "answer_lost" else 0
            assert {kind: len(sent) for kind, sent in resident.issued.items()} == {
                "residency": COUNT + again,
                "identity": COUNT + again,
            }, resident.way
        indexes = [(ref.uri, ref.idx) for entries in held.values()
                   for ref in (_reference(e["credential"]) for e in entries)]  # fmt: skip
        assert len(indexes) == len(set(indexes)) == len(stopped) * 2 * COUNT

        engine = make_engine(settings.url)  # read only: no request reaches the issuer from here on
        left = _wait_until_purged(engine, deadline=time.monotonic() + 30)
        engine.dispose()
        assert left == 0, "the issuer kept a grant or an offer after the resume window"
        served.process.terminate()  # type: ignore[union-attr]
        served.process.wait(10)  # type: ignore[union-attr]
    stored = b"".join(path.read_bytes() for path in settings.data.glob("issuer.db*"))
    for resident in residents:
        assert resident.name.encode() not in stored and resident.birthdate.encode() not in stored


def _close_the_window_early(settings: IssuerSettings, resident: Resident) -> None:
    """Bring the end of this resident's window forward to now: as if the window had passed."""
    engine = make_engine(settings.url)
    with sessions(engine).begin() as session:
        batch = session.scalars(
            select(Offer.batch_id).where(Offer.code_hash == lookup_hash(resident.code, "offer"))
        ).one()
        for table in (Offer, Grant):
            session.execute(update(table).where(table.batch_id == batch).values(expires_at=int(time.time())))
    engine.dispose()


def _wait_until_purged(engine: Engine, *, deadline: float) -> int:
    """How many offers and grants are left once they are gone, or when ``deadline`` passes."""
    while True:
        with engine.connect() as connection:
            left = sum(connection.scalar(select(func.count()).select_from(table)) or 0 for table in (Grant, Offer))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def _verifies(entry: dict[str, Any], keys: KeySet) -> None:
    held, now = parse_issued(entry["credential"]), int(time.time())
    proof = present(held, disclose=["resident_of"], holder_key=signing_key_from_jwk(entry["device_key"]),
                    audience="desk:test", nonce="n", now=now)  # fmt: skip
    assert verify_presentation(proof, issuer_keys=keys, audience="desk:test", nonce="n", now=now).claims


# 2. The issuer's rules, one at a time


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[Any]:
    with running_issuer(tmp_path) as running:
        yield running


def _token(issuer: Any, code: str, pin: str) -> httpx.Response:
    form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": code, "tx_code": pin}
    response: httpx.Response = issuer.client.post("/token", data=form)
    return response


def _proof(key: SigningKey, nonce: str, *, iat: int | None = None) -> str:
    header = {"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": key.public_jwk()}
    return sign_jwt(header, {"aud": ISSUER_URL, "iat": iat or int(time.time()), "nonce": nonce}, key)


def _credential(issuer: Any, token: str, nonce: str, kind: str = "residency", **proof: Any) -> httpx.Response:
    request = {"credential_configuration_id": kind, "proofs": {"jwt": [_proof(SigningKey.generate(), nonce, **proof)]}}
    response: httpx.Response = issuer.client.post("/credential", headers={"Authorization": f"Bearer {token}"},
                                                  json=request)  # fmt: skip
    return response


def _offer_row(issuer: Any, code: str) -> Offer | None:
    with sessions(issuer.engine).begin() as session:
        row: Offer | None = session.scalars(select(Offer).where(Offer.code_hash == lookup_hash(code, "offer"))).first()
        return row


def test_token_again_gives_the_same_access_token_and_never_locks_but_wrong_pins_still_count(issuer: Any) -> None:
    created = issuer.offer()
    code = parse_offer(created.offer_uri).code
    first = _token(issuer, code, created.pin).json()
    for _ in range(issuer.settings.pin_attempts + 2):  # more resumes than there are tries
        again = _token(issuer, code, created.pin).json()
        assert again["access_token"] == first["access_token"] and again["c_nonce"] != first["c_nonce"]
    wrong = f"{(int(created.pin) + 1) % 10**6:06d}"
    refused = _token(issuer, code, wrong).json()
    assert refused["reason"] == "wrong_pin" and "3 tries left" in refused["error_description"]
    offer = _offer_row(issuer, code)
    assert offer is not None and offer.pin_failures == 2 and offer.sealed_claims == b""
    assert offer.sealed_token is not None and first["access_token"].encode() not in offer.sealed_token
    with sessions(issuer.engine).begin() as session:
        assert session.get(Grant, lookup_hash(first["access_token"], "grant")) is not None
    for _ in range(3):
        _token(issuer, code, wrong)
    assert _token(issuer, code, created.pin).json()["reason"] == "offer_unknown"  # cancelled by wrong PINs
    assert _credential(issuer, first["access_token"], again["c_nonce"]).status_code == 200  # the wallet's token lives


def test_a_type_asked_again_revokes_the_batch_before_and_stops_after_three_repeats(issuer: Any) -> None:
    created = issuer.offer()
    token = _token(issuer, parse_offer(created.offer_uri).code, created.pin).json()
    nonce, batches = token["c_nonce"], []
    for _ in range(1 + MAX_REPEATS):
        answer = _credential(issuer, token["access_token"], nonce).json()
        batches.append(answer["credentials"][0]["credential"])
        nonce = answer["c_nonce"]
    limited = _credential(issuer, token["access_token"], nonce).json()
    assert limited["reason"] == "resume_limit"
    with sessions(issuer.engine).begin() as session:
        revoked = {row.idx: row.revoked for row in session.execute(select(StatusEntry.idx, StatusEntry.revoked))}
        issuance = json.loads(session.get(Grant, lookup_hash(token["access_token"], "grant")).issuance)  # type: ignore[union-attr]
    assert [revoked[_reference(credential).idx] for credential in batches] == [True] * MAX_REPEATS + [False]
    assert set(issuance) == {"residency"} and issuance["residency"]["repeats"] == MAX_REPEATS
    assert set(issuance["residency"]) == {"entries", "repeats", "notification_id", "accepted"}  # ids, no claims


def test_notification_errors_and_accepting_every_type_deletes_the_grant_and_the_offer(issuer: Any) -> None:
    created = issuer.offer()
    code = parse_offer(created.offer_uri).code
    token = _token(issuer, code, created.pin).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    residency = _credential(issuer, token["access_token"], token["c_nonce"]).json()
    identity = _credential(issuer, token["access_token"], residency["c_nonce"], "identity").json()

    def notify(body: Any, headers: dict[str, str] = bearer) -> httpx.Response:
        response: httpx.Response = issuer.client.post("/notification", headers=headers, json=body)
        return response

    accepted = {"notification_id": residency["notification_id"], "event": "credential_accepted"}
    assert notify(accepted, {}).json()["reason"] == "invalid_token"
    assert notify({**accepted, "notification_id": "nope"}).json()["error"] == "invalid_notification_id"
    assert notify({**accepted, "event": "credential_kept"}).json()["error"] == "invalid_notification_request"
    assert notify({"event": "credential_accepted"}).json()["error"] == "invalid_notification_request"
    assert notify({**accepted, "event": "credential_failure", "event_description": "disk full"}).status_code == 204
    assert notify(accepted).status_code == 204
    assert _offer_row(issuer, code) is not None  # identity is not accepted yet: the wallet may still resume
    assert notify({**accepted, "notification_id": identity["notification_id"]}).status_code == 204
    assert _offer_row(issuer, code) is None
    with sessions(issuer.engine).begin() as session:
        assert session.scalar(select(func.count()).select_from(Grant)) == 0
    assert _token(issuer, code, created.pin).json()["reason"] == "offer_unknown"
    metadata = issuer.client.get("/.well-known/openid-credential-issuer").json()
    assert metadata["notification_endpoint"] == f"{ISSUER_URL}/notification"


@pytest.mark.parametrize("skew", [-600, 600])
def test_a_key_proof_from_a_phone_whose_clock_is_ten_minutes_off_is_accepted(issuer: Any, skew: int) -> None:
    created = issuer.offer()
    token = _token(issuer, parse_offer(created.offer_uri).code, created.pin).json()
    answer = _credential(issuer, token["access_token"], token["c_nonce"], iat=int(time.time()) + skew)
    assert answer.status_code == 200, answer.text


def test_a_key_proof_dated_days_away_is_refused_with_a_word_about_the_phones_clock(issuer: Any) -> None:
    created = issuer.offer()
    token = _token(issuer, parse_offer(created.offer_uri).code, created.pin).json()
    answer = _credential(issuer, token["access_token"], token["c_nonce"], iat=int(time.time()) - 3 * 86_400).json()
    assert answer["reason"] == "proof_clock" and "clock" in answer["error_description"]
    assert "phone" in answer["error_description"]


def test_the_served_app_purges_a_closed_window_with_no_request_coming(tmp_path: Path) -> None:
    with running_issuer(tmp_path, resume_window=2) as issuer:
        created = issuer.offer()
        assert _token(issuer, parse_offer(created.offer_uri).code, created.pin).status_code == 200
        assert _wait_until_purged(issuer.engine, deadline=time.monotonic() + 1) == 2  # the window is open
        assert _wait_until_purged(issuer.engine, deadline=time.monotonic() + 30) == 0  # no request since


# 3. The wallet's side without a network


def test_wallet_list_shows_an_unfinished_receive_and_a_late_one_is_dropped(tmp_path: Path) -> None:
    path, env = tmp_path / "w.cidw", {"CITYID_WALLET_PASSPHRASE": PASS}
    with running_issuer(tmp_path / "issuer") as issuer:
        created = issuer.offer()
    progress = Progress.start(created.offer_uri, 3, now=int(time.time()) - 60)
    progress.access_token, progress.expires_at = "a-token", int(time.time()) - 1
    save(path, PASS, Wallet(pending=[progress.to_json()]))
    listed = RUNNER.invoke(app, ["wallet", "list", "--json", "--wallet", str(path)], env=env)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["pending"] == [
        {"issuer": ISSUER_URL, "started_at": progress.started_at, "received": [], "expires_at": progress.expires_at}
    ]
    assert "a-token" not in listed.stdout
    late = RUNNER.invoke(app, ["wallet", "receive", "--wallet", str(path)], env=env)
    assert late.exit_code == 1 and "offer_expired" in late.stderr and "time is up" in " ".join(late.stderr.split())
    assert load(path, PASS).pending == []
    nothing = RUNNER.invoke(app, ["wallet", "receive", "--wallet", str(path)], env=env)
    assert nothing.exit_code == 2 and "usage_error" in nothing.stderr

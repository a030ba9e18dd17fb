"""The issuer under load and under database faults, through real ``cityid issuer serve`` processes.

Whatever goes wrong, a wallet is told ``503`` with a reason and ``Retry-After`` (never a 500),
nothing it was not given is used up, and trying again succeeds once the fault is gone: PostgreSQL
connections terminated while wallets redeem, a SQLite disk that fills up, a hundred wallets at
once, a database that is down while desks fetch status lists and the trust bundle.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from issuer_support import (
    POSTGRES_ADMIN,
    free_port,
    init_database,
    issuer_process,
    make_offers,
    postgres_database,
    running_issuer,
)
from sqlalchemy import create_engine, text
from starlette.types import Receive, Scope, Send

from credential import SigningKey, sign_jwt
from edges.sealing import PIN_SCRYPT_N, check_password, hash_password, hash_pin
from issuer.admission import Admission
from issuer.service import OfferCreated
from issuer.settings import IssuerSettings
from wallet.receive import PROOF_TYP, Received, parse_offer, receive
from wallet.store import WalletError

RETRYABLE = {"service_unavailable", "overloaded"}
TERMINATE = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"


@dataclass
class Refusals:
    """Every refusal the wallets were sent, as (path, status, reason, Retry-After)."""

    seen: list[tuple[str, int, str | None, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        response.read()
        try:
            reason = response.json().get("reason")
        except ValueError:
            reason = None
        with self.lock:
            self.seen.append(
                (response.request.url.path, response.status_code, reason, response.headers.get("retry-after"))
            )

    def client(self) -> httpx.Client:
        return httpx.Client(timeout=60, event_hooks={"response": [self.hook]})

    def assert_all_retryable(self) -> None:
        wrong = [seen for seen in self.seen if seen[1] != 503 or seen[2] not in RETRYABLE or not seen[3]]
        assert not wrong, f"refusals that are not a 503 to retry: {wrong[:5]}"


def _local(settings: IssuerSettings, port: int) -> IssuerSettings:
    """The settings with the issuer at its local address, so a plain ``httpx.Client`` reaches it."""
    return settings.model_copy(update={"issuer_url": f"http://127.0.0.1:{port}"})


def _wallet(offer: OfferCreated, refusals: Refusals) -> list[Received] | WalletError:
    with refusals.client() as client:
        try:
            return receive(parse_offer(offer.offer_uri), offer.pin, count=2, client=client)
        except WalletError as exc:
            return exc


def _assert_full_batches(results: list[list[Received] | WalletError]) -> None:
    failed = [result for result in results if isinstance(result, WalletError)]
    assert not failed, f"{len(failed)} wallets gave up, e.g. {failed[0].reason}: {failed[0]}"
    for result in results:
        assert isinstance(result, list)
        assert sorted(item.configuration for item in result) == ["identity"] * 2 + ["residency"] * 2


def _assert_clean_log(log: Path) -> None:
    text_ = log.read_text()
    assert "internal_error" not in text_ and "Traceback" not in text_ and "R1" not in text_


def _token(port: int, offer: OfferCreated) -> httpx.Response:
    code = parse_offer(offer.offer_uri).code
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code", "pre-authorized_code": code,
            "tx_code": offer.pin}  # fmt: skip
    return httpx.post(f"http://127.0.0.1:{port}/token", data=form, timeout=30)


def _assert_503(response: httpx.Response, reason: str = "service_unavailable") -> None:
    assert response.status_code == 503, response.text
    assert response.json()["reason"] == reason and response.headers["retry-after"] == "2"


# 1. PostgreSQL connections terminated while wallets redeem


def test_postgresql_connections_terminated_under_load_give_503s_and_retries_succeed(tmp_path: Path) -> None:
    with postgres_database() as url:
        port = free_port()
        settings = _local(init_database(tmp_path, url), port)
        offers = make_offers(settings, 24)
        refusals, first_answer, terminated = Refusals(), threading.Event(), [0]

        def terminate_again_and_again() -> None:
            admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
            first_answer.wait(60)
            try:
                with admin.connect() as connection:
                    for _ in range(10):
                        terminated[0] += len(connection.execute(text(TERMINATE), {"name": url.rsplit("/", 1)[1]}).all())
                        time.sleep(0.1)
            finally:
                admin.dispose()

        def wallet(offer: OfferCreated) -> list[Received] | WalletError:
            first_answer.set()
            return _wallet(offer, refusals)

        with issuer_process(tmp_path, url, port, tmp_path / "issuer.log", issuer_url=settings.issuer_url):
            fault = threading.Thread(target=terminate_again_and_again)
            fault.start()
            with ThreadPoolExecutor(max_workers=len(offers)) as pool:
                results = list(pool.map(wallet, offers))
            fault.join()
            # The fault is over: a wallet that gave up during it tries once more.
            results = [_wallet(offers[n], refusals) if isinstance(r, WalletError) else r for n, r in enumerate(results)]
        assert terminated[0] > 0, "no connection was terminated: the fault never happened"
        refusals.assert_all_retryable()
        _assert_full_batches(results)
        _assert_clean_log(tmp_path / "issuer.log")


# 2. A SQLite disk that fills up


@contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``where``: a disk that can really fill up (needs root)."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): the disk-full test is skipped")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write to ``disk`` until not one more byte fits."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as output:
        for chunk in (b"\0" * 65536, b"\0" * 512, b"\0"):
            try:
                while True:
                    output.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def offer_rows(database: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(database) as connection:
        return sorted((row[0], int(row[1])) for row in connection.execute("SELECT id, pin_failures FROM offer"))


def _proofs(issuer_url: str, nonce: str, count: int) -> list[str]:
    keys = [SigningKey.generate("ES256") for _ in range(count)]
    now = int(time.time())
    return [sign_jwt({"alg": "ES256", "typ": PROOF_TYP, "jwk": k.public_jwk()},
                     {"aud": issuer_url, "iat": now, "nonce": nonce}, k) for k in keys]  # fmt: skip


def test_a_full_sqlite_disk_gives_503s_uses_up_no_offer_and_retries_succeed(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "24m") as disk:
        data, port = disk / "issuer", free_port()
        settings = _local(init_database(data, None), port)
        offers = make_offers(settings, 4)
        log = tmp_path / "issuer.log"
        with issuer_process(data, None, port, log, issuer_url=settings.issuer_url):
            granted = _token(port, offers[0]).json()  # redeemed before the disk fills: /credential is next
            proofs = _proofs(settings.issuer_url, granted["c_nonce"], 2)

            def ask_for_credentials() -> httpx.Response:
                body = {"credential_configuration_id": "residency", "proofs": {"jwt": proofs}}
                bearer = {"Authorization": f"Bearer {granted['access_token']}"}
                return httpx.post(f"http://127.0.0.1:{port}/credential", headers=bearer, json=body, timeout=30)

            before = offer_rows(data / "issuer.db")
            filler = fill(disk)
            try:
                for offer in offers[1:]:
                    _assert_503(_token(port, offer))
                _assert_503(ask_for_credentials())
                assert offer_rows(data / "issuer.db") == before  # no offer used up, no try counted
            finally:
                filler.unlink()
            issued = ask_for_credentials()  # the same request, now that there is space
            assert issued.status_code == 200 and len(issued.json()["credentials"]) == 2
            refusals = Refusals()
            _assert_full_batches([_wallet(offer, refusals) for offer in offers[1:]])
            refusals.assert_all_retryable()
        _assert_clean_log(log)
        assert "kind=disk_full" in log.read_text()


# 3. A hundred wallets at once


def test_a_hundred_wallets_at_once_all_get_their_full_batch(tmp_path: Path) -> None:
    port = free_port()
    settings = _local(init_database(tmp_path, None), port)
    offers = make_offers(settings, 100)
    refusals = Refusals()
    with (
        issuer_process(tmp_path, None, port, tmp_path / "issuer.log", issuer_url=settings.issuer_url),
        ThreadPoolExecutor(max_workers=len(offers)) as pool,
    ):
        results = list(pool.map(lambda offer: _wallet(offer, refusals), offers))
    refusals.assert_all_retryable()
    _assert_full_batches(results)
    _assert_clean_log(tmp_path / "issuer.log")


# 4. The database down while desks fetch what they cache


def test_with_the_database_down_cached_status_lists_and_trust_are_served_and_the_rest_is_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYID_STATUS_LIST_TTL", "2")  # remade after 1 s: the outage finds it due
    with postgres_database() as url:
        port, name = free_port(), url.rsplit("/", 1)[1]
        settings = _local(init_database(tmp_path, url), port)
        offers = make_offers(settings, 2)
        base = f"http://127.0.0.1:{port}"
        with issuer_process(tmp_path, url, port, tmp_path / "issuer.log", issuer_url=settings.issuer_url):
            _assert_full_batches([_wallet(offers[0], Refusals())])
            status, trust = httpx.get(f"{base}/status/1"), httpx.get(f"{base}/trust")
            assert status.status_code == trust.status_code == 200
            time.sleep(1.1)  # past ttl / 2: a request now would remake the list from the database
            admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as connection:
                    connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                    connection.execute(text(TERMINATE), {"name": name})
                    try:
                        stale_status, stale_trust = httpx.get(f"{base}/status/1"), httpx.get(f"{base}/trust")
                        assert stale_status.status_code == 200 and stale_status.content == status.content
                        assert stale_trust.status_code == 200 and stale_trust.content == trust.content
                        _assert_503(httpx.get(f"{base}/status/2"))  # never made: nothing to serve
                        _assert_503(_token(port, offers[1]))
                    finally:
                        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            finally:
                admin.dispose()
            assert _token(port, offers[1]).status_code == 200
            assert httpx.get(f"{base}/trust").content != trust.content  # signed anew once it is back
        log = (tmp_path / "issuer.log").read_text()
        assert "stale_served what=status_list" in log and "stale_served what=trust" in log
        _assert_clean_log(tmp_path / "issuer.log")


# 5. Admission: a few at a time, a short queue, 503 at once beyond it


def test_admission_admits_a_few_queues_a_few_and_refuses_the_rest_at_once() -> None:
    release, started = asyncio.Event(), []

    async def slow_app(scope: Scope, receive_: Receive, send: Send) -> None:
        started.append(scope["path"])
        if scope["path"] == "/token":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    async def scenario() -> list[httpx.Response]:
        app = Admission(slow_app, limit=1, queue=1, retry_after=2)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://issuer") as client:
            running = asyncio.create_task(client.post("/token"))
            queued = asyncio.create_task(client.post("/token"))
            while len(started) < 1:
                await asyncio.sleep(0)
            await asyncio.sleep(0.01)  # the second request reaches the queue
            refused = await client.post("/credential")  # answered while both others still wait
            other = await client.get("/status/1")  # not issuance: never held up
            release.set()
            return [await running, await queued, refused, other]

    running, queued, refused, other = asyncio.run(scenario())
    assert running.status_code == queued.status_code == other.status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
    assert refused.json()["reason"] == "overloaded"
    assert refused.json()["error_description"] == "the city's service is busy, try again"
    assert started.count("/credential") == 0


def test_admission_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="limit"):
        Admission(lambda *_: None, limit=0, queue=4, retry_after=2)  # type: ignore[arg-type]


# 6. The PIN's hash cost is chosen, and old hashes still verify


def test_pins_are_hashed_cheaply_and_passwords_and_old_pin_hashes_still_verify() -> None:
    pin = hash_pin("123456")
    assert pin.split("$")[1] == str(PIN_SCRYPT_N) and check_password("123456", pin)
    assert not check_password("123457", pin)
    password = hash_password("a-long-clerk-password")
    assert int(password.split("$")[1]) > PIN_SCRYPT_N and check_password("a-long-clerk-password", password)
    old = hash_password("654321")  # how PINs were hashed before: still checked, at their own cost
    assert check_password("654321", old) and not check_password("654320", old)


# 7. A wait for a database connection is short, and a 503


def test_with_every_database_connection_taken_a_request_is_503_after_a_short_wait(tmp_path: Path) -> None:
    with running_issuer(tmp_path) as issuer:
        created = issuer.offer()
        pool = issuer.engine.pool
        held = [issuer.engine.connect() for _ in range(pool.size() + pool._max_overflow)]  # type: ignore[attr-defined]
        try:
            form = {"grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
                    "pre-authorized_code": parse_offer(created.offer_uri).code, "tx_code": created.pin}  # fmt: skip
            refused = issuer.client.post("/token", data=form)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
            assert refused.json()["reason"] == "service_unavailable"
        finally:
            for connection in held:
                connection.close()
        assert len(issuer.receive(created, count=1)) == 2  # nothing was used up: the retry gets it all

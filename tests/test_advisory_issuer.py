"""Security regressions of the issuer, each named after what it guards against.

The concurrency ones run the real app under uvicorn in this process, on a real SQLite file
and on PostgreSQL (skipped, with the reason, when 127.0.0.1:5432 does not answer), with real
threads sending real HTTP requests at once. Where a test counts password or PIN checks, it
wraps the real ``check_password``: the real scrypt still runs.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import uvicorn
from browser import chromium
from fastapi.testclient import TestClient
from issuer_support import (
    ISSUER_URL,
    Issuer,
    enrolled,
    free_port,
    init_database,
    initialise,
    issuer_process,
    postgres_database,
    running_issuer,
    settings_for,
)
from sqlalchemy import Engine, select, text

import issuer.desk
import issuer.service
from credential import SigningKey, jwk_thumbprint, sign_jwt
from edges.sealing import check_password, hash_password
from issuer.app import create_app
from issuer.db import make_engine, sessions
from issuer.desk import COOKIE, LOGIN_ATTEMPTS, LOGIN_COOKIE
from issuer.models import Clerk, Grant
from issuer.service import create_offer
from issuer.settings import IssuerSettings
from wallet.receive import PRE_AUTHORIZED, parse_offer

PASSWORD = "clerk-password-1"
BACKENDS = ["sqlite", "postgresql"]


class CountedChecks:
    """The real ``check_password``, recording the stored hash and the result of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self._lock = threading.Lock()

    def __call__(self, password: str, stored: str) -> bool:
        result = check_password(password, stored)
        with self._lock:
            self.calls.append((stored, result))
        return result

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


def _count_checks(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> CountedChecks:
    counted = CountedChecks()
    monkeypatch.setattr(module, "check_password", counted)
    return counted


@contextmanager
def _database(kind: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield None
    else:
        with postgres_database() as url:
            yield url


@dataclass
class Served:
    url: str
    settings: IssuerSettings
    engine: Engine


@contextmanager
def _serving(data: Path, database_url: str | None) -> Iterator[Served]:
    """The real app under uvicorn on a local port, in a thread of this process."""
    settings = settings_for(data, database_url)
    engine = initialise(settings)
    port = free_port()
    config = uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="off", ws="none")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the issuer did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", settings, engine)
    finally:
        server.should_exit = True
        thread.join(20)
        engine.dispose()


def _add_clerk(engine: Engine, name: str = "alice") -> None:
    with sessions(engine).begin() as session:
        session.add(Clerk(username=name, password_hash=hash_password(PASSWORD), created_at=int(time.time())))


def _burst(count: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``send(0)`` ... ``send(count - 1)`` from ``count`` threads released together."""
    barrier = threading.Barrier(count)

    def released(number: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return send(number)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(released, range(count)))


def _sign_in_form(client: httpx.Client | TestClient) -> tuple[dict[str, str], str]:
    """The sign-in page's cookie (as a header, since it is ``Secure`` and uvicorn here is plain
    HTTP) and its form token."""
    page = client.get("/desk")
    cookie = re.search(rf"{LOGIN_COOKIE}=([^;]+)", page.headers.get("set-cookie", ""))
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    return {"Cookie": f"{LOGIN_COOKIE}={cookie.group(1)}"} if cookie else {}, token.group(1) if token else ""


# 1. Clerk sign-in lockout


@pytest.mark.parametrize("kind", BACKENDS)
def test_thirty_parallel_wrong_passwords_lock_the_clerk_out(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt is counted in one atomic update before its password is checked: a burst of
    wrong passwords gets at most LOGIN_ATTEMPTS checks, and then even the right one waits."""
    checks = _count_checks(monkeypatch, issuer.desk)
    with _database(kind) as url, _serving(tmp_path, url) as served, httpx.Client(base_url=served.url) as client:
        _add_clerk(served.engine)
        cookie, csrf = _sign_in_form(client)

        def guess(number: int) -> httpx.Response:
            form = {"username": "alice", "password": f"guess-{number}", "csrf": csrf}
            return client.post("/desk/login", data=form, headers=cookie, timeout=60)

        statuses = [response.status_code for response in _burst(30, guess)]
        wrong_checked = len(checks.calls)
        right = client.post("/desk/login", data={"username": "alice", "password": PASSWORD, "csrf": csrf},
                            headers=cookie, timeout=60)  # fmt: skip
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) == wrong_checked <= LOGIN_ATTEMPTS, statuses
    assert right.status_code == 429 and "locked" in right.text
    assert f"{COOKIE}=" not in right.headers.get("set-cookie", "")
    assert len(checks.calls) == wrong_checked  # the locked account's password was not even checked


# 2. The PIN limit


def _redeem_together(client: httpx.Client, code: str, pins: list[str], *, last_delay: float) -> list[httpx.Response]:
    """One /token request per PIN, all at once; the last one ``last_delay`` seconds later."""

    def redeem(number: int) -> httpx.Response:
        if number == len(pins) - 1:
            time.sleep(last_delay)
        form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": code, "tx_code": pins[number]}
        return client.post("/token", data=form, timeout=60)

    return _burst(len(pins), redeem)


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_burst_of_wrong_pins_gets_no_more_than_five_pin_checks(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 wrong PINs and the right one at once, a few rounds: each attempt is reserved (and
    committed) before the PIN is compared, so at most ``pin_attempts`` comparisons happen per
    offer; the right PIN gets a token only if it was one of them; the offer is used up after."""
    checks = _count_checks(monkeypatch, issuer.service)
    with _database(kind) as url, _serving(tmp_path, url) as served, httpx.Client(base_url=served.url) as client:
        limit = served.settings.pin_attempts
        _add_clerk(served.engine)
        for right_delay in (0.0, 0.005, 0.02):
            with sessions(served.engine).begin() as session:
                clerk = session.scalars(select(Clerk)).one()
                created = create_offer(session, served.settings, clerk, enrolled(), now=int(time.time()))
            code = parse_offer(created.offer_uri).code
            wrong = [f"{(int(created.pin) + n) % 10**6:06d}" for n in range(1, 31)]
            checks.reset()
            responses = _redeem_together(client, code, [*wrong, created.pin], last_delay=right_delay)
            assert {response.status_code for response in responses} <= {200, 400}, [r.text for r in responses]
            reasons = Counter(response.json()["reason"] for response in responses[:30])
            assert set(reasons) <= {"wrong_pin", "offer_locked", "offer_unknown"}, reasons
            tokens = sum(response.status_code == 200 for response in responses)
            wrong_checked = sum(not matched for _, matched in checks.calls)
            assert len(checks.calls) <= limit, (len(checks.calls), reasons)
            assert reasons["wrong_pin"] + tokens <= limit and reasons["wrong_pin"] <= limit - 1, reasons
            assert tokens == (responses[30].status_code == 200)  # only the right PIN, at most once
            assert not (tokens and wrong_checked >= limit)
            form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": code, "tx_code": created.pin}
            after = client.post("/token", data=form, timeout=60)
            locked_after = reasons["offer_locked"] > 0  # wrong PINs used up the tries after the redemption
            if tokens and not locked_after:  # redeemed: the right PIN resumes it, with the same access token
                assert after.json()["access_token"] == responses[30].json()["access_token"]
            elif tokens:  # the offer is closed to PINs, while the token already given keeps working
                assert after.status_code == 400 and after.json()["reason"] in {"offer_unknown", "offer_locked"}
            else:  # cancelled
                assert after.status_code == 400 and after.json()["reason"] == "offer_unknown"


# 3. Login CSRF


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Issuer]:
    with running_issuer(tmp_path) as running:
        running.clerk("alice")
        yield running


def _failed_logins(desk: Issuer) -> int:
    with sessions(desk.engine).begin() as session:
        return session.scalars(select(Clerk.failed_logins).where(Clerk.username == "alice")).one()


def test_a_sign_in_form_posted_from_another_site_signs_nobody_in(desk: Issuer) -> None:
    """Login CSRF: another site's page posting its own user name and password would sign the
    clerk's browser in as someone else. Without the sign-in cookie's token, or from another
    Origin, the form is refused before any password is checked."""
    client = desk.client
    right = {"username": "alice", "password": PASSWORD}
    forged = client.post("/desk/login", data=right, follow_redirects=False)
    assert forged.status_code == 403 and "sign in again" in forged.text
    assert f"{COOKIE}=" not in forged.headers.get("set-cookie", "")
    _, csrf = _sign_in_form(client)
    assert client.post("/desk/login", data={**right, "csrf": "0" * 64}, follow_redirects=False).status_code == 403
    for origin in ("https://evil.example", "null", "http://id.riverton.example", "https://id.riverton.example.evil"):
        refused = client.post("/desk/login", data={**right, "csrf": csrf}, headers={"Origin": origin},
                              follow_redirects=False)  # fmt: skip
        assert refused.status_code == 403 and "another site" in refused.text, origin
        assert f"{COOKIE}=" not in refused.headers.get("set-cookie", "")
    assert _failed_logins(desk) == 0  # refused before the attempt was even counted
    assert "Sign in" in client.get("/desk").text
    signed = client.post("/desk/login", data={**right, "csrf": csrf}, headers={"Origin": ISSUER_URL},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303 and f"{COOKIE}=" in signed.headers["set-cookie"]


def test_another_sites_page_cannot_sign_the_clerks_browser_in(tmp_path: Path) -> None:
    """The attack in Chromium: a page on another site auto-submits a sign-in form to the desk,
    even with a form token that matches the clerk's sign-in cookie (as if it had leaked). The
    browser's own Origin header gives it away."""
    settings = init_database(tmp_path, None)
    engine = make_engine(settings.url)
    _add_clerk(engine)
    engine.dispose()
    port = free_port()
    with issuer_process(tmp_path, None, port, tmp_path / "issuer.log"), chromium() as browser:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/desk")
        csrf = page.get_attribute('input[name="csrf"]', "value")
        attack = (
            f'<form method="post" action="http://127.0.0.1:{port}/desk/login"><input name="username" value="alice">'
            f'<input name="password" value="{PASSWORD}"><input name="csrf" value="{csrf}"></form>'
            "<script>document.forms[0].submit()</script>"
        )
        page.route("http://attacker.example/", lambda route: route.fulfill(body=attack, content_type="text/html"))
        with page.expect_response(f"http://127.0.0.1:{port}/desk/login") as posted:
            page.goto("http://attacker.example/")
        assert posted.value.status == 403
        page.goto(f"http://127.0.0.1:{port}/desk")
        assert page.locator("h1").inner_text() == "Sign in"  # not signed in as anybody


def test_the_desk_accepts_its_own_origin_under_another_host_name(desk: Issuer) -> None:
    """A clerk on an internal host name: the Origin is the one the request was sent to."""
    client = desk.client
    _, csrf = _sign_in_form(client)
    form = {"username": "alice", "password": PASSWORD, "csrf": csrf}
    headers = {"Host": "desk.riverton.internal", "Origin": "https://desk.riverton.internal"}
    assert client.post("/desk/login", data=form, headers=headers, follow_redirects=False).status_code == 303


def test_every_desk_form_refuses_another_origin(desk: Issuer) -> None:
    client = desk.client
    _, csrf = _sign_in_form(client)
    client.post("/desk/login", data={"username": "alice", "password": PASSWORD, "csrf": csrf})
    home = client.get("/desk")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', home.text)
    assert token is not None and "Enrol a resident" in home.text
    for path, form in (("/desk/revoke", {"code": "AAAA-BBBB"}), ("/desk/logout", {})):
        refused = client.post(path, data={**form, "csrf": token.group(1)}, headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403 and "another site" in refused.text
    assert "Enrol a resident" in client.get("/desk").text  # still signed in: the logout was refused


# 4. User names by response time


def test_an_unknown_user_name_costs_the_same_password_check_as_a_known_one(
    desk: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One scrypt check of the same cost either way, so the response time does not say whether
    a user name exists (asserted structurally: a timed test would be flaky on a busy host)."""
    checks = _count_checks(monkeypatch, issuer.desk)
    client = desk.client
    _, csrf = _sign_in_form(client)
    with sessions(desk.engine).begin() as session:
        known_hash = session.scalars(select(Clerk.password_hash).where(Clerk.username == "alice")).one()

    def cost(stored: str) -> tuple[str, ...]:
        scheme, n, r, p, salt, digest = stored.split("$")
        return scheme, n, r, p, str(len(salt)), str(len(digest))

    for username in ("alice", "nobody-here", "alice", "nobody-here"):  # fewer than LOGIN_ATTEMPTS for alice
        checks.reset()
        response = client.post("/desk/login", data={"username": username, "password": "wrong", "csrf": csrf})
        assert response.status_code == 401 and "Wrong user name or password." in response.text
        assert len(checks.calls) == 1 and cost(checks.calls[0][0]) == cost(known_hash), username


# 5. API docs from a CDN on the clerk pages' origin


def test_no_api_docs_page_loads_scripts_onto_the_desk_origin(desk: Issuer) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert desk.client.get(path).status_code == 404, path
    document = desk.client.get("/openapi.json")
    assert document.status_code == 200 and "/token" in document.json()["paths"]


# 6. Security headers


EXPECTED = {"x-content-type-options": "nosniff", "x-frame-options": "DENY"}


def _assert_headers(response: httpx.Response, *, hsts: bool, what: str) -> None:
    """The headers every response needs. The clerk's HTML pages send a referrer to their own
    origin only (``same-origin``: under ``no-referrer`` a browser's ``Origin`` would be ``null``
    on the desk's own forms, which the Origin check refuses); everything else sends none."""
    html = response.headers.get("content-type", "").startswith("text/html")
    assert response.headers.get("referrer-policy") == ("same-origin" if html else "no-referrer"), what
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (what, name, response.headers)
    assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", ""), what
    assert ("strict-transport-security" in response.headers) is hsts, what
    if hsts:
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_every_response_carries_the_security_headers_and_hsts_over_https(desk: Issuer) -> None:
    client = desk.client
    responses = {
        "desk page": client.get("/desk"),
        "desk 404": client.get("/desk/nothing-here"),
        "desk refusal": client.post("/desk/login", data={"username": "a", "password": "b"}),
        "metadata": client.get("/.well-known/openid-credential-issuer"),
        "status list": client.get("/status/1"),
        "openapi": client.get("/openapi.json"),
        "404": client.get("/no-such-page"),
        "405": client.get("/token"),
        "400 (validation)": client.post("/token", data={}),
        "401": client.post("/credential", json={"credential_configuration_id": "residency", "proofs": {"jwt": ["x"]}}),
        "413": client.post("/credential", content=b"x" * 300_000, headers={"content-type": "application/json"}),
    }
    expected_status = {"desk 404": 404, "404": 404, "405": 405, "400 (validation)": 400, "401": 401, "413": 413}
    for what, response in responses.items():
        assert response.status_code == expected_status.get(what, response.status_code), what
        _assert_headers(response, hsts=True, what=what)
    assert "style-src 'unsafe-inline'" in responses["desk page"].headers["content-security-policy"]  # its own CSP
    with desk.engine.begin() as connection:  # a real failure: the status tables are gone
        connection.execute(text("DROP TABLE status_entry"))
        connection.execute(text("DROP TABLE status_list"))
    desk.client.app.state.runtime.status_cache.invalidate()  # type: ignore[attr-defined]
    broken = client.get("/status/1")
    assert broken.status_code == 500 and broken.json()["reason"] == "internal_error"
    _assert_headers(broken, hsts=True, what="500")


def test_no_hsts_when_the_issuer_is_served_over_plain_http(tmp_path: Path) -> None:
    settings = settings_for(tmp_path).model_copy(update={"issuer_url": "http://127.0.0.1:8400"})
    engine = initialise(settings)
    with TestClient(create_app(settings, engine=engine), base_url="http://127.0.0.1:8400") as client:
        for path in ("/desk", "/healthz", "/nothing"):
            _assert_headers(client.get(path), hsts=False, what=path)  # type: ignore[arg-type]
    engine.dispose()


# 7. One device key for both credential types


def _token(client: TestClient, created) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": parse_offer(created.offer_uri).code,
            "tx_code": created.pin}  # fmt: skip
    body = client.post("/token", data=form).json()
    return body["access_token"], body["c_nonce"]


def _proof(key: SigningKey, nonce: str) -> str:
    header = {"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": key.public_jwk()}
    return sign_jwt(header, {"aud": ISSUER_URL, "iat": int(time.time()), "nonce": nonce}, key)


def test_one_device_key_cannot_hold_both_credential_types_of_a_grant(desk: Issuer) -> None:
    """The residency and identity credentials of one resident must not share a device key:
    the key would link a proof of residency to the resident's name."""
    client = desk.client
    token, nonce = _token(client, desk.offer())
    bearer = {"Authorization": f"Bearer {token}"}
    key = SigningKey.generate("ES256")

    def ask(configuration: str, keys: list[SigningKey], nonce: str) -> httpx.Response:
        request = {"credential_configuration_id": configuration, "proofs": {"jwt": [_proof(k, nonce) for k in keys]}}
        return client.post("/credential", headers=bearer, json=request)

    first = ask("residency", [SigningKey.generate("ES256"), key], nonce)
    assert first.status_code == 200
    nonce = first.json()["c_nonce"]
    reused = ask("identity", [SigningKey.generate("ES256"), key], nonce)
    assert reused.status_code == 400
    assert reused.json()["reason"] == "key_reused" and reused.json()["error"] == "invalid_proof"
    with sessions(desk.engine).begin() as session:  # what the grant remembers cannot be matched to a credential
        remembered = session.scalars(select(Grant.device_keys)).one()
    assert len(remembered.split()) == 2 and jwk_thumbprint(key.public_jwk()) not in remembered
    fresh = ask("identity", [SigningKey.generate("ES256")], nonce)  # the refusal used nothing up
    assert fresh.status_code == 200 and len(fresh.json()["credentials"]) == 1

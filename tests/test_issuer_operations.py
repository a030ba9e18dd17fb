"""Running the issuer: refusing to start when it could not serve, readiness, 503s, logs, dates.

Real processes for ``cityid issuer serve``, real SQLite files, and database faults made by the
database itself (``PRAGMA query_only``, a corrupt file) rather than by patching the code.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from issuer_support import (
    ISSUER_URL,
    PASSPHRASE,
    POSTGRES_ADMIN,
    enrolled,
    free_port,
    init_database,
    issuer_process,
    postgres_database,
    running_issuer,
)
from sqlalchemy import Engine, create_engine, event, select, text, update
from typer.testing import CliRunner

from cityid.cli import app
from credential import SigningKey, day_start, sign_jwt
from issuer.db import make_engine, sessions
from issuer.keys import active_key
from issuer.models import Clerk, IssuerKey, Offer
from issuer.service import backdated, create_offer, issue_batch, redeem_offer
from wallet.receive import PROOF_TYP, parse_offer

RUNNER = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYID_ISSUER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CITYID_CLERK_PASSWORD", "a-long-clerk-password")
    monkeypatch.delenv("CITYID_ISSUER_URL", raising=False)


def run(*arguments: str) -> tuple[int, str]:
    result = RUNNER.invoke(app, list(arguments))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def serve(data: Path, port: int, *extra: str, passphrase: str = PASSPHRASE) -> subprocess.CompletedProcess[str]:
    """``cityid issuer serve`` as a real process that is expected to refuse and exit."""
    command = [sys.executable, "-m", "cityid", "issuer", "serve", "--port", str(port), "--data", str(data), *extra]
    env = {**os.environ, "CITYID_ISSUER_PASSPHRASE": passphrase, "COLUMNS": "200"}
    env.pop("CITYID_ISSUER_URL", None)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def port_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def offer_rows(database: Path) -> list[tuple[str, int]]:
    """The offers as SQLite itself has them, read apart from the issuer's engine."""
    with sqlite3.connect(database) as connection:
        return [(row[0], int(row[1])) for row in connection.execute("SELECT id, pin_failures FROM offer")]


# 1. a wrong passphrase stops serve and offer before they do anything


def test_serve_with_a_wrong_passphrase_refuses_to_start(tmp_path: Path) -> None:
    init_database(tmp_path, None)
    port = free_port()
    result = serve(tmp_path, port, "--issuer-url", ISSUER_URL, passphrase="not the right passphrase")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "wrong_passphrase" in output and "cityid issuer at" not in output and "Uvicorn running" not in output
    assert not port_answers(port)


def test_offer_and_rotate_key_with_a_wrong_passphrase_refuse_and_change_nothing(
    tmp_path: Path, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "issuer"
    assert run("issuer", "init", "--data", str(data))[0] == 0
    assert run("issuer", "add-clerk", "alice", "--data", str(data))[0] == 0
    (tmp_path / "claims.json").write_text(json.dumps(enrolled()))
    monkeypatch.setenv("CITYID_ISSUER_PASSPHRASE", "another long passphrase")
    code, output = run("issuer", "offer", "--claims", str(tmp_path / "claims.json"), "--clerk", "alice",
                       "--data", str(data), "--json")  # fmt: skip
    assert code != 0 and "wrong_passphrase" in output and "PIN" not in output
    assert offer_rows(data / "issuer.db") == []
    code, output = run("issuer", "rotate-key", "--data", str(data))
    assert code != 0 and "wrong_passphrase" in output
    with sqlite3.connect(data / "issuer.db") as connection:
        assert connection.execute("SELECT count(*) FROM issuer_key").fetchone()[0] == 1  # no key under it


# 2. a port in use is said in one line, and nothing claims the service is up


def test_serve_on_a_port_in_use_says_so_and_exits(tmp_path: Path) -> None:
    init_database(tmp_path, None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        result = serve(tmp_path, port, "--issuer-url", ISSUER_URL)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert "port_in_use" in output and str(port) in output and "--port" in output
    assert "cityid issuer at" not in output and "Uvicorn running" not in output and "Traceback" not in output
    assert len(output.splitlines()) <= 3  # one message (wrapped by the console at most)


# 3. init does not start over on an empty or broken database; serve does not serve one


def test_init_refuses_an_empty_database_file_unless_told_new(tmp_path: Path, env: None) -> None:
    data = tmp_path / "issuer"
    data.mkdir()
    (data / "issuer.db").write_bytes(b"")
    code, output = run("issuer", "init", "--data", str(data))
    assert code != 0 and "database_unusable" in output and "--new" in output
    assert (data / "issuer.db").stat().st_size == 0  # left as it was
    code, output = run("issuer", "init", "--data", str(data), "--new")
    assert code == 0, output
    assert [path.name.startswith("issuer.db.unusable-") for path in data.glob("issuer.db.unusable-*")] == [True]
    assert run("issuer", "init", "--data", str(data))[0] == 0  # now an issuer: init only migrates


def test_init_refuses_when_the_database_of_an_initialised_directory_is_gone(tmp_path: Path, env: None) -> None:
    data = tmp_path / "issuer"
    assert run("issuer", "init", "--data", str(data))[0] == 0
    for path in data.glob("issuer.db*"):
        path.unlink()
    code, output = run("issuer", "init", "--data", str(data))
    assert code != 0 and "database_unusable" in output and "no signing key" in output
    assert not (data / "issuer.db").exists() or not _has_key(data / "issuer.db")


def _has_key(database: Path) -> bool:
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        return "issuer_key" in tables and connection.execute("SELECT count(*) FROM issuer_key").fetchone()[0] > 0


def test_init_and_serve_refuse_a_corrupt_database(tmp_path: Path, env: None) -> None:
    data = tmp_path / "issuer"
    assert run("issuer", "init", "--data", str(data))[0] == 0
    database = data / "issuer.db"
    for path in data.glob("issuer.db-*"):
        path.unlink()
    damaged = bytearray(database.read_bytes())
    damaged[0:16] = b"not a database!!"
    database.write_bytes(bytes(damaged))
    code, output = run("issuer", "init", "--data", str(data))
    assert code != 0 and "database_unusable" in output
    port = free_port()
    result = serve(data, port)
    assert result.returncode != 0 and "database_corrupt" in result.stdout + result.stderr
    assert not port_answers(port)


# 4. liveness and readiness


@contextmanager
def query_only(engine: Engine) -> Iterator[None]:
    """The database refuses every write (SQLite's own ``PRAGMA query_only``) until the block ends."""

    def refuse_writes(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA query_only = ON")

    engine.dispose()
    event.listen(engine, "connect", refuse_writes)
    try:
        yield
    finally:
        event.remove(engine, "connect", refuse_writes)
        engine.dispose()


def test_livez_and_readyz(tmp_path: Path) -> None:
    data, database = tmp_path / "data", tmp_path / "db"
    database.mkdir()
    with running_issuer(data, f"sqlite:///{database / 'issuer.db'}") as issuer:
        client = issuer.client
        for path in ("/livez", "/readyz", "/healthz"):
            assert client.get(path).status_code == 200, path

        with query_only(issuer.engine):
            refused = client.get("/readyz")
            assert refused.status_code == 503 and refused.json()["reason"] == "database_unavailable"
            assert client.get("/healthz").json()["reason"] == "database_unavailable"
            assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 200

        with sessions(issuer.engine).begin() as session:
            session.execute(update(IssuerKey).values(active=False))
        refused = client.get("/readyz")
        assert refused.status_code == 503 and refused.json()["reason"] == "no_signing_key"
        with sessions(issuer.engine).begin() as session:
            session.execute(update(IssuerKey).values(active=True))

        data.rename(tmp_path / "moved")
        data.write_text("a file where the data directory was")
        refused = client.get("/readyz")
        assert refused.status_code == 503 and refused.json()["reason"] == "data_dir_unwritable"
        data.unlink()
        (tmp_path / "moved").rename(data)
        assert client.get("/readyz").status_code == 200

        issuer.engine.dispose()
        for path in database.glob("issuer.db*"):
            path.write_bytes(b"this is no longer a database" * 200)
        refused = client.get("/readyz")
        assert refused.status_code == 503 and refused.json()["reason"] == "database_unavailable"
        assert client.get("/livez").status_code == 200


# 5. one issuer URL per data directory


def test_the_issuer_url_is_stored_at_init_and_serve_must_agree(tmp_path: Path, env: None) -> None:
    data = tmp_path / "issuer"
    assert run("issuer", "init", "--data", str(data), "--issuer-url", "https://id.riverton.example/")[0] == 0
    assert json.loads((data / "settings.json").read_text()) == {"issuer_url": "https://id.riverton.example"}
    assert run("issuer", "add-clerk", "alice", "--data", str(data))[0] == 0
    (tmp_path / "claims.json").write_text(json.dumps(enrolled()))
    code, output = run("issuer", "offer", "--claims", str(tmp_path / "claims.json"), "--clerk", "alice",
                       "--data", str(data), "--json")  # fmt: skip
    assert code == 0 and parse_offer(json.loads(output)["offer"]).issuer == "https://id.riverton.example"

    port = free_port()
    result = serve(data, port, "--issuer-url", f"http://127.0.0.1:{port}")
    assert result.returncode != 0 and "issuer_url_mismatch" in result.stdout + result.stderr
    assert not port_answers(port)
    code, output = run("issuer", "init", "--data", str(data), "--issuer-url", "https://elsewhere.example")
    assert code != 0 and "issuer_url_mismatch" in output

    with issuer_process(data, None, port, tmp_path / "issuer.log", issuer_url="https://id.riverton.example"):
        metadata = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-credential-issuer").json()
        assert metadata["credential_issuer"] == "https://id.riverton.example"


# 6 and 7. a database that fails answers 503, costs no offer, and logs no SQL


def _token(client: Any, code: str, pin: str) -> httpx.Response:
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code", "pre-authorized_code": code,
            "tx_code": pin}  # fmt: skip
    response: httpx.Response = client.post("/token", data=form)
    return response


def _assert_clean_log(text: str, offer_id: str) -> None:
    assert offer_id not in text
    assert re.search(r"[0-9a-f]{16}", text) is None, text
    for sql in ("UPDATE", "DELETE", "INSERT", "SELECT", "pin_failures", "parameters"):
        assert sql not in text, text


def test_a_read_only_database_answers_503_and_the_retry_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_issuer(tmp_path) as issuer:
        created = issuer.offer()
        code = parse_offer(created.offer_uri).code
        with caplog.at_level(logging.INFO), query_only(issuer.engine):
            refused = _token(issuer.client, code, created.pin)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        assert refused.json()["reason"] == "service_unavailable"
        assert refused.json()["error_description"] == "the city's service is busy, try again"
        assert "strict-transport-security" in refused.headers  # the usual headers, too
        assert offer_rows(tmp_path / "issuer.db") == [(created.offer_id, 0)]  # nothing counted
        _assert_clean_log(caplog.text, created.offer_id)
        assert "service_unavailable" in caplog.text
        received = issuer.receive(created, count=2)
        assert len(received) == 4


def test_a_failure_after_the_pin_is_checked_leaves_the_offer_and_the_try(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_issuer(tmp_path, pin_attempts=2) as issuer:
        created = issuer.offer()
        code = parse_offer(created.offer_uri).code
        armed = [True]

        def fail_the_redemption(connection: Any, cursor: Any, statement: str, *_: Any) -> None:
            consuming = statement.lstrip().upper().startswith("INSERT INTO GRANT")  # the redemption's last step
            if armed[0] and consuming:
                armed[0] = False
                cursor.execute("PRAGMA query_only = ON")  # this statement, on this connection, now fails

        def writable_again(context: Any) -> None:
            context.connection.connection.dbapi_connection.execute("PRAGMA query_only = OFF")

        event.listen(issuer.engine, "before_cursor_execute", fail_the_redemption)
        event.listen(issuer.engine, "handle_error", writable_again)
        with caplog.at_level(logging.INFO):
            refused = _token(issuer.client, code, created.pin)
        assert not armed[0]
        assert refused.status_code == 503 and refused.json()["reason"] == "service_unavailable"
        assert offer_rows(tmp_path / "issuer.db") == [(created.offer_id, 0)]  # the right PIN's try is given back
        _assert_clean_log(caplog.text, created.offer_id)
        assert _token(issuer.client, code, "000000" if created.pin != "000000" else "111111").status_code == 400
        assert len(issuer.receive(created, count=1)) == 2  # the last try is still there


def test_a_postgresql_database_that_refuses_connections_answers_503(tmp_path: Path) -> None:
    with postgres_database() as url, running_issuer(tmp_path, url) as issuer:
        created = issuer.offer()
        code = parse_offer(created.offer_uri).code
        name = url.rsplit("/", 1)[1]
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:  # the database goes away under the running issuer
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
                connection.execute(text(terminate), {"name": name})
            refused = _token(issuer.client, code, created.pin)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
            assert refused.json()["reason"] == "service_unavailable"
            assert issuer.client.get("/readyz").json()["reason"] == "database_unavailable"
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        finally:
            admin.dispose()
        assert issuer.client.get("/readyz").status_code == 200
        assert len(issuer.receive(created, count=1)) == 2
        issuer.engine.dispose()


def test_the_engine_hides_parameters() -> None:
    assert make_engine("sqlite://").hide_parameters
    assert make_engine("postgresql://nobody@127.0.0.1:1/none").hide_parameters


# 8. iat is never in the future for a desk a little behind, even just after midnight


def test_credentials_issued_just_after_midnight_are_dated_the_day_before(tmp_path: Path) -> None:
    midnight = day_start(int(time.time()))
    now = midnight + 30
    assert day_start(backdated(now)) == midnight - 86_400
    with running_issuer(tmp_path) as issuer:
        settings, engine = issuer.settings, issuer.engine
        with sessions(engine).begin() as session:
            clerk = Clerk(username="night", password_hash="-", created_at=now)
            session.add(clerk)
            session.flush()
            created = create_offer(session, settings, clerk, enrolled(), now=now)
        code = parse_offer(created.offer_uri).code
        token = redeem_offer(sessions(engine).begin, settings, code, created.pin, now=now)
        device = SigningKey.generate("ES256")
        header = {"alg": device.alg, "typ": PROOF_TYP, "jwk": device.public_jwk()}
        proof = sign_jwt(header, {"aud": settings.issuer_url, "iat": now, "nonce": token.c_nonce}, device)
        with sessions(engine).begin() as session:
            key = active_key(session, PASSPHRASE)
            issued = issue_batch(session, settings, key, token.access_token, "residency", [proof], now=now)
        payload = json.loads(base64.urlsafe_b64decode(issued.credentials[0].split(".")[1] + "=="))
        assert payload["iat"] == midnight - 86_400 and payload["iat"] <= now - 120
        with sessions(engine).begin() as session:  # redeemed: the claims left the offer for the grant
            assert session.scalars(select(Offer)).one().sealed_claims == b""


# 9. https straight from the issuer, for a phone's browser on the city's network


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files (the test's own certificate authority)."""
    import datetime  # noqa: PLC0415
    import ipaddress  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = directory / "issuer.crt", directory / "issuer.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file


def test_serve_speaks_https_with_a_certificate_and_refuses_half_of_one(tmp_path: Path) -> None:
    init_database(tmp_path, None)
    cert, key = self_signed(tmp_path)
    half = serve(tmp_path, free_port(), "--issuer-url", ISSUER_URL, "--tls-cert", str(cert))
    assert half.returncode != 0 and "--tls-key" in half.stdout + half.stderr

    port = free_port()
    command = [sys.executable, "-m", "cityid", "issuer", "serve", "--port", str(port), "--data", str(tmp_path),
               "--issuer-url", ISSUER_URL, "--tls-cert", str(cert), "--tls-key", str(key)]  # fmt: skip
    env = {**os.environ, "CITYID_ISSUER_PASSPHRASE": PASSPHRASE}
    with (tmp_path / "log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        deadline, answer = time.monotonic() + 30, None
        while answer is None and process.poll() is None and time.monotonic() < deadline:
            try:
                answer = httpx.get(f"https://127.0.0.1:{port}/livez", verify=trusted, timeout=1)
            except httpx.HTTPError:
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200, (tmp_path / "log").read_text()[-2000:]
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2)  # no plain http on the https port
    finally:
        process.terminate()
        process.wait(10)


def test_new_issuer_keys_get_a_short_unique_kid_that_names_their_thumbprint(tmp_path: Path) -> None:
    """Every proof QR carries the kid: 8 characters of the thumbprint, distinct among the issuer's keys."""
    from credential import jwk_thumbprint  # noqa: PLC0415
    from issuer.db import sessions as make_sessions  # noqa: PLC0415
    from issuer.keys import KID_LENGTH, create_key  # noqa: PLC0415
    from issuer.models import IssuerKey  # noqa: PLC0415

    with running_issuer(tmp_path) as issuer:
        with make_sessions(issuer.engine).begin() as session:
            made = [create_key(session, PASSPHRASE, now=int(time.time())) for _ in range(20)]
        with make_sessions(issuer.engine).begin() as session:
            stored = {row.kid: json.loads(row.public_jwk) for row in session.scalars(select(IssuerKey))}
    assert len(set(made)) == len(made) and all(len(kid) == KID_LENGTH for kid in made)
    for kid in made:
        assert stored[kid]["kid"] == kid and jwk_thumbprint(stored[kid]).startswith(kid)

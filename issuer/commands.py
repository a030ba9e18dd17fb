"""What the ``cityid issuer`` commands do. Imported only when one of them runs, so the
database and web stack never slow down the rest of the CLI."""

from __future__ import annotations

import errno
import getpass
import json
import logging
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import typer
import uvicorn
from pydantic import ValidationError
from rich.text import Text
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from edges.console import console, errors, printable
from edges.exits import exit_code
from edges.files import write_atomic
from edges.qrimage import make_qr, to_png, to_terminal
from edges.sealing import SealError, hash_password

from . import service
from .app import create_app
from .db import make_engine, sessions, upgrade
from .errors import IssuerError
from .keys import NoKeyError, active_key, create_key, published_keys
from .models import Clerk, IssuerKey
from .runtime import Runtime, trust_bundle
from .settings import SETTINGS_FILE, IssuerSettings, SettingsError, store_issuer_url, stored_issuer_url
from .statuslists import ensure_list, list_ids, status_uri

DEFAULT_ISSUER_URL = "http://127.0.0.1:8400"


def _fail(reason: str, message: str) -> typer.Exit:
    """Print the error and exit as every cityid command does for ``reason`` (``edges.exits``)."""
    errors.print(Text.assemble(("error", "bold red"), f" [{reason}] ", printable(message)))
    return typer.Exit(exit_code(reason))


def load_settings(
    data: Path | None, database_url: str | None, *, issuer_url: str | None = None, default_url: str | None = None
) -> IssuerSettings:
    """The settings for one command. The issuer URL is the one ``init`` stored in the data
    directory; one asked for (``--issuer-url`` or $CITYID_ISSUER_URL) must be the same, so that
    every process on one data directory writes the same ``iss`` and offer prefix."""
    overrides: dict[str, Any] = {}
    if data is not None:
        overrides["data"] = data
    if database_url is not None:
        overrides["database_url"] = database_url
    try:
        settings = IssuerSettings(**overrides)
        stored = stored_issuer_url(settings.data)
    except ValidationError as exc:
        raise _fail("invalid_settings", str(exc).splitlines()[0]) from None
    except SettingsError as exc:
        raise _fail("invalid_settings", str(exc)) from None
    asked = issuer_url or os.environ.get("CITYID_ISSUER_URL")
    if stored is not None and asked is not None and asked.rstrip("/") != stored:
        raise _fail(
            "issuer_url_mismatch",
            f"this data directory's issuer URL is {stored} (in {settings.data / SETTINGS_FILE}), not "
            f"{asked.rstrip('/')}: drop --issuer-url / $CITYID_ISSUER_URL, or fix the stored URL",
        )
    url = stored or asked or default_url
    if url is None or url.rstrip("/") == settings.issuer_url:
        return settings
    try:
        return IssuerSettings(**overrides, issuer_url=url)
    except ValidationError as exc:
        raise _fail("invalid_settings", str(exc).splitlines()[0]) from None


@contextmanager
def _database(settings: IssuerSettings) -> Iterator[Session]:
    """One transaction on the issuer's database, with errors a person can act on."""
    if settings.database_url is None and not (settings.data / "issuer.db").exists():
        raise _fail("not_initialised", f"no issuer database in {settings.data}: run `cityid issuer init --data DIR`")
    try:
        engine = make_engine(settings.url)
        with sessions(engine).begin() as session:
            yield session
    except IssuerError as exc:
        raise _fail(exc.reason, exc.message) from None
    except (SettingsError, NoKeyError) as exc:
        raise _fail("invalid_settings", str(exc)) from None
    except SealError:
        raise _fail("wrong_passphrase", "the passphrase does not open the issuer's signing key") from None
    except OperationalError as exc:
        raise _fail("database_unavailable", f"cannot use the database: {str(exc.orig).strip()[:200]}") from None


def _clerk(session: Session, name: str) -> Clerk:
    clerk = session.scalars(select(Clerk).where(Clerk.username == name)).first()
    if clerk is None:
        raise IssuerError("unknown_clerk", f"no clerk named {name!r}: add one with `cityid issuer add-clerk`")
    return clerk


def _sqlite_problem(path: Path) -> str | None:
    """Why the SQLite file at ``path`` cannot be used as it is, or None when it passes
    ``PRAGMA quick_check`` (opened read-only: checking changes nothing)."""
    if path.stat().st_size == 0:
        return "is empty (0 bytes)"
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as connection:
            rows = connection.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        return f"is not a usable SQLite database ({type(exc).__name__}: {str(exc)[:100]})"
    if [tuple(row) for row in rows] != [("ok",)]:
        return f"fails PRAGMA quick_check ({str(rows[0][0])[:100]})"
    return None


def _has_signing_key(engine: Engine) -> bool:
    with engine.connect() as connection:
        if not inspect(connection).has_table(IssuerKey.__tablename__):
            return False
        return connection.execute(select(IssuerKey.kid).limit(1)).first() is not None


def _refuse_to_start_over(settings: IssuerSettings, *, new: bool) -> None:
    """Stop ``init`` from making a second issuer over the remains of a first one.

    A new signing key and status list 1 over a database that was lost or broken would make
    every credential already issued unverifiable, and hide that anything went wrong. So init
    only starts a new issuer where there was none (no database file, no stored settings), or
    when told to with ``--new``; an unusable SQLite file is then kept aside, not overwritten.
    """
    db_file = settings.data / "issuer.db"
    sqlite_file = settings.database_url is None and db_file.exists()
    problem = _sqlite_problem(db_file) if sqlite_file else None
    if problem is None and not (sqlite_file or (settings.data / SETTINGS_FILE).exists()):
        return  # a first init
    if problem is None:
        engine = make_engine(settings.url)
        try:
            if _has_signing_key(engine):
                return  # an issuer already: init only migrates
        finally:
            engine.dispose()
    if not new:
        where = f"{db_file} {problem}" if problem else "the database holds no signing key"
        raise _fail(
            "database_unusable",
            f"{where}, but this data directory was set up before: init will not make a new signing key and "
            "status list over it, since the credentials already issued would stop verifying. Restore the "
            "database from a backup, or run `cityid issuer init --new` to start a new issuer",
        )
    if problem is not None:
        aside = f".unusable-{int(time.time())}"
        for path in [db_file, *settings.data.glob("issuer.db-*")]:
            path.replace(path.with_name(path.name + aside))
        console.print(f"Moved the unusable {db_file.name} aside to {db_file.name}{aside}.")


def init(data: Path | None, database_url: str | None, issuer_url: str | None = None, *, new: bool = False) -> None:
    """Create the database (or bring it up to date) and, the first time, the signing key.

    The key is sealed with the passphrase in $CITYID_ISSUER_PASSPHRASE or in the file named by
    $CITYID_ISSUER_PASSPHRASE_FILE. Running init again is safe: it only migrates. It refuses to
    start over on an empty or broken database unless ``new`` (``--new``) says so.
    """
    settings = load_settings(data, database_url, issuer_url=issuer_url, default_url=DEFAULT_ISSUER_URL)
    try:
        passphrase = settings.passphrase()
    except SettingsError as exc:
        raise _fail("invalid_settings", str(exc)) from None
    settings.data.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        _refuse_to_start_over(settings, new=new)
        engine = make_engine(settings.url)
        upgrade(engine)
        with sessions(engine).begin() as session:
            keys = published_keys(session, now=int(time.time()))
            kid = next(iter(keys), None) if len(keys) else create_key(session, passphrase, now=int(time.time()))
            ensure_list(session, settings.status_list_size)
        engine.dispose()
    except (OperationalError, SQLAlchemyError) as exc:
        raise _fail("database_unavailable", f"cannot set up the database: {str(exc).splitlines()[0][:200]}") from None
    if stored_issuer_url(settings.data) is None:
        store_issuer_url(settings.data, settings.issuer_url)
    for path in settings.data.glob("issuer.db*"):  # the directory is 0700 too; the files say so themselves
        path.chmod(0o600)
    console.print(
        f"Issuer ready in {settings.data} ({settings.url.split('://')[0]}); signing key {kid}; "
        f"issuer URL {settings.issuer_url}."
    )


def rotate_key(data: Path | None, database_url: str | None) -> None:
    """Make a new signing key; old keys stay published until their credentials expire."""
    settings = load_settings(data, database_url)
    with _database(settings) as session:
        if session.scalar(select(IssuerKey.kid).where(IssuerKey.active.is_(True))) is not None:
            active_key(session, settings.passphrase())  # a new key sealed under a wrong passphrase would lock it out
        kid = create_key(session, settings.passphrase(), now=int(time.time()))
        published = len(published_keys(session, now=int(time.time())))
    console.print(f"New signing key {kid}; {published} keys published. Restart or reload running issuers.")


def _password() -> str:
    from_env = os.environ.get("CITYID_CLERK_PASSWORD")
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password for the clerk: ")
    if getpass.getpass("Again: ") != first:
        raise _fail("usage_error", "the passwords differ")
    return first


def add_clerk(username: str, data: Path | None, database_url: str | None) -> None:
    """Add a clerk account. The password is asked for (or read from $CITYID_CLERK_PASSWORD or stdin)."""
    settings = load_settings(data, database_url)
    if not 1 <= len(username) <= 64 or not username.isprintable():
        raise _fail("usage_error", "a clerk name is 1 to 64 printable characters")
    password = _password()
    if len(password) < 12:
        raise _fail("usage_error", "a clerk password needs at least 12 characters")
    with _database(settings) as session:
        if session.scalars(select(Clerk).where(Clerk.username == username)).first() is not None:
            raise IssuerError("clerk_exists", f"a clerk named {username!r} exists")
        session.add(Clerk(username=username, password_hash=hash_password(password), created_at=int(time.time())))
    console.print(f"Clerk {username} added.")


def offer(
    claims_file: Path, clerk: str, png: Path | None, as_json: bool, data: Path | None, database_url: str | None
) -> None:
    """Create a one-time offer for a resident whose documents were checked in person.

    Prints the offer (a QR code and its URI), the PIN to tell the resident, and the revocation
    code for their slip. The claims file should be deleted afterwards: the issuer keeps no copy.
    """
    settings = load_settings(data, database_url)
    try:
        raw = sys.stdin.buffer.read(65_536) if str(claims_file) == "-" else claims_file.read_bytes()[:65_537]
        claims = json.loads(raw)
    except OSError as exc:
        raise _fail("unreadable_input", f"cannot read {claims_file}: {exc.strerror}") from None
    except ValueError:
        raise _fail("invalid_claims", f"{claims_file} is not JSON") from None
    if not isinstance(claims, dict):
        raise _fail("invalid_claims", "the claims file must hold one JSON object")
    with _database(settings) as session:
        active_key(session, settings.passphrase())  # a wrong passphrase stops here, before an offer exists
        created = service.create_offer(session, settings, _clerk(session, clerk), claims, now=int(time.time()))
    if png is not None:
        write_atomic(png, to_png(make_qr(created.offer_uri)))
    if as_json:
        result = {
            "offer": created.offer_uri,
            "pin": created.pin,
            "revocation_code": created.revocation_code,
            "expires_at": created.expires_at,
        }
        sys.stdout.write(json.dumps(result) + "\n")
        return
    console.print(to_terminal(make_qr(created.offer_uri)), markup=False, highlight=False)
    console.print(created.offer_uri, markup=False, highlight=False, soft_wrap=True)
    console.print(f"PIN (tell the resident): [bold]{created.pin}[/]")
    console.print(f"Revocation code (print on the slip): [bold]{created.revocation_code}[/]")


def revoke(code: str, clerk: str, data: Path | None, database_url: str | None) -> None:
    """Revoke every credential of the batch a revocation code names (a lost phone)."""
    settings = load_settings(data, database_url)
    with _database(settings) as session:
        count = service.revoke_batch(session, _clerk(session, clerk), code, now=int(time.time()))
    console.print(f"Revoked {count} credentials.")


def export_trust(
    out: Path | None, data: Path | None, database_url: str | None, *, with_status_lists: bool = False
) -> None:
    """The signed trust bundle a desk caches: issuer keys, status list locations, policy registry
    (the registry is the file registry.jwt in the data directory, when present)."""
    settings = load_settings(data, database_url)
    now = int(time.time())
    with _database(settings) as session:
        runtime = Runtime(settings, session.get_bind(), sessions(session.get_bind()), settings.passphrase())  # type: ignore[arg-type]
        bundle = trust_bundle(session, runtime, now=now)
        if with_status_lists:  # a package a desk can sync from a file, with no network at all
            key = runtime.signing_key(session)
            lists = {
                status_uri(settings.issuer_url, list_id): runtime.status_cache.token(
                    session, list_id, key=key, issuer_url=settings.issuer_url, ttl=settings.status_list_ttl,
                    lifetime=settings.status_list_lifetime, now=now,
                )
                for list_id in list_ids(session)
            }  # fmt: skip
            bundle = json.dumps({"bundle": bundle, "status_lists": lists})
    if out is None:
        sys.stdout.write(bundle + "\n")
    else:
        write_atomic(out, bundle + "\n")
        console.print(f"Wrote {out}")


def publish_registry(registry_file: Path, board_file: Path, data: Path | None) -> None:
    """Publish the policy board's signed registry and its key from this issuer (``GET /registry``,
    the trust bundle), after checking them as a wallet would (``issuer/registry.py``)."""
    from edges.inputs import InputError, load_json, read_bounded_text  # noqa: PLC0415

    from .registry import publish  # noqa: PLC0415

    settings = load_settings(data, None)
    try:
        token = read_bounded_text(registry_file, what="the policy registry")
        board_jwks = load_json(board_file, what="the policy board key")
    except InputError as exc:
        raise _fail(exc.reason, exc.message) from None
    if not isinstance(board_jwks, dict):
        raise _fail("invalid_key", f"{board_file} is not a JWKS")
    try:
        registry = publish(settings.data, token, board_jwks, now=int(time.time()))
    except IssuerError as exc:
        raise _fail(exc.reason, exc.message) from None
    console.print(f"Published policy registry version {registry.version} ({len(registry.policies)} policies) in "
                  f"{settings.data}; wallets and desks fetch it from {settings.issuer_url}/registry.")  # fmt: skip


def fingerprint(data: Path | None, database_url: str | None, *, as_json: bool = False) -> None:
    """The trust-anchor fingerprint of this issuer's published keys and the board's key
    (``edges/fingerprint.py``), for city IT to give each desk once."""
    from edges.fingerprint import trust_fingerprint  # noqa: PLC0415

    from .registry import published_registry  # noqa: PLC0415

    settings = load_settings(data, database_url)
    with _database(settings) as session:
        issuer_jwks = published_keys(session, now=int(time.time())).to_jwks()
    published = published_registry(settings.data)
    if published is None:
        raise _fail("no_registry", "no policy registry is published yet, and the fingerprint covers the board's key: "
                    "run `cityid issuer publish-registry` first")  # fmt: skip
    code = trust_fingerprint(issuer_jwks, published.board_jwks)
    if as_json:
        sys.stdout.write(json.dumps({"fingerprint": code, "issuer_url": settings.issuer_url}) + "\n")
        return
    sys.stdout.write(code + "\n")


def _listen(host: str, port: int) -> socket.socket:
    """The bound listening socket, or a one-line refusal: bound before anything says "ready"."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise _fail("port_in_use", f"port {port} on {host} is already in use (another issuer?): stop that "
                        "process or choose another port with --port") from None  # fmt: skip
        raise _fail("cannot_listen", f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return listener


def serve(
    host: str,
    port: int,
    issuer_url: str | None,
    data: Path | None,
    database_url: str | None,
    *,
    tls: tuple[Path | None, Path | None] = (None, None),
) -> None:
    """Run the issuer: OpenID4VCI endpoints, metadata, status lists, trust bundle, clerk desk (/desk).

    Everything that would make it fail its first request is checked before the port is bound:
    the database (and, for SQLite, ``PRAGMA quick_check``), the passphrase against the active key.
    ``tls`` is a certificate and key to serve https directly (a phone's browser gives the wallet
    app its camera and service worker only over https, or on localhost).
    """
    cert, key = tls
    if (cert is None) != (key is None):
        raise _fail("invalid_settings", "--tls-cert and --tls-key go together")
    settings = load_settings(data, database_url, issuer_url=issuer_url, default_url=f"http://{host}:{port}")
    db_file = settings.data / "issuer.db"
    if settings.database_url is None:
        if not db_file.exists():
            raise _fail("not_initialised", f"no issuer database in {settings.data}: run `cityid issuer init`")
        problem = _sqlite_problem(db_file)
        if problem is not None:
            raise _fail("database_corrupt", f"{db_file} {problem}: restore it from a backup before serving")
    try:
        engine = make_engine(settings.url)
        upgrade(engine)
        application = create_app(settings, engine=engine)
        runtime: Runtime = application.state.runtime
        with runtime.transaction() as session:
            runtime.signing_key(session)
    except SettingsError as exc:
        raise _fail("invalid_settings", str(exc)) from None
    except NoKeyError as exc:
        raise _fail("not_initialised", str(exc)) from None
    except SealError:
        raise _fail("wrong_passphrase", "the passphrase does not open the issuer's signing key") from None
    except OperationalError as exc:
        raise _fail("database_unavailable", f"cannot use the database: {str(exc.orig).strip()[:200]}") from None
    listener = _listen(host, port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    console.print(f"cityid issuer at {settings.issuer_url} (clerk desk: {settings.issuer_url}/desk, "
                  f"phone wallet: {settings.issuer_url}/wallet/)")  # fmt: skip
    config = uvicorn.Config(application, host=host, port=port, log_level="info", access_log=False, server_header=False,
                            ssl_certfile=cert, ssl_keyfile=key)  # fmt: skip
    uvicorn.Server(config).run(sockets=[listener])

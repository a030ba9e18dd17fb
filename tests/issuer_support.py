"""An issuer for tests: a real database (SQLite file, or PostgreSQL when given), the real app
behind FastAPI's TestClient, and a wallet that talks to it over that client."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, text

from edges.sealing import hash_password
from issuer.app import create_app
from issuer.db import make_engine, sessions, upgrade
from issuer.keys import create_key
from issuer.models import Clerk
from issuer.service import OfferCreated, create_offer
from issuer.settings import IssuerSettings
from issuer.statuslists import ensure_list
from wallet.receive import Received, parse_offer, receive

PASSPHRASE = "correct horse battery staple"
ISSUER_URL = "https://id.riverton.example"
POSTGRES_ADMIN = os.environ.get("CITYID_TEST_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/postgres")


def enrolled(given_name: str = "Ana", birthdate: str = "1990-05-17") -> dict[str, Any]:
    return {
        "given_name": given_name,
        "family_name": "Okafor",
        "birthdate": birthdate,
        "address": {
            "street_address": "12 Elm Street",
            "locality": "Riverton",
            "region": "NY",
            "postal_code": "10001",
            "country": "US",
        },
    }


@dataclass
class Issuer:
    settings: IssuerSettings
    engine: Engine
    client: TestClient

    def clerk(self, name: str = "alice") -> Clerk:
        with sessions(self.engine).begin() as session:
            clerk = session.query(Clerk).filter_by(username=name).first()
            if clerk is None:
                clerk = Clerk(
                    username=name, password_hash=hash_password("clerk-password-1"), created_at=int(time.time())
                )
                session.add(clerk)
                session.flush()
            return clerk

    def offer(self, claims: dict[str, Any] | None = None) -> OfferCreated:
        clerk = self.clerk()
        with sessions(self.engine).begin() as session:
            return create_offer(session, self.settings, clerk, claims or enrolled(), now=int(time.time()))

    def receive(self, created: OfferCreated, pin: str | None = None, count: int = 3) -> list[Received]:
        client: Any = self.client  # Starlette's TestClient: the same interface as httpx.Client
        return receive(parse_offer(created.offer_uri), pin or created.pin, count=count, client=client)


def settings_for(data: Path, database_url: str | None = None, **extra: Any) -> IssuerSettings:
    return IssuerSettings(
        data=data,
        database_url=database_url,
        issuer_url=ISSUER_URL,
        issuer_passphrase=SecretStr(PASSPHRASE),
        status_list_size=2**16,
        **extra,
    )


def initialise(settings: IssuerSettings) -> Engine:
    settings.data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.url)
    upgrade(engine)
    with sessions(engine).begin() as session:
        create_key(session, PASSPHRASE, now=int(time.time()))
        ensure_list(session, settings.status_list_size)
    return engine


@contextmanager
def running_issuer(data: Path, database_url: str | None = None, **extra: Any) -> Iterator[Issuer]:
    settings = settings_for(data, database_url, **extra)
    engine = initialise(settings)
    app = create_app(settings, engine=engine)
    with TestClient(app, base_url=ISSUER_URL, raise_server_exceptions=False) as client:
        yield Issuer(settings, engine, client)
    engine.dispose()


def postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception:
        return False
    return True


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN.split('@')[-1]}: PostgreSQL tests skipped")
    with scratch_database(POSTGRES_ADMIN) as url:
        yield url


@contextmanager
def scratch_database(admin_url: str, prefix: str = "cityid_test") -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``, dropped afterwards (also by the benches)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def bench_database(admin_url: str, label: str) -> Iterator[str | None]:
    """A scratch database for a bench, or None (and a ``<label>: skipped`` line) when the
    server cannot be reached: a bench measures what it can."""
    database = scratch_database(admin_url, prefix="cityid_bench")
    try:
        url = database.__enter__()
    except Exception as exc:  # any failure here means: no PostgreSQL to measure
        print(f"{label}: skipped ({type(exc).__name__}: PostgreSQL not reachable)")
        yield None
        return
    try:
        yield url
    finally:
        database.__exit__(None, None, None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def issuer_process(
    data: Path, database_url: str | None, port: int, log: Path, *, issuer_url: str = ISSUER_URL
) -> Iterator[Any]:
    """``cityid issuer serve`` as a real process on ``port``, logging to ``log``."""
    command = [sys.executable, "-m", "cityid", "issuer", "serve", "--port", str(port), "--data", str(data),
               "--issuer-url", issuer_url]  # fmt: skip
    if database_url:
        command += ["--database-url", database_url]
    env = {**os.environ, "CITYID_ISSUER_PASSPHRASE": PASSPHRASE, "CITYID_STATUS_LIST_SIZE": str(2**16)}
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the issuer did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


class RoutedClient:
    """A wallet's HTTP client whose requests for ISSUER_URL go to one of several local processes."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.client = httpx.Client(timeout=60)
        self.turn = 0

    def _url(self, url: str) -> str:
        self.turn += 1
        return url.replace(ISSUER_URL, f"http://127.0.0.1:{self.ports[self.turn % len(self.ports)]}")

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(self._url(url), **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.client.post(self._url(url), **kwargs)

    def close(self) -> None:
        self.client.close()


def init_database(data: Path, database_url: str | None) -> IssuerSettings:
    settings = settings_for(data, database_url)
    initialise(settings).dispose()
    return settings


def make_offers(settings: IssuerSettings, count: int) -> list[OfferCreated]:
    engine = make_engine(settings.url)
    with sessions(engine).begin() as session:
        clerk = Clerk(username="bulk", password_hash="-", created_at=0)
        session.add(clerk)
        session.flush()
        offers = [create_offer(session, settings, clerk, enrolled(f"R{i}"), now=int(time.time())) for i in range(count)]
    engine.dispose()
    return offers

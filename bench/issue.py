"""Issuer throughput and status list cost, measured in this one run.

    python bench/issue.py [--credentials N] [--postgres URL | --no-postgres]

1. **Issuance**: credentials issued per second through the real service layer
   (``issue_batch``: key proof checks, random status indexes under the unique constraint,
   SD-JWT signing, one transaction per batch of 20), on SQLite with one process and on
   PostgreSQL with two processes sharing the database. Offers are redeemed beforehand (the
   PIN's scrypt is a per-resident cost, not a per-credential one), and the wallet's key proofs
   are made beforehand (that is the wallet's work). ``per_cpu_second`` divides by the CPU
   time the issuing processes used, so it is "per core" whatever the machine's load.
2. **Status list**: 1,000,000 one-bit entries with 1% revoked at random, published the way
   ``GET /status/N`` does it (read the revoked indexes, set the bits, zlib level 9, sign).

Lines are ``key=value`` so docs/performance.md can quote them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import SecretStr
from sqlalchemy import create_engine, insert, text

from cityid.sealing import lookup_hash
from credential import SigningKey, sign_jwt
from credential._encoding import b64url_decode
from issuer.db import make_engine, sessions, upgrade
from issuer.keys import active_key, create_key
from issuer.models import Batch, Clerk, StatusEntry
from issuer.service import create_offer, issue_batch, redeem_offer
from issuer.settings import IssuerSettings
from issuer.statuslists import StatusListCache, ensure_list

PASSPHRASE = "benchmark passphrase, not a secret"
ISSUER = "https://id.riverton.example"
BATCH = 20
RESIDENT = {
    "given_name": "Ana",
    "family_name": "Okafor",
    "birthdate": "1990-05-17",
    "address": {
        "street_address": "12 Elm",
        "locality": "Riverton",
        "region": "NY",
        "postal_code": "1",
        "country": "US",
    },
}


def _settings(url: str, data: Path) -> IssuerSettings:
    return IssuerSettings(data=data, database_url=url, issuer_url=ISSUER, issuer_passphrase=SecretStr(PASSPHRASE),
                          max_batch=BATCH)  # fmt: skip


def _prepare(url: str, data: Path) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with sessions(engine).begin() as session:
        create_key(session, PASSPHRASE, now=int(time.time()))
        ensure_list(session, 2**20)
    engine.dispose()


def _grants(settings: IssuerSettings, count: int) -> list[tuple[str, str]]:
    """``count`` redeemed offers: (access token, nonce) pairs, ready for /credential."""
    engine = make_engine(settings.url)
    made = []
    with sessions(engine).begin() as session:
        clerk = Clerk(username=f"bench-{secrets.token_hex(4)}", password_hash="-", created_at=0)
        session.add(clerk)
        session.flush()
        offers = [create_offer(session, settings, clerk, RESIDENT, now=int(time.time())) for _ in range(count)]
    for offer in offers:
        document = json.loads(unquote(parse_qs(urlsplit(offer.offer_uri).query)["credential_offer"][0]))
        code = document["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["pre-authorized_code"]
        issued = redeem_offer(sessions(engine).begin, settings, code, offer.pin, now=int(time.time()))
        made.append((issued.access_token, issued.c_nonce))
    engine.dispose()
    return made


def _proofs(nonce: str, count: int) -> list[str]:
    now = int(time.time())
    proofs = []
    for _ in range(count):
        key = SigningKey.generate("ES256")
        header = {"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": key.public_jwk()}
        proofs.append(sign_jwt(header, {"aud": ISSUER, "iat": now, "nonce": nonce}, key))
    return proofs


def _issue_worker(url: str, data: str, batches: int, results: Any) -> None:
    settings = _settings(url, Path(data))
    work = [(token, _proofs(nonce, BATCH)) for token, nonce in _grants(settings, batches)]
    engine = make_engine(url)
    with sessions(engine).begin() as session:
        key = active_key(session, PASSPHRASE)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    issued = 0
    for token, proofs in work:
        with sessions(engine).begin() as session:
            issued += len(
                issue_batch(session, settings, key, token, "residency", proofs, now=int(time.time())).credentials
            )
    results.put((issued, time.perf_counter() - start_wall, time.process_time() - start_cpu))
    engine.dispose()


def bench_issuance(label: str, url: str, data: Path, processes: int, credentials: int) -> None:
    _prepare(url, data)
    batches = max(1, credentials // BATCH // processes)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_issue_worker, args=(url, str(data), batches, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    outcomes = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    issued = sum(o[0] for o in outcomes)
    wall = max(o[1] for o in outcomes)
    cpu = sum(o[2] for o in outcomes)
    engine = make_engine(url)
    with engine.connect() as connection:
        total = connection.execute(text("SELECT count(*) FROM status_entry")).scalar_one()
        distinct = connection.execute(
            text("SELECT count(*) FROM (SELECT DISTINCT list_id, idx FROM status_entry) d")
        ).scalar_one()
    engine.dispose()
    print(f"issuance_{label}: processes={processes} credentials={issued} per_second={issued / wall:.0f} "
          f"per_cpu_second={issued / cpu:.0f} unique_indexes={distinct == total == issued}")  # fmt: skip


def bench_status_list(data: Path, entries: int = 1_000_000, revoked_share: float = 0.01) -> None:
    url = f"sqlite:///{data / 'status.db'}"
    _prepare(url, data)
    engine = make_engine(url)
    revoked = set(random.sample(range(entries), int(entries * revoked_share)))
    with engine.begin() as connection:
        connection.execute(insert(Batch), [{"id": "b", "revocation_hash": lookup_hash("x", "r"), "created_at": 0,
                                            "revoked": False}])  # fmt: skip
        connection.execute(text("UPDATE status_list SET size = :size WHERE id = 1"), {"size": entries})
        rows = (
            {"list_id": 1, "idx": i, "batch_id": "b", "expires_at": 0, "revoked": i in revoked} for i in range(entries)
        )
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == 50_000:
                connection.execute(insert(StatusEntry), chunk)
                chunk = []
    with sessions(engine).begin() as session:
        key = active_key(session, PASSPHRASE)
        start = time.perf_counter()
        token = StatusListCache().token(
            session, 1, key=key, issuer_url=ISSUER, ttl=300, lifetime=86_400, now=int(time.time())
        )
        elapsed = time.perf_counter() - start
    assert token is not None
    payload = json.loads(b64url_decode(token.split(".")[1]))
    compressed = len(b64url_decode(payload["status_list"]["lst"]))
    print(f"status_list: entries={entries} revoked={len(revoked)} compressed_bytes={compressed} "
          f"token_bytes={len(token)} publish_seconds={elapsed:.3f}")  # fmt: skip
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=2000, help="credentials per issuance run")
    default_postgres = os.environ.get("CITYID_BENCH_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
    parser.add_argument("--postgres", default=default_postgres, help="an admin URL; a scratch database is made")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"python={sys.version.split()[0]} cpus={os.cpu_count()}")
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        bench_issuance("sqlite", f"sqlite:///{data / 'issuer.db'}", data, 1, args.credentials)
        if not args.no_postgres:
            name = f"cityid_bench_{secrets.token_hex(4)}"
            admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
            except Exception as exc:
                print(f"issuance_postgresql: skipped ({type(exc).__name__}: PostgreSQL not reachable)")
            else:
                try:
                    url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
                    bench_issuance("postgresql", url, data, 2, args.credentials)
                finally:
                    with admin.connect() as connection:
                        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        bench_status_list(data)


if __name__ == "__main__":
    main()

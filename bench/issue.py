"""Issuer throughput and status list cost, measured in this one run.

    python bench/issue.py [--credentials N] [--postgres URL | --no-postgres]
    python bench/issue.py --residents N [--list-size BITS] [--postgres URL]

With ``--residents N`` it simulates a city instead, on PostgreSQL only (see :func:`bench_city`).

1. **Issuance**: credentials issued per second through the real service layer
   (``issue_batch``: key proof checks, random status indexes under the unique constraint,
   SD-JWT signing, one transaction per batch of 20), on SQLite with one process and on
   PostgreSQL with two processes sharing the database. Offers are redeemed beforehand (the
   PIN's scrypt is a per-resident cost, not a per-credential one), and the wallet's key proofs
   are made beforehand (that is the wallet's work). ``per_cpu_second`` divides by the CPU
   time the issuing processes used, so it is "per core" whatever the machine's load.
2. **Status list**: 1,000,000 one-bit entries with 1% revoked at random, published the way
   ``GET /status/N`` does it (read the revoked indexes, set the bits, zlib level 9, sign).

3. **City** (``--residents N``): N residents x 20 one-time credentials, made in bulk as
   issuance leaves them (status lists opened at half full, random indexes, 1% revoked, expiries
   spread over a year), then measured: rows, table and index sizes, publishing every list, the
   trust bundle, what a desk holds, the purge, and real issuance of a sample into the full table.

Lines are ``key=value`` so docs/performance.md and docs/operations.md can quote them.
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
from sqlalchemy import insert, select, text

from credential import SigningKey, sign_jwt
from credential._encoding import b64url_decode
from edges.sealing import lookup_hash
from issuer.db import make_engine, sessions, upgrade
from issuer.keys import active_key, create_key
from issuer.models import Batch, Clerk, StatusEntry, StatusListRow
from issuer.runtime import Runtime, trust_bundle
from issuer.service import create_offer, issue_batch, purge_expired, redeem_offer
from issuer.settings import IssuerSettings
from issuer.statuslists import FILL_LIMIT, StatusListCache, ensure_list, list_ids, retire_expired

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from issuer_support import bench_database, scratch_database

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


def _settings(url: str, data: Path, list_size: int = 2**20) -> IssuerSettings:
    return IssuerSettings(data=data, database_url=url, issuer_url=ISSUER, issuer_passphrase=SecretStr(PASSPHRASE),
                          max_batch=BATCH, status_list_size=list_size)  # fmt: skip


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
    results.put(_timed_issuance(url, _settings(url, Path(data)), batches))


def _timed_issuance(url: str, settings: IssuerSettings, batches: int) -> tuple[int, float, float]:
    """Issue ``batches`` batches through the service layer: (credentials, wall and CPU seconds).
    Grants and the wallet's key proofs are made first, outside the timing."""
    work = [(token, _proofs(nonce, BATCH)) for token, nonce in _grants(settings, batches)]
    engine = make_engine(url)
    with sessions(engine).begin() as session:
        key = active_key(session, PASSPHRASE)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    issued = 0
    for token, proofs in work:
        with sessions(engine).begin() as session:
            batch = issue_batch(session, settings, key, token, "residency", proofs, now=int(time.time()))
            issued += len(batch.credentials)
    engine.dispose()
    return issued, time.perf_counter() - start_wall, time.process_time() - start_cpu


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


DAY = 86_400


def _timed(what: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = what()
    return result, time.perf_counter() - start


def _fill_city(url: str, residents: int, list_size: int, now: int) -> None:
    """Batches and status entries as issuance leaves them, one INSERT ... SELECT per list: each
    list takes ``list_size * FILL_LIMIT`` random distinct indexes, 20 a batch."""
    per_list = int(list_size * FILL_LIMIT) // BATCH * BATCH
    entries = residents * BATCH
    lists = -(-entries // per_list)
    seed = secrets.token_hex(8)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM status_list"))
        connection.execute(
            text("INSERT INTO batch (id, revocation_hash, created_at, revoked) "
                 "SELECT md5(:seed || n::text), md5('r' || :seed || n::text) || md5('s' || :seed || n::text), "
                 ":day, false FROM generate_series(0, :last) AS n"),
            {"seed": seed, "day": now - now % DAY, "last": residents - 1},
        )  # fmt: skip
    for number in range(1, lists + 1):
        first_entry = (number - 1) * per_list
        take = min(per_list, entries - first_entry)
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO status_list (id, size, used, expires_at, retired) "
                     "VALUES (:id, :size, :used, :expires, false)"),
                {"id": number, "size": list_size, "used": take, "expires": now + 365 * DAY},
            )  # fmt: skip
            connection.execute(
                text("INSERT INTO status_entry (list_id, idx, batch_id, expires_at, revoked) "
                     "SELECT :id, idx, md5(:seed || ((:first + rn - 1) / :batch)::text), "
                     ":now + ((:first + rn - 1) / :batch % 365) * :day, random() < 0.01 "
                     "FROM (SELECT idx, row_number() OVER () AS rn FROM "
                     "(SELECT i AS idx FROM generate_series(0, :size - 1) AS i ORDER BY random() LIMIT :take) AS d"
                     ") AS drawn"),
                {"id": number, "seed": seed, "first": first_entry, "batch": BATCH, "now": now, "day": DAY,
                 "size": list_size, "take": take},
            )  # fmt: skip
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _sample_issuance(url: str, data: Path, batches: int, list_size: int) -> None:
    """Real issuance (key proofs, bulk index allocation, signing) into the full table."""
    issued, wall, cpu = _timed_issuance(url, _settings(url, data, list_size), batches)
    print(f"city_sample_issuance: credentials={issued} per_second={issued / wall:.0f} "
          f"per_cpu_second={issued / cpu:.0f} ms_per_credential={wall / issued * 1000:.2f}")  # fmt: skip


def bench_city(url: str, data: Path, residents: int, list_size: int) -> None:
    """A city of ``residents`` x 20 status entries on PostgreSQL, measured."""
    now = int(time.time())
    _prepare(url, data)
    _, filled = _timed(lambda: _fill_city(url, residents, list_size, now))
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM status_entry")).scalar_one()
        sizes = connection.execute(text(
            "SELECT pg_total_relation_size('status_entry'), pg_relation_size('status_entry'), "
            "pg_indexes_size('status_entry'), pg_total_relation_size('batch'), pg_database_size(current_database())"
        )).one()  # fmt: skip
    total, table, indexes, batch_bytes, database = (int(value) for value in sizes)
    print(f"city: residents={residents} status_entries={rows} list_size={list_size} fill_seconds={filled:.0f}")
    print(f"city_sizes: status_entry_total_mb={total / 1e6:.0f} table_mb={table / 1e6:.0f} "
          f"indexes_mb={indexes / 1e6:.0f} batch_total_mb={batch_bytes / 1e6:.0f} database_mb={database / 1e6:.0f} "
          f"bytes_per_entry={(total + batch_bytes) / rows:.0f}")  # fmt: skip
    _sample_issuance(url, data, batches=10, list_size=list_size)

    settings = _settings(url, data, list_size)
    runtime = Runtime(settings, engine, sessions(engine), PASSPHRASE)
    cache = StatusListCache()
    with sessions(engine).begin() as session:
        key = active_key(session, PASSPHRASE)
        published = list_ids(session)
        times, token_bytes = [], 0
        for list_id in published:
            token, elapsed = _timed(lambda list_id=list_id: cache.token(
                session, list_id, key=key, issuer_url=ISSUER, ttl=300, lifetime=DAY, now=now))  # fmt: skip
            times.append(elapsed)
            token_bytes += len(token)
        bundle, bundle_seconds = _timed(lambda: trust_bundle(session, runtime, now=now))
        sizes_held = session.scalars(select(StatusListRow.size).where(StatusListRow.id.in_(published))).all()
    held = sum(size // 8 for size in sizes_held)
    print(f"city_publish: lists={len(published)} seconds_per_list={sum(times) / len(times):.2f} "
          f"slowest_seconds={max(times):.2f} all_seconds={sum(times):.1f}")  # fmt: skip
    print(f"city_trust: bundle_bytes={len(bundle)} bundle_seconds={bundle_seconds:.3f} "
          f"desk_download_bytes={token_bytes + len(bundle)} desk_memory_bytes={held + token_bytes}")  # fmt: skip

    with sessions(engine).begin() as session:
        _, quiet = _timed(lambda: purge_expired(session, now=now))
    later = now + 400 * DAY  # a year and a month on: every list retired, its rows deleted batch by batch
    with sessions(engine).begin() as session:
        deleted, first = _timed(lambda: retire_expired(session, now=later))
    with sessions(engine).begin() as session:
        again, second = _timed(lambda: retire_expired(session, now=later))
        left = len(list_ids(session))
    print(f"city_purge: nothing_due_seconds={quiet:.4f} retire_all_and_delete_seconds={first:.3f} "
          f"deleted={deleted} next_batch_seconds={second:.3f} deleted_next={again} lists_left={left}")  # fmt: skip
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=2000, help="credentials per issuance run")
    default_postgres = os.environ.get("CITYID_BENCH_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
    parser.add_argument("--postgres", default=default_postgres, help="an admin URL; a scratch database is made")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--residents", type=int, help="simulate a city of N residents x 20 credentials instead")
    parser.add_argument("--list-size", type=int, default=2**20, help="entries per status list, for --residents")
    args = parser.parse_args()
    print(f"python={sys.version.split()[0]} cpus={os.cpu_count()}")
    if args.residents:
        with tempfile.TemporaryDirectory() as folder, scratch_database(args.postgres, prefix="cityid_bench") as url:
            bench_city(url, Path(folder), args.residents, args.list_size)
        return
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        bench_issuance("sqlite", f"sqlite:///{data / 'issuer.db'}", data, 1, args.credentials)
        if not args.no_postgres:
            with bench_database(args.postgres, "issuance_postgresql") as url:
                if url is not None:
                    bench_issuance("postgresql", url, data, 2, args.credentials)
        bench_status_list(data)


if __name__ == "__main__":
    main()

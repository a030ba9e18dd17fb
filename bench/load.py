"""Wallets at once against a real issuer: latency of /token and /credential, and what it is made of.

    python bench/load.py [--wallets 20,50] [--count N] [--postgres URL | --no-postgres]

Starts ``cityid issuer serve`` on SQLite and, when PostgreSQL answers, on PostgreSQL; creates
the offers through the service layer; then runs N wallets at once (``wallet.receive.receive``
in threads, each with ``--count`` credentials of both types), timing every request. Prints
p50/p99 for each endpoint and each database, refusals (503s, which the wallets retry), and
credentials per second. Bounded and local: everything runs on this machine, in a scratch
directory and a scratch PostgreSQL database, and is gone afterwards.

The same run measures what no issuer can avoid, so the latencies can be read as ratios: one PIN
check at the cost the offers were hashed with (read from a stored hash), one at the passwords'
cost, and one credential's SD-JWT signature. Lines are ``key=value`` for docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from credential import RESIDENCY, SigningKey, issue_credential, residency_claims
from edges.sealing import check_password, hash_password
from issuer.db import make_engine, sessions, upgrade
from issuer.keys import create_key
from issuer.models import Clerk, Offer
from issuer.service import OfferCreated, create_offer
from issuer.settings import IssuerSettings
from issuer.statuslists import ensure_list
from wallet.receive import parse_offer, receive
from wallet.store import WalletError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from issuer_support import bench_database

PASSPHRASE = "benchmark passphrase, not a secret"
RESIDENT = {
    "given_name": "Ana",
    "family_name": "Okafor",
    "birthdate": "1990-05-17",
    "address": {"street_address": "12 Elm", "locality": "Riverton", "region": "NY", "postal_code": "1",
                "country": "US"},
}  # fmt: skip
ENDPOINTS = ("/token", "/credential")


class TimedClient(httpx.Client):
    """A wallet's client that records (path, seconds, status) for every request it sends."""

    def __init__(self, timings: list[tuple[str, float, int]], lock: threading.Lock) -> None:
        super().__init__(timeout=120)
        self.timings, self.lock = timings, lock

    def send(self, request: httpx.Request, **options: Any) -> httpx.Response:
        start = time.perf_counter()
        response = super().send(request, **options)
        response.read()
        with self.lock:
            self.timings.append((request.url.path, time.perf_counter() - start, response.status_code))
        return response


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _offers(url: str, data: Path, issuer_url: str, count: int) -> list[OfferCreated]:
    """A fresh issuer database at ``url`` with ``count`` offers made the way a clerk makes them."""
    settings = IssuerSettings(data=data, database_url=url, issuer_url=issuer_url,
                              issuer_passphrase=SecretStr(PASSPHRASE))  # fmt: skip
    engine = make_engine(url)
    upgrade(engine)
    with sessions(engine).begin() as session:
        create_key(session, PASSPHRASE, now=int(time.time()))
        ensure_list(session, settings.status_list_size)
        clerk = Clerk(username="bench", password_hash="-", created_at=0)
        session.add(clerk)
        session.flush()
        offers = [create_offer(session, settings, clerk, RESIDENT, now=int(time.time())) for _ in range(count)]
    engine.dispose()
    return offers


def _stored_pin_hash(url: str) -> str:
    engine = make_engine(url)
    with sessions(engine)() as session:
        stored = session.scalars(select(Offer.pin_hash).limit(1)).one()
    engine.dispose()
    return stored


@contextmanager
def _issuer(data: Path, url: str, port: int) -> Iterator[int]:
    command = [sys.executable, "-m", "cityid", "issuer", "serve", "--port", str(port), "--data", str(data),
               "--issuer-url", f"http://127.0.0.1:{port}", "--database-url", url]  # fmt: skip
    env = {**os.environ, "CITYID_ISSUER_PASSPHRASE": PASSPHRASE}
    with (data / "issuer.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the issuer did not start: {(data / 'issuer.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        process.wait(10)


def _cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(label: str, url: str, data: Path, wallets: int, count: int) -> tuple[dict[str, float], str]:
    """``wallets`` wallets at once against a fresh issuer on ``url``; prints one line, returns the
    p50s and one stored PIN hash (the offers' cost)."""
    port = _free_port()
    offers = _offers(url, data, f"http://127.0.0.1:{port}", wallets)
    pin_hash = _stored_pin_hash(url)
    pin_n = int(pin_hash.split("$")[1])
    timings: list[tuple[str, float, int]] = []
    lock, failed = threading.Lock(), [0]

    def wallet(offer: OfferCreated) -> int:
        with TimedClient(timings, lock) as client:
            try:
                return len(receive(parse_offer(offer.offer_uri), offer.pin, count=count, client=client))
            except WalletError:
                failed[0] += 1
                return 0

    with _issuer(data, url, port) as pid, ThreadPoolExecutor(max_workers=wallets) as pool:
        start, issuer_cpu, wallets_cpu = time.perf_counter(), _cpu_seconds(pid), time.process_time()
        received = sum(pool.map(wallet, offers))
        wall = time.perf_counter() - start
        issuer_cpu, wallets_cpu = _cpu_seconds(pid) - issuer_cpu, time.process_time() - wallets_cpu
    fields = [f"load_{label}: wallets={wallets} pin_scrypt_n={pin_n} credentials={received} "
              f"per_second={received / wall:.0f} wallets_failed={failed[0]} wall_s={wall:.2f} "
              f"issuer_cpu_s={issuer_cpu:.2f} wallets_cpu_s={wallets_cpu:.2f}"]  # fmt: skip
    p50s = {}
    for endpoint in ENDPOINTS:
        answered = [seconds for path, seconds, status in timings if path == endpoint and status == 200]
        refused = sum(1 for path, _, status in timings if path == endpoint and status == 503)
        name = endpoint.strip("/")
        p50s[name] = statistics.median(answered) if answered else float("nan")
        fields.append(f"{name}_p50={p50s[name]:.3f} {name}_p99={_percentile(answered, 0.99):.3f} "
                      f"{name}_503={refused}" if answered else f"{name}=none")  # fmt: skip
    print(" ".join(fields), flush=True)
    return p50s, pin_hash


def _best(make: Any, rounds: int = 7) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        make()
        best = min(best, time.perf_counter() - start)
    return best


def floors(pin_hash: str | None) -> dict[str, float]:
    """One PIN check (at the offers' cost and at the passwords'), one credential signed."""
    password_hash = hash_password("123456")
    costs = {"pin_check_passwords_cost": _best(lambda: check_password("123456", password_hash))}
    if pin_hash is not None:
        costs["pin_check_offers_cost"] = _best(lambda: check_password("000000", pin_hash))
    key, holder = SigningKey.generate("ES256", kid="bench"), SigningKey.generate("ES256").public_jwk()
    claims = residency_claims("Riverton", dt.date(1990, 5, 17), dt.date.today())
    costs["credential_sign"] = _best(
        lambda: issue_credential(
            RESIDENCY, claims, issuer_key=key, iss="https://x.example", holder_jwk=holder, now=int(time.time())
        ),
        rounds=50,
    )
    print(" ".join(f"{name}_ms={seconds * 1000:.2f}" for name, seconds in costs.items()), flush=True)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", default="20,50", help="wallets at once, one run each (comma-separated)")
    parser.add_argument("--count", type=int, default=2, help="credentials of each type per wallet")
    default_postgres = os.environ.get("CITYID_BENCH_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
    parser.add_argument("--postgres", default=default_postgres, help="an admin URL; a scratch database is made")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"python={sys.version.split()[0]} cpus={os.cpu_count()}", flush=True)
    p50s: list[dict[str, float]] = []
    pin_hash = None
    for wallets in (int(n) for n in args.wallets.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            measured, pin_hash = run("sqlite", f"sqlite:///{Path(folder) / 'issuer.db'}", Path(folder), wallets,
                                     args.count)  # fmt: skip
            p50s.append(measured)
        if args.no_postgres:
            continue
        with tempfile.TemporaryDirectory() as folder, bench_database(args.postgres, "load_postgresql") as postgres:
            if postgres is not None:
                p50s.append(run("postgresql", postgres, Path(folder), wallets, args.count)[0])
    costs = floors(pin_hash)
    pin = costs.get("pin_check_offers_cost", costs["pin_check_passwords_cost"])
    token_p50 = statistics.median(p["token"] for p in p50s)
    credential_p50 = statistics.median(p["credential"] for p in p50s)
    signatures = args.count * costs["credential_sign"]
    print(f"ratio_token_p50_vs_pin_check={token_p50 / pin:.1f} "
          f"ratio_credential_p50_vs_signatures={credential_p50 / signatures:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()

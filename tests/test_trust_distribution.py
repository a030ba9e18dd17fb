"""The policy registry and the trust anchors come from the issuer: no key file copied by hand.

A real ``cityid issuer serve`` process publishes the board's registry (``publish-registry``)
at ``GET /registry`` and in its trust bundle. Real ``cityid wallet`` processes fetch it from the
issuer they enrolled with, pin the board key, refresh a stale registry, and refuse an older one
or a changed key; real ``cityid verifier sync`` processes pin the city's keys from the issuer's
URL and the fingerprint ``cityid issuer fingerprint`` prints, and write nothing when it differs.
"""

from __future__ import annotations

import json
import os
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
from issuer_support import PASSPHRASE, enrolled, free_port, initialise, issuer_process, running_issuer
from pydantic import SecretStr

from credential import KeySet, SigningKey, encode_request_text, new_request
from edges.fingerprint import normalise_fingerprint, trust_fingerprint
from edges.keyfile import new_es256_key, private_jwk, public_jwks
from issuer.db import make_engine, sessions
from issuer.models import Clerk
from issuer.registry import REGISTRY_FILE, publish
from issuer.service import create_offer
from issuer.settings import IssuerSettings, store_issuer_url
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry, verify_registry
from wallet.receive import parse_offer, receive
from wallet.store import Wallet, load, save

ROOT = Path(__file__).resolve().parent.parent
WALLET_PASS = "resident passphrase"
POLICIES = ("library-card", "recreation-centre")
ENV = {**os.environ, "CITYID_WALLET_PASSPHRASE": WALLET_PASS, "CITYID_ISSUER_PASSPHRASE": PASSPHRASE,
       "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "COLUMNS": "400"}  # fmt: skip


def cityid(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    """One ``cityid`` command as a person runs it; a traceback is a failure whatever the exit code."""
    result = subprocess.run([sys.executable, "-m", "cityid", *map(str, arguments)], capture_output=True, text=True,
                            env=ENV, cwd=ROOT, timeout=120, check=False)  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


def sign(board: SigningKey, version: int, *, now: int | None = None, lifetime: int = 30 * 86_400) -> str:
    chosen = [lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id in POLICIES]
    return sign_registry(chosen, board, issuer="Riverton Policy Board", version=version,
                         now=now or int(time.time()), lifetime=lifetime, catalogue=default_catalogue())  # fmt: skip


@dataclass
class City:
    folder: Path
    settings: IssuerSettings
    board: SigningKey
    board_file: Path

    @property
    def url(self) -> str:
        return self.settings.issuer_url

    def published_version(self) -> int:
        token = (self.settings.data / REGISTRY_FILE).read_text().strip()
        return verify_registry(token, KeySet.from_jwks(public_jwks(self.board)), now=int(time.time())).version

    def publish_next(self) -> int:
        """Publish the next registry version with the real command; returns it."""
        version = self.published_version() + 1
        registry = self.folder / f"registry-{version}.jwt"
        registry.write_text(sign(self.board, version))
        result = cityid("issuer", "publish-registry", registry, "--board-jwks", self.board_file, "--data",
                        self.settings.data)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return version

    @contextmanager
    def serving(self, registry: str, board_jwks: dict[str, Any]) -> Iterator[None]:
        """The issuer serves these files, as if its data directory had been tampered with."""
        files = {name: self.settings.data / name for name in (REGISTRY_FILE, "board.jwks")}
        kept = {name: path.read_bytes() for name, path in files.items()}
        files[REGISTRY_FILE].write_text(registry)
        files["board.jwks"].write_text(json.dumps(board_jwks))
        try:
            yield
        finally:
            for name, path in files.items():
                path.write_bytes(kept[name])

    def enrolled_wallet(self, path: Path) -> Path:
        """A wallet holding a batch from this issuer, with its address, as ``wallet receive`` keeps it."""
        engine = make_engine(self.settings.url)
        with sessions(engine).begin() as session:
            clerk = session.query(Clerk).filter_by(username="alice").one()
            offer = create_offer(session, self.settings, clerk, enrolled(), now=int(time.time()))
        engine.dispose()
        with httpx.Client(timeout=30) as client:
            received = receive(parse_offer(offer.offer_uri), offer.pin, count=2, client=client)
        wallet = Wallet([{"type": item.configuration, "issuer": self.url, "credential": item.credential,
                          "device_key": private_jwk(item.device_key), "used": False, "received_at": int(time.time())}
                         for item in received])  # fmt: skip
        save(path, WALLET_PASS, wallet)
        return path


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    folder = tmp_path_factory.mktemp("trust-distribution")
    port = free_port()
    settings = IssuerSettings(data=folder / "issuer", issuer_url=f"http://127.0.0.1:{port}",
                              issuer_passphrase=SecretStr(PASSPHRASE), status_list_size=2**16)  # fmt: skip
    engine = initialise(settings)
    store_issuer_url(settings.data, settings.issuer_url)
    with sessions(engine).begin() as session:
        session.add(Clerk(username="alice", password_hash="!", created_at=int(time.time())))  # cannot sign in
    engine.dispose()
    board = new_es256_key()
    board_file = folder / "board.jwks"
    board_file.write_text(json.dumps(public_jwks(board)))
    (folder / "registry-1.jwt").write_text(sign(board, 1))
    published = cityid("issuer", "publish-registry", folder / "registry-1.jwt", "--board-jwks", board_file,
                       "--data", settings.data)  # fmt: skip
    assert published.returncode == 0, published.stderr
    assert "version 1" in published.stdout
    with issuer_process(settings.data, None, port, folder / "issuer.log", issuer_url=settings.issuer_url):
        yield City(folder, settings, board, board_file)


def request_text(policy: str = "library-card") -> str:
    request = new_request(policy=policy, claims=("resident_of",), audience="desk:library", now=int(time.time()),
                          lifetime=300, random_bytes=os.urandom(16))  # fmt: skip
    return encode_request_text(request)


def present(wallet: Path) -> subprocess.CompletedProcess[str]:
    return cityid("wallet", "present", request_text(), "--yes", "--json", "--wallet", wallet)


def age_the_check(wallet: Path, seconds: int = 2 * 86_400) -> None:
    """As if the wallet last asked its issuer for the registry ``seconds`` ago."""
    store = load(wallet, WALLET_PASS)
    store.trust["checked_at"] -= seconds
    save(wallet, WALLET_PASS, store)


def test_a_wallet_receives_then_presents_with_no_registry_options(city: City, tmp_path: Path) -> None:
    engine = make_engine(city.settings.url)
    with sessions(engine).begin() as session:
        clerk = session.query(Clerk).filter_by(username="alice").one()
        offer = create_offer(session, city.settings, clerk, enrolled(), now=int(time.time()))
    engine.dispose()
    wallet = tmp_path / "wallet.cidw"
    received = cityid("wallet", "receive", offer.offer_uri, "--pin", offer.pin, "--count", "2", "--wallet", wallet)
    assert received.returncode == 0, received.stderr
    pinned = load(wallet, WALLET_PASS).trust  # at the receive, from the issuer just enrolled with
    assert pinned["board_jwks"] == public_jwks(city.board) and pinned["version"] == city.published_version()

    shown = present(wallet)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["policy"] == "library-card"
    trust = load(wallet, WALLET_PASS).trust
    assert trust["board_jwks"] == public_jwks(city.board)  # pinned from the issuer it enrolled with
    assert trust["version"] == city.published_version()
    offline = cityid("wallet", "show", "--policy", "recreation-centre", "--yes", "--json", "--wallet", wallet)
    assert offline.returncode == 0, offline.stderr


def test_a_stale_registry_is_refreshed_from_the_issuer(city: City, tmp_path: Path) -> None:
    wallet = city.enrolled_wallet(tmp_path / "wallet.cidw")
    assert present(wallet).returncode == 0
    held = load(wallet, WALLET_PASS).trust["version"]
    newer = city.publish_next()
    assert present(wallet).returncode == 0
    assert load(wallet, WALLET_PASS).trust["version"] == held  # checked within the day: not asked again
    age_the_check(wallet)
    assert present(wallet).returncode == 0
    trust = load(wallet, WALLET_PASS).trust
    assert trust["version"] == newer
    assert time.time() - trust["checked_at"] < 3600


def test_an_older_registry_from_the_issuer_is_refused_by_the_wallet(city: City, tmp_path: Path) -> None:
    wallet = city.enrolled_wallet(tmp_path / "wallet.cidw")
    newer = city.publish_next()
    assert present(wallet).returncode == 0
    age_the_check(wallet)
    with city.serving(sign(city.board, newer - 1), public_jwks(city.board)):
        refused = present(wallet)
    assert refused.returncode == 1
    assert "registry_rollback" in refused.stderr
    assert load(wallet, WALLET_PASS).trust["version"] == newer


def test_a_changed_board_key_is_refused_by_the_wallet(city: City, tmp_path: Path) -> None:
    wallet = city.enrolled_wallet(tmp_path / "wallet.cidw")
    assert present(wallet).returncode == 0
    age_the_check(wallet)
    impostor = new_es256_key()
    with city.serving(sign(impostor, 99), public_jwks(impostor)):
        refused = present(wallet)
    assert refused.returncode == 1
    assert "board_key_changed" in refused.stderr
    trust = load(wallet, WALLET_PASS).trust
    assert trust["board_jwks"] == public_jwks(city.board) and trust["version"] < 99


def test_offline_with_no_current_registry_the_wallet_says_to_go_online(city: City, tmp_path: Path) -> None:
    wallet = city.enrolled_wallet(tmp_path / "wallet.cidw")
    store = load(wallet, WALLET_PASS)
    for entry in store.credentials:
        entry["issuer"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there: offline
    save(wallet, WALLET_PASS, store)
    first = present(wallet)
    assert first.returncode == 1
    assert "no_registry" in first.stderr and "Go online once" in first.stderr

    store = load(wallet, WALLET_PASS)
    long_ago = int(time.time()) - 10 * 86_400
    store.trust = {"board_jwks": public_jwks(city.board), "registry": sign(city.board, 1, now=long_ago, lifetime=60),
                   "version": 1, "checked_at": long_ago}  # fmt: skip
    save(wallet, WALLET_PASS, store)
    expired = present(wallet)
    assert expired.returncode == 1
    assert "registry_offline" in expired.stderr and "Go online once" in expired.stderr
    assert all(not entry["used"] for entry in load(wallet, WALLET_PASS).credentials)


def test_a_desk_syncs_from_the_url_and_the_fingerprint_then_alone_after_a_rotation(city: City, tmp_path: Path) -> None:
    printed = cityid("issuer", "fingerprint", "--data", city.settings.data)
    assert printed.returncode == 0, printed.stderr
    code = printed.stdout.strip()
    desk = tmp_path / "desk"
    typed = code.lower().replace("-", " ")  # as a person may type it
    synced = cityid("verifier", "sync", city.url, "--fingerprint", typed, "--data", desk)
    assert synced.returncode == 0, synced.stderr
    stored = json.loads((desk / "trust.json").read_text())
    assert stored["board_jwks"] == public_jwks(city.board)
    assert trust_fingerprint(stored["issuer_keys"], stored["board_jwks"]) == code

    rotated = cityid("issuer", "rotate-key", "--data", city.settings.data)
    assert rotated.returncode == 0, rotated.stderr
    again = cityid("verifier", "sync", city.url, "--data", desk)  # no fingerprint, no key files
    assert again.returncode == 0, again.stderr
    assert len(json.loads((desk / "trust.json").read_text())["issuer_keys"]["keys"]) == 2
    assert cityid("issuer", "fingerprint", "--data", city.settings.data).stdout.strip() != code


def test_a_wrong_fingerprint_is_refused_and_nothing_is_written(city: City, tmp_path: Path) -> None:
    desk = tmp_path / "desk"
    other = new_es256_key()
    wrong = trust_fingerprint(public_jwks(other), public_jwks(city.board))
    right = cityid("issuer", "fingerprint", "--data", city.settings.data).stdout.strip()
    refused = cityid("verifier", "sync", city.url, "--fingerprint", wrong, "--data", desk)
    assert refused.returncode == 1
    message = " ".join(refused.stderr.split())
    assert "fingerprint_mismatch" in message
    assert f"{right[:4]}-…-{right[-4:]}" in message and f"{wrong[:4]}-…-{wrong[-4:]}" in message
    assert not desk.exists() or not any(desk.iterdir())

    mistyped = cityid("verifier", "sync", city.url, "--fingerprint", right[:-5], "--data", desk)
    assert mistyped.returncode == 2 and "invalid_fingerprint" in mistyped.stderr
    assert not desk.exists() or not any(desk.iterdir())


def test_publish_registry_refuses_a_registry_the_board_key_does_not_verify_and_an_older_version(
    city: City, tmp_path: Path
) -> None:
    data = city.settings.data
    current = city.publish_next()  # at least version 2, so that there is an older one
    before = {name: (data / name).read_bytes() for name in (REGISTRY_FILE, "board.jwks")}
    forged, older, impostor_file = tmp_path / "forged.jwt", tmp_path / "older.jwt", tmp_path / "impostor.jwks"
    impostor = new_es256_key()
    forged.write_text(sign(impostor, current + 1))
    older.write_text(sign(city.board, current - 1))
    impostor_file.write_text(json.dumps(public_jwks(impostor)))

    not_verified = cityid("issuer", "publish-registry", forged, "--board-jwks", city.board_file, "--data", data)
    assert not_verified.returncode == 1 and "unknown_key" in not_verified.stderr
    rolled_back = cityid("issuer", "publish-registry", older, "--board-jwks", city.board_file, "--data", data)
    assert rolled_back.returncode == 1 and "registry_rollback" in rolled_back.stderr
    other_board = cityid("issuer", "publish-registry", forged, "--board-jwks", impostor_file, "--data", data)
    assert other_board.returncode == 1 and "board_key_changed" in other_board.stderr
    assert {name: (data / name).read_bytes() for name in before} == before


def test_publish_refuses_an_older_version_and_the_issuer_serves_what_it_published(tmp_path: Path) -> None:
    """``GET /registry`` is 404 ``no_registry`` until something is published; then it and the
    trust bundle carry the board key; an older version is refused and changes nothing."""
    board = new_es256_key()
    with running_issuer(tmp_path / "issuer") as issuer:
        missing = issuer.client.get("/registry")
        assert missing.status_code == 404 and missing.json()["reason"] == "no_registry"
        publish(issuer.settings.data, sign(board, 2), public_jwks(board), now=int(time.time()))
        with pytest.raises(Exception, match="older than version 2") as refused:
            publish(issuer.settings.data, sign(board, 1), public_jwks(board), now=int(time.time()))
        assert getattr(refused.value, "reason", None) == "registry_rollback"
        served = issuer.client.get("/registry")
        assert served.status_code == 200 and served.headers["cache-control"].startswith("public, max-age=")
        assert served.json()["board_jwks"] == public_jwks(board)
        assert verify_registry(served.json()["registry"], KeySet.from_jwks(public_jwks(board)),
                               now=int(time.time())).version == 2  # fmt: skip
        bundle = issuer.client.get("/trust").text
        payload = json.loads(_segment(bundle.split(".")[1]))
        assert payload["board_jwks"] == public_jwks(board)


def _segment(text: str) -> bytes:
    import base64  # noqa: PLC0415

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_fingerprint_is_one_typeable_code_for_the_set_of_keys() -> None:
    issuer, board = new_es256_key(), new_es256_key()
    code = trust_fingerprint(public_jwks(issuer), public_jwks(board))
    assert len(code) == 29 and code.count("-") == 5
    assert normalise_fingerprint(code.lower().replace("-", "")) == code
    assert normalise_fingerprint(code.replace("O", "0").replace("I", "1")) == code
    two = {"keys": [*public_jwks(issuer)["keys"], *public_jwks(new_es256_key())["keys"]]}
    reordered = {"keys": list(reversed(two["keys"]))}
    assert trust_fingerprint(two, public_jwks(board)) == trust_fingerprint(reordered, public_jwks(board))
    assert trust_fingerprint(two, public_jwks(board)) != code  # a rotation changes it
    with pytest.raises(ValueError, match="fingerprint"):
        normalise_fingerprint(code[:-1])

"""The wallet so far: a sealed store, and one-time credentials picked to reveal the least."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from issuer_support import enrolled, running_issuer

from credential import decode_qr_text, new_request, parse_issued
from edges.keyfile import private_jwk
from wallet.present import answer
from wallet.store import Wallet, WalletError, load, save


def _wallet(tmp_path: Path, name: str = "Zanzibar") -> Wallet:
    with running_issuer(tmp_path / "issuer") as issuer:
        received = issuer.receive(issuer.offer(enrolled(name)), count=2)
    wallet = Wallet()
    for item in received:
        wallet.credentials.append({"type": item.configuration, "credential": item.credential,
                                   "device_key": private_jwk(item.device_key), "used": False})  # fmt: skip
    return wallet


def _request(*claims: str):  # type: ignore[no-untyped-def]
    """A request from a desk that reads CID1: only, so that the proofs can be read back here."""
    return new_request(policy="p-1", claims=claims, audience="desk:x", now=int(time.time()), lifetime=60,
                       random_bytes=bytes(16), codec=1)  # fmt: skip


def test_the_store_is_sealed_and_round_trips(tmp_path: Path) -> None:
    wallet = _wallet(tmp_path)
    path = tmp_path / "w.cidw"
    save(path, "resident passphrase", wallet)
    raw = path.read_bytes()
    for needle in (b"Zanzibar", b"1990-05-17", b"Riverton", b"credential", b'"d"'):
        assert needle not in raw
    assert path.stat().st_mode & 0o077 == 0
    assert load(path, "resident passphrase").credentials == wallet.credentials
    with pytest.raises(WalletError) as caught:
        load(path, "another passphrase")
    assert caught.value.reason == "wrong_passphrase"
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(WalletError):
        load(path, "resident passphrase")


def test_each_proof_uses_a_fresh_credential_of_the_least_revealing_type(tmp_path: Path) -> None:
    wallet = _wallet(tmp_path)
    proofs = [answer(wallet, _request("resident_of"), now=int(time.time()), policy_id="p-1") for _ in range(2)]
    assert [p.credential_type for p in proofs] == ["residency", "residency"]
    keys = {json.dumps(parse_issued(decode_qr_text(p.qr_text).rsplit("~", 1)[0] + "~").payload["cnf"]) for p in proofs}
    assert len(keys) == 2
    third = answer(wallet, _request("resident_of"), now=int(time.time()), policy_id="p-1")
    assert third.credential_type == "identity"  # residency used up: the identity credential also answers
    assert [entry["policy"] for entry in wallet.history] == ["p-1"] * 3
    answer(wallet, _request("given_name"), now=int(time.time()), policy_id="p-1")
    with pytest.raises(WalletError) as caught:
        answer(wallet, _request("given_name"), now=int(time.time()), policy_id="p-1")
    assert caught.value.reason == "no_credential"

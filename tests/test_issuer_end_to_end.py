"""The issuer's promise, through the real commands and a real server process:

init + serve, a clerk's offer, `wallet receive` -> a batch of 10 credentials that `cityid
verify` accepts (with the status list fetched from the issuer); after revocation with the
slip's code and a status refresh, the same wallet's proofs are refused as `revoked`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from issuer_support import PASSPHRASE, enrolled, free_port, issuer_process
from typer.testing import CliRunner

from cityid.cli import app
from credential import new_request
from policies import bundled_catalog
from wallet.present import answer
from wallet.store import load, save

RUNNER = CliRunner()


def run(*arguments: str) -> str:
    result = RUNNER.invoke(app, list(arguments))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_offer_receive_verify_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for name, value in {
        "CITYID_ISSUER_PASSPHRASE": PASSPHRASE, "CITYID_CLERK_PASSWORD": "clerk-password-1",
        "CITYID_WALLET_PASSPHRASE": "resident-passphrase", "CITYID_ISSUER_URL": base,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    data, wallet = tmp_path / "issuer", tmp_path / "wallet.cidw"
    run("issuer", "init", "--data", str(data))
    run("issuer", "add-clerk", "alice", "--data", str(data))
    (tmp_path / "resident.json").write_text(json.dumps(enrolled()))
    offer = json.loads(run("issuer", "offer", "--claims", str(tmp_path / "resident.json"), "--clerk", "alice",
                           "--data", str(data), "--json"))  # fmt: skip

    approved = tmp_path / "approved"
    approved.mkdir()
    (approved / "recreation-centre.toml").write_bytes((bundled_catalog() / "recreation-centre.toml").read_bytes())
    board, registry = tmp_path / "board.jwk", tmp_path / "registry.jwt"
    run("policies", "keygen", "--out", str(board), "--public", str(tmp_path / "board.jwks"))
    run("policies", "sign", str(approved), "--key", str(board), "--version", "1", "--out", str(registry))
    trust = ["--registry", str(registry), "--board-jwks", str(tmp_path / "board.jwks")]

    monkeypatch.setenv("CITYID_STATUS_LIST_TTL", "2")  # the server's cache refreshes within a second
    with issuer_process(data, None, port, tmp_path / "issuer.log", issuer_url=base):
        received = run("wallet", "receive", offer["offer"], "--pin", offer["pin"], "--count", "10",
                       "--wallet", str(wallet))  # fmt: skip
        assert "10 residency, 10 identity" in received
        (tmp_path / "issuer.json").write_text(httpx.get(f"{base}/.well-known/jwt-vc-issuer").text)
        (tmp_path / "status.jwt").write_text(httpx.get(f"{base}/status/1").text)

        def proof_for_desk() -> tuple[str, str]:
            made = json.loads(run("verifier", "request", "--policy", "recreation-centre", "--audience", "desk:rec",
                                  *trust, "--json"))  # fmt: skip
            shown = json.loads(run("wallet", "present", made["request"], *trust, "--yes", "--json",
                                   "--wallet", str(wallet)))  # fmt: skip
            return shown["proof"], made["nonce"]

        def verify(proof: str, nonce: str) -> tuple[int, dict[str, object]]:
            result = RUNNER.invoke(app, ["verify", proof, "--issuer-jwks", str(tmp_path / "issuer.json"),
                                         "--nonce", nonce, "--audience", "desk:rec",
                                         "--status", str(tmp_path / "status.jwt"), "--json"])  # fmt: skip
            return result.exit_code, json.loads(result.stdout)

        proof, nonce = proof_for_desk()
        code, result = verify(proof, nonce)
        assert code == 0 and result["status"] == "valid"
        assert result["claims"] == {"resident_of": "Riverton", "age_over_18": True}

        # Every credential of the batch verifies (the other nine, presented by the same wallet code).
        store = load(wallet, "resident-passphrase")
        for _ in range(9):
            request = new_request(policy="recreation-centre", claims=("resident_of", "age_over_18"),
                                  audience="desk:rec", now=int(time.time()), lifetime=300,
                                  random_bytes=__import__("secrets").token_bytes(16))  # fmt: skip
            shown = answer(store, request, now=int(time.time()), policy_id="recreation-centre")
            code, result = verify(shown.qr_text, request.nonce)
            assert code == 0 and result["status"] == "valid"
        store.credentials = [c for c in store.credentials if c["type"] != "residency" or c["used"]]
        for credential in store.credentials:
            if credential["type"] == "residency":
                credential["used"] = False  # show used credentials again, to check them after revocation
        save(wallet, "resident-passphrase", store)

        run("issuer", "revoke", offer["revocation_code"], "--clerk", "alice", "--data", str(data))
        time.sleep(1.2)
        (tmp_path / "status.jwt").write_text(httpx.get(f"{base}/status/1").text)  # the desk's status refresh
        proof, nonce = proof_for_desk()
        code, result = verify(proof, nonce)
        assert code == 1 and result["reason"] == "revoked"

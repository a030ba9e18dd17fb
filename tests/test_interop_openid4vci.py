"""Third-party wallet libraries receive credentials from a real ``cityid issuer serve``.

``tests/interop_js/wallet.mjs`` drives ``@openid4vc/openid4vci`` (a client that follows
OpenID4VCI 1.0 final strictly) through the whole pre-authorized code flow, with the Nonce
Endpoint, and verifies what it gets with ``@sd-jwt/sd-jwt-vc``, which also resolves each
credential's ``vct`` from the issuer and checks ``vct#integrity``. Then ``cityid verify``
accepts the presentations that library made with the holder keys. A second run binds the access
token with DPoP against an issuer that requires it, and sends the pre-1.0 singular ``proof``.

The node packages are pinned in ``tests/interop_js/package-lock.json``; ``./dev test`` installs
them. Without node or those packages, these tests are skipped and say why.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from issuer_support import PASSPHRASE, enrolled, free_port, issuer_process
from typer.testing import CliRunner

from cityid.cli import app

INTEROP = Path(__file__).parent / "interop_js"
NODE = shutil.which("node")
RUNNER = CliRunner()
AUDIENCE = "desk:interop"
PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the OpenID4VCI interop tests need it"),
    pytest.mark.skipif(
        not (INTEROP / "node_modules" / "@openid4vc" / "openid4vci").is_dir(),
        reason="tests/interop_js has no node_modules: run `npm ci --ignore-scripts` there (./dev test does)",
    ),
]


def run(*arguments: str) -> str:
    result = RUNNER.invoke(app, list(arguments))
    assert result.exit_code == 0, result.output
    return result.stdout


@contextmanager
def served_with_offer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: str) -> Iterator[tuple[str, Any]]:
    """``cityid issuer serve`` on a free port, and one clerk's offer (``settings``: more environment)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {"CITYID_ISSUER_PASSPHRASE": PASSPHRASE, "CITYID_CLERK_PASSWORD": "clerk-password-1",
                   "CITYID_ISSUER_URL": base, **settings}  # fmt: skip
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "issuer"
    run("issuer", "init", "--data", str(data))
    run("issuer", "add-clerk", "alice", "--data", str(data))
    (tmp_path / "resident.json").write_text(json.dumps(enrolled()))
    offer = json.loads(run("issuer", "offer", "--claims", str(tmp_path / "resident.json"), "--clerk", "alice",
                           "--data", str(data), "--json"))  # fmt: skip
    with issuer_process(data, None, port, tmp_path / "issuer.log", issuer_url=base):
        yield base, offer


def third_party_wallet(offer: dict[str, Any], *options: str, nonce: str) -> dict[str, Any]:
    """Run wallet.mjs on the clerk's offer; its one JSON line, or the failure with its HTTP exchanges."""
    assert NODE is not None
    command = [NODE, str(INTEROP / "wallet.mjs"), offer["offer"], offer["pin"], "--allow-http",
               f"--audience={AUDIENCE}", f"--nonce={nonce}", *options]  # a nonce may start with "-"  # fmt: skip
    done = subprocess.run(command, cwd=INTEROP, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"the third-party wallet failed:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def verify_with_cityid(base: str, tmp_path: Path, received: dict[str, Any], nonce: str) -> list[dict[str, Any]]:
    """``cityid verify`` on each presentation the third-party wallet made, with the status list."""
    (tmp_path / "issuer.json").write_text(httpx.get(f"{base}/.well-known/jwt-vc-issuer").text)
    (tmp_path / "status.jwt").write_text(httpx.get(f"{base}/status/1").text)
    results = []
    for presentation in received["presentations"]:
        result = RUNNER.invoke(app, ["verify", presentation, "--issuer-jwks", str(tmp_path / "issuer.json"),
                                     "--nonce", nonce, "--audience", AUDIENCE,
                                     "--status", str(tmp_path / "status.jwt"), "--json"])  # fmt: skip
        assert result.exit_code == 0, result.output
        results.append(json.loads(result.stdout))
    return results


def assert_received(base: str, received: dict[str, Any], per_type: int) -> None:
    assert received["credential_issuer"] == base
    assert received["configuration_ids"] == ["residency"] * per_type + ["identity"] * per_type
    assert len(received["credentials"]) == len(received["holder_keys"]) == 2 * per_type
    assert len({key["x"] for key in received["holder_keys"]}) == 2 * per_type  # a key per credential
    assert received["vct_metadata_ok"] is True
    assert received["anonymous_nonce_requests"] == 2  # the 1.0 Nonce Endpoint, before each credential request
    assert received["notifications_sent"] == 2  # credential_accepted, once per credential response
    for vct, claims in zip(received["vcts"], received["claims"], strict=True):
        assert vct.startswith(f"{base}/"), vct  # served by the issuer, which the library fetched it from
        document = received["type_metadata"][vct]
        assert document["vct"] == vct
        assert {(name,) for name in claims} <= {tuple(entry["path"]) for entry in document["claims"]}
    resident = enrolled()
    for configuration, claims in zip(received["configuration_ids"], received["claims"], strict=True):
        if configuration == "identity":
            assert {name: claims[name] for name in resident} == resident


def assert_verified(received: dict[str, Any], verified: list[dict[str, Any]]) -> None:
    for result, vct, claims in zip(verified, received["vcts"], received["claims"], strict=True):
        assert result["valid"] is True and result["status"] == "valid", result
        assert result["vct"] == vct
        assert result["claims"] == claims  # cityid reads the disclosures as @sd-jwt/sd-jwt-vc did


def test_strict_client_receives_a_batch_through_the_nonce_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nonce = secrets.token_urlsafe(16)
    with served_with_offer(tmp_path, monkeypatch) as (base, offer):
        received = third_party_wallet(offer, "--batch", "3", nonce=nonce)
        assert received["token_type"].lower() == "bearer"
        assert_received(base, received, per_type=3)
        assert_verified(received, verify_with_cityid(base, tmp_path, received, nonce))


def test_dpop_bound_token_and_legacy_proof_against_an_issuer_that_requires_dpop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nonce = secrets.token_urlsafe(16)
    with served_with_offer(tmp_path, monkeypatch, CITYID_REQUIRE_DPOP="true") as (base, offer):
        document = json.loads(parse_qs(urlsplit(offer["offer"]).query)["credential_offer"][0])
        grant = document["grants"][PRE_AUTHORIZED]
        without_dpop = httpx.post(f"{base}/token", data={
            "grant_type": PRE_AUTHORIZED, "pre-authorized_code": grant["pre-authorized_code"], "tx_code": offer["pin"],
        })  # fmt: skip
        assert without_dpop.status_code == 400 and without_dpop.json()["error"] == "invalid_dpop_proof"

        received = third_party_wallet(offer, "--dpop", "--legacy-proof", nonce=nonce)
        assert received["token_type"].lower() == "dpop"
        assert_received(base, received, per_type=1)
        assert_verified(received, verify_with_cityid(base, tmp_path, received, nonce))

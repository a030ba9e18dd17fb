"""OpenID4VCI 1.0 final at the issuer: the nonce endpoint, the 1.0 metadata, the errors the spec
names, the legacy ``proof``, DPoP (RFC 9449) and CORS for browser wallets on other origins.

The independent client libraries run against a served issuer in tests/test_interop_openid4vci.py;
these tests pin each rule on its own, with the ASGI test client."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from issuer_support import ISSUER_URL, running_issuer

from credential import SigningKey, parse_issued, sign_jwt
from issuer.db import sessions
from issuer.dpop import token_hash
from issuer.onetime import NONCE_LIFETIME, new_nonce, take_nonce
from wallet.receive import PRE_AUTHORIZED, parse_offer

RESIDENCY = {"credential_configuration_id": "residency"}


@pytest.fixture
def issuer(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_issuer(tmp_path) as running:
        yield running


def _dpop(key: SigningKey, path: str, *, access_token: str | None = None, **changes: Any) -> str:
    payload: dict[str, Any] = {"jti": secrets.token_urlsafe(12), "htm": "POST", "htu": ISSUER_URL + path,
                               "iat": int(time.time())}  # fmt: skip
    if access_token is not None:
        payload["ath"] = token_hash(access_token)
    payload.update(changes)
    return sign_jwt({"alg": "ES256", "typ": "dpop+jwt", "jwk": key.public_jwk()}, payload, key)


def _key_proof(nonce: str | None, key: SigningKey | None = None) -> str:
    key = key or SigningKey.generate()
    payload: dict[str, Any] = {"aud": ISSUER_URL, "iat": int(time.time())}
    if nonce is not None:
        payload["nonce"] = nonce
    return sign_jwt({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": key.public_jwk()}, payload, key)


def _token(issuer, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    created = issuer.offer()
    form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": parse_offer(created.offer_uri).code,
            "tx_code": created.pin}  # fmt: skip
    return issuer.client.post("/token", data=form, headers=headers or {})


def _nonce(issuer) -> str:  # type: ignore[no-untyped-def]
    answer = issuer.client.post("/nonce")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    return str(answer.json()["c_nonce"])


def test_the_metadata_has_the_1_0_shape(issuer) -> None:  # type: ignore[no-untyped-def]
    metadata = issuer.client.get("/.well-known/openid-credential-issuer").json()
    assert metadata["nonce_endpoint"] == f"{ISSUER_URL}/nonce"
    assert metadata["batch_credential_issuance"]["batch_size"] >= 10
    for name, configuration in metadata["credential_configurations_supported"].items():
        assert "display" not in configuration and "claims" not in configuration  # drafts put them here
        assert configuration["scope"] == f"cityid_{name}"
        assert configuration["vct"] == f"{ISSUER_URL}/types/{name}/1"  # what the credentials carry
        shown = configuration["credential_metadata"]
        assert {entry["locale"] for entry in shown["display"]} == {"en", "es", "zh-Hans", "ar"}
        for claim in shown["claims"]:
            assert len(claim["path"]) == 1
            labels = {entry["locale"]: entry["name"] for entry in claim["display"]}
            assert set(labels) == {"en", "es", "zh-Hans", "ar"} and labels["es"] != labels["en"]
    server = issuer.client.get("/.well-known/oauth-authorization-server").json()
    assert server["dpop_signing_alg_values_supported"] == ["ES256"]


def test_a_nonce_from_the_nonce_endpoint_issues_once(issuer) -> None:  # type: ignore[no-untyped-def]
    token = _token(issuer).json()["access_token"]
    nonce = _nonce(issuer)
    headers = {"Authorization": f"Bearer {token}"}
    first = issuer.client.post(
        "/credential", headers=headers, json={**RESIDENCY, "proofs": {"jwt": [_key_proof(nonce)]}}
    )
    assert first.status_code == 200
    issued = parse_issued(first.json()["credentials"][0]["credential"])
    assert issued.payload["iss"] == ISSUER_URL
    again = issuer.client.post(
        "/credential", headers=headers, json={**RESIDENCY, "proofs": {"jwt": [_key_proof(nonce)]}}
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_nonce"


def test_nonces_expire_and_are_stored_only_as_hashes(issuer) -> None:  # type: ignore[no-untyped-def]
    now = int(time.time())
    with sessions(issuer.engine).begin() as session:
        nonce = new_nonce(session, now=now)
    with issuer.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT value_hash FROM one_time_value").scalars().all()
    assert stored and nonce not in stored
    with sessions(issuer.engine).begin() as session:
        assert not take_nonce(session, nonce, now=now + NONCE_LIFETIME)
    with sessions(issuer.engine).begin() as session:
        assert take_nonce(session, nonce, now=now) and not take_nonce(session, nonce, now=now)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "invalid_proof"),  # no proofs at all
        ({"proofs": {"jwt": ["not.a.jwt"]}}, "invalid_proof"),
        ("no nonce", "invalid_nonce"),
        ("unknown nonce", "invalid_nonce"),
    ],
)
def test_missing_or_bad_proofs_get_the_errors_the_spec_names(issuer, body: Any, error: str) -> None:  # type: ignore[no-untyped-def]
    token = _token(issuer).json()["access_token"]
    if body == "no nonce":
        body = {"proofs": {"jwt": [_key_proof(None)]}}
    elif body == "unknown nonce":
        body = {"proofs": {"jwt": [_key_proof("made-up-nonce-1234")]}}
    answer = issuer.client.post("/credential", headers={"Authorization": f"Bearer {token}"}, json={**RESIDENCY, **body})
    assert answer.status_code == 400 and answer.json()["error"] == error


def test_the_legacy_singular_proof_is_accepted(issuer) -> None:  # type: ignore[no-untyped-def]
    token = _token(issuer).json()
    body = {**RESIDENCY, "proof": {"proof_type": "jwt", "jwt": _key_proof(token["c_nonce"])}}
    answer = issuer.client.post("/credential", headers={"Authorization": f"Bearer {token['access_token']}"}, json=body)
    assert answer.status_code == 200 and len(answer.json()["credentials"]) == 1
    both = {**body, "proofs": {"jwt": [_key_proof(_nonce(issuer))]}}
    refused = issuer.client.post("/credential", headers={"Authorization": f"Bearer {token['access_token']}"}, json=both)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_proof"


def test_a_401_says_how_to_authenticate(issuer) -> None:  # type: ignore[no-untyped-def]
    answer = issuer.client.post("/credential", json={**RESIDENCY, "proofs": {"jwt": [_key_proof("x" * 16)]}})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_a_dpop_bound_token_works_only_with_its_key(issuer) -> None:  # type: ignore[no-untyped-def]
    wallet_key = SigningKey.generate()
    answer = _token(issuer, {"DPoP": _dpop(wallet_key, "/token")})
    assert answer.status_code == 200 and answer.json()["token_type"] == "DPoP"
    token = answer.json()["access_token"]
    body = {**RESIDENCY, "proofs": {"jwt": [_key_proof(_nonce(issuer))]}}
    as_bearer = issuer.client.post("/credential", headers={"Authorization": f"Bearer {token}"}, json=body)
    assert as_bearer.status_code == 401 and as_bearer.json()["error"] == "invalid_token"
    thief = _dpop(SigningKey.generate(), "/credential", access_token=token)
    stolen = issuer.client.post("/credential", headers={"Authorization": f"DPoP {token}", "DPoP": thief}, json=body)
    assert stolen.status_code == 401 and stolen.headers["www-authenticate"].startswith("DPoP ")
    proof = _dpop(wallet_key, "/credential", access_token=token)
    good = issuer.client.post("/credential", headers={"Authorization": f"DPoP {token}", "DPoP": proof}, json=body)
    assert good.status_code == 200
    replay = issuer.client.post("/credential", headers={"Authorization": f"DPoP {token}", "DPoP": proof},
                                json={**RESIDENCY, "proofs": {"jwt": [_key_proof(_nonce(issuer))]}})  # fmt: skip
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize(
    "change",
    [{"htu": "https://evil.example/token"}, {"htm": "GET"}, {"iat": int(time.time()) - 3600}, {"jti": ""}],
)
def test_a_dpop_proof_for_another_request_is_refused(issuer, change: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    answer = _token(issuer, {"DPoP": _dpop(SigningKey.generate(), "/token", **change)})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_dpop_proof"


def test_an_issuer_that_requires_dpop_refuses_a_plain_token_request(tmp_path: Path) -> None:
    with running_issuer(tmp_path, require_dpop=True) as issuer:
        plain = _token(issuer)
        assert plain.status_code == 400 and plain.json()["error"] == "invalid_dpop_proof"
        assert _token(issuer, {"DPoP": _dpop(SigningKey.generate(), "/token")}).status_code == 200


@pytest.mark.parametrize("path", ["/.well-known/openid-credential-issuer", "/.well-known/jwt-vc-issuer", "/trust"])
def test_public_endpoints_are_open_to_other_origins(issuer, path: str) -> None:  # type: ignore[no-untyped-def]
    answer = issuer.client.get(path, headers={"Origin": "https://wallet.example"})
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers


def test_issuance_preflights_pass_and_the_clerk_pages_stay_closed(issuer) -> None:  # type: ignore[no-untyped-def]
    preflight = {"Origin": "https://wallet.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, dpop, content-type"}  # fmt: skip
    answer = issuer.client.options("/credential", headers=preflight)
    assert answer.status_code == 204 and answer.headers["access-control-allow-origin"] == "*"
    assert "dpop" in answer.headers["access-control-allow-headers"].lower()
    for closed in ("/desk", "/desk/login", "/wallet/"):
        page = issuer.client.get(closed, headers={"Origin": "https://wallet.example"})
        assert "access-control-allow-origin" not in page.headers
        assert "access-control-allow-origin" not in issuer.client.options(closed, headers=preflight).headers

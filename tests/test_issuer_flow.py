"""The issuer end to end: offer, PIN, batch of key-bound credentials, status lists, revocation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from issuer_support import ISSUER_URL, PASSPHRASE, enrolled, running_issuer

from credential import (
    VC_TYP,
    KeySet,
    Reason,
    SigningKey,
    StatusError,
    StatusReference,
    check_status,
    parse_issued,
    present,
    sign_jwt,
    verify_presentation,
    verify_status_list_token,
)
from issuer.db import sessions
from issuer.errors import IssuerError
from issuer.keys import create_key
from issuer.service import revoke_batch
from wallet.receive import PRE_AUTHORIZED, parse_offer, receive
from wallet.store import WalletError


@pytest.fixture
def issuer(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_issuer(tmp_path) as running:
        yield running


def _keys(issuer) -> KeySet:  # type: ignore[no-untyped-def]
    return KeySet.from_jwks(issuer.client.get("/.well-known/jwt-vc-issuer").json())


def test_offer_to_verified_proofs(issuer) -> None:  # type: ignore[no-untyped-def]
    received = issuer.receive(issuer.offer(), count=3)
    assert sorted(item.configuration for item in received) == ["identity"] * 3 + ["residency"] * 3
    keys, now = _keys(issuer), int(time.time())
    for item in received:
        held = parse_issued(item.credential)
        assert held.payload["iss"] == ISSUER_URL
        disclose = ["resident_of", "age_over_18"] if item.configuration == "residency" else ["given_name"]
        proof = present(held, disclose=disclose, holder_key=item.device_key, audience="desk:x", nonce="n", now=now)
        verified = verify_presentation(proof, issuer_keys=keys, audience="desk:x", nonce="n", now=now)
        assert set(verified.claims) == set(disclose)
    residency = [parse_issued(i.credential) for i in received if i.configuration == "residency"]
    assert residency[0].claims["age_over_18"] is True and residency[0].claims["age_over_65"] is False
    assert "birthdate" not in residency[0].claims


def test_one_time_credentials_share_no_key_signature_or_index(issuer) -> None:  # type: ignore[no-untyped-def]
    received = issuer.receive(issuer.offer(), count=5)
    held = [parse_issued(item.credential) for item in received]
    assert len({json.dumps(h.payload["cnf"]) for h in held}) == len(held)
    assert len({h.jwt.rsplit(".", 1)[1] for h in held}) == len(held)
    indexes = {(h.payload["status"]["status_list"]["uri"], h.payload["status"]["status_list"]["idx"]) for h in held}
    assert len(indexes) == len(held)


def test_revocation_flips_every_status_of_the_batch_only(issuer) -> None:  # type: ignore[no-untyped-def]
    first, second = issuer.offer(), issuer.offer(enrolled("Ben"))
    revoked, kept = issuer.receive(first), issuer.receive(second)
    with sessions(issuer.engine).begin() as session:
        assert revoke_batch(session, issuer.clerk(), first.revocation_code.lower().replace("-", " "), now=0) == 6
    issuer.client.app.state.runtime.status_cache.invalidate()
    keys, now = _keys(issuer), int(time.time())
    lists = {}
    for item in revoked + kept:
        reference = parse_issued(item.credential).payload["status"]["status_list"]
        if reference["uri"] not in lists:
            response = issuer.client.get(reference["uri"])
            assert response.headers["content-type"].startswith("application/statuslist+jwt")
            assert "max-age" in response.headers["cache-control"]
            lists[reference["uri"]] = verify_status_list_token(response.text, keys, uri=reference["uri"], now=now)
    for item in revoked:
        ref = parse_issued(item.credential).payload["status"]["status_list"]
        with pytest.raises(StatusError) as caught:
            check_status(StatusReference(ref["idx"], ref["uri"]), lists, now=now, max_age=60)
        assert caught.value.reason is Reason.REVOKED
    for item in kept:
        ref = parse_issued(item.credential).payload["status"]["status_list"]
        check_status(StatusReference(ref["idx"], ref["uri"]), lists, now=now, max_age=60)


def test_pin_brute_force_is_stopped(issuer) -> None:  # type: ignore[no-untyped-def]
    created = issuer.offer()
    code = parse_offer(created.offer_uri).code
    wrong = [f"{n:06d}" for n in range(1000) if f"{n:06d}" != created.pin][:5]
    reasons = []
    for pin in wrong:
        form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": code, "tx_code": pin}
        response = issuer.client.post("/token", data=form)
        assert response.status_code == 400
        reasons.append(response.json()["reason"])
    assert reasons == ["wrong_pin"] * 4 + ["offer_locked"]
    with pytest.raises(WalletError) as caught:
        issuer.receive(created)  # even the right PIN is now too late
    assert caught.value.reason == "offer_unknown"


def test_an_offer_works_once(issuer) -> None:  # type: ignore[no-untyped-def]
    created = issuer.offer()
    issuer.receive(created, count=1)
    with pytest.raises(WalletError) as caught:
        issuer.receive(created, count=1)
    assert caught.value.reason == "offer_unknown"


def test_an_expired_offer_is_refused(tmp_path: Path) -> None:
    with running_issuer(tmp_path, offer_lifetime=1) as issuer:
        created = issuer.offer()
        time.sleep(1.1)
        with pytest.raises(WalletError) as caught:
            issuer.receive(created)
        assert caught.value.reason == "offer_unknown"


def _token(issuer, created) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    code = parse_offer(created.offer_uri).code
    form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": code, "tx_code": created.pin}
    body = issuer.client.post("/token", data=form).json()
    return body["access_token"], body["c_nonce"]


def _proof(key, nonce: str, *, aud: str = ISSUER_URL, iat: int | None = None) -> str:  # type: ignore[no-untyped-def]
    header = {"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": key.public_jwk()}
    return sign_jwt(header, {"aud": aud, "iat": iat or int(time.time()), "nonce": nonce}, key)


@pytest.mark.parametrize("problem", ["same_key_twice", "wrong_audience", "stale_nonce", "old_proof", "no_token"])
def test_bad_key_proofs_are_refused(issuer, problem: str) -> None:  # type: ignore[no-untyped-def]
    token, nonce = _token(issuer, issuer.offer())
    key = SigningKey.generate("ES256")
    proofs = {
        "same_key_twice": [_proof(key, nonce), _proof(key, nonce)],
        "wrong_audience": [_proof(key, nonce, aud="https://evil.example")],
        "stale_nonce": [_proof(key, "not-the-nonce")],
        "old_proof": [_proof(key, nonce, iat=int(time.time()) - 2 * 86_400)],  # a day is allowed: the nonce is fresh
        "no_token": [_proof(key, nonce)],
    }[problem]
    headers = {} if problem == "no_token" else {"Authorization": f"Bearer {token}"}
    response = issuer.client.post(
        "/credential", headers=headers, json={"credential_configuration_id": "residency", "proofs": {"jwt": proofs}}
    )
    assert response.status_code in {400, 401}
    assert response.json()["reason"] in {"invalid_proof", "invalid_nonce", "invalid_token", "proof_clock"}


def test_a_type_asked_again_gets_a_fresh_batch_and_only_one_notification_id(issuer) -> None:  # type: ignore[no-untyped-def]
    """A repeat is how a wallet that lost the answer resumes; the first batch is revoked (see
    tests/test_resumable_issuance.py), and the first notification_id no longer counts."""
    token, nonce = _token(issuer, issuer.offer())
    request = {"credential_configuration_id": "residency", "proofs": {"jwt": [_proof(SigningKey.generate(), nonce)]}}
    first = issuer.client.post("/credential", headers={"Authorization": f"Bearer {token}"}, json=request)
    assert first.status_code == 200
    request["proofs"] = {"jwt": [_proof(SigningKey.generate(), first.json()["c_nonce"])]}
    again = issuer.client.post("/credential", headers={"Authorization": f"Bearer {token}"}, json=request)
    assert again.status_code == 200 and again.json()["credentials"] != first.json()["credentials"]
    assert again.json()["notification_id"] != first.json()["notification_id"]


def test_metadata_and_oversized_requests(issuer) -> None:  # type: ignore[no-untyped-def]
    metadata = issuer.client.get("/.well-known/openid-credential-issuer").json()
    assert metadata["credential_issuer"] == ISSUER_URL
    assert set(metadata["credential_configurations_supported"]) == {"residency", "identity"}
    assert metadata["credential_configurations_supported"]["residency"]["format"] == VC_TYP
    huge = issuer.client.post("/credential", content=b"x" * 300_000, headers={"content-type": "application/json"})
    assert huge.status_code == 413 and huge.json()["reason"] == "too_large"


def test_rotation_keeps_old_keys_published_while_their_credentials_live(issuer) -> None:  # type: ignore[no-untyped-def]
    received = issuer.receive(issuer.offer(), count=1)
    old_kid = json.loads(__import__("base64").urlsafe_b64decode(received[0].credential.split(".")[0] + "==="))["kid"]
    with sessions(issuer.engine).begin() as session:
        new_kid = create_key(session, PASSPHRASE, now=int(time.time()))
    assert set(_keys(issuer)) == {old_kid, new_kid}
    after = issuer.receive(issuer.offer(), count=1)
    assert (
        f'"kid":"{new_kid}"'
        in __import__("base64").urlsafe_b64decode(after[0].credential.split(".")[0] + "===").decode()
    )


def test_an_offer_for_a_malformed_resident_is_refused(issuer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IssuerError) as caught:
        issuer.offer({**enrolled(), "birthdate": "17/05/1990"})
    assert caught.value.reason == "invalid_claims"
    with pytest.raises(IssuerError):
        issuer.offer({**enrolled(), "ssn": "123"})


def test_a_wallet_refuses_a_credential_signed_by_someone_else(tmp_path: Path) -> None:
    with running_issuer(tmp_path / "a") as first, running_issuer(tmp_path / "b") as second:
        created = first.offer()
        with pytest.raises(WalletError) as caught:  # keys come from the second issuer's metadata
            receive(parse_offer(created.offer_uri), created.pin, count=1, client=_Mixed(first.client, second.client))
        assert caught.value.reason == "invalid_credential"


class _Mixed:
    """A client that fetches the issuer's keys from another issuer: a key-substitution attack."""

    def __init__(self, real, other) -> None:  # type: ignore[no-untyped-def]
        self.real, self.other = real, other

    def get(self, url: str, **kwargs):  # type: ignore[no-untyped-def]
        return (self.other if url.endswith("jwt-vc-issuer") else self.real).get(url, **kwargs)

    def post(self, url: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.real.post(url, **kwargs)

"""Interoperability with the reference implementation, sd-jwt 0.10.4 (jwcrypto underneath).

Both directions: the reference verifies what we issue and present (also after a trip
through our QR codec), and we verify what the reference issues and presents, including
nested and array disclosures, decoys and its JSON spelling (spaces after separators).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier
from support import AUD, ISS, NONCE, Keys, issue_any, issue_residency

from credential import (
    CredentialError,
    KeySet,
    Reason,
    SigningKey,
    VerifyingKey,
    decode_qr_text,
    encode_qr_text,
    present,
    qr_context,
    verify_presentation,
)


def _jwcrypto(key: VerifyingKey) -> JWK:
    return JWK.from_json(json.dumps(key.to_jwk()))


def _reference_verify(presentation: str, keys: Keys) -> dict[str, Any]:
    issuer_key = _jwcrypto(keys.issuer.verifying_key())
    verifier = SDJWTVerifier(presentation, lambda _iss, _header: issuer_key, expected_aud=AUD, expected_nonce=NONCE)
    payload: dict[str, Any] = verifier.get_verified_payload()
    return payload


def _through_cid2(presentation: str) -> str:
    """The presentation as a desk rebuilds it from ``CID2:``: the same bytes, for any implementation."""
    text = encode_qr_text(presentation, version=2, answers_request=True)
    assert text.startswith("CID2:")
    return decode_qr_text(text, context=qr_context(nonce=NONCE, audience=AUD))


def _ours_present(keys: Keys, issued: str, disclose: list[Any]) -> str:
    return present(issued, disclose=disclose, holder_key=keys.holder, audience=AUD, nonce=NONCE, now=int(time.time()))


def test_reference_verifies_our_residency_proof(keys: Keys) -> None:
    proof = _ours_present(keys, issue_residency(keys, now=int(time.time())), ["resident_of", "age_over_18"])
    for text in (proof, decode_qr_text(encode_qr_text(proof)), _through_cid2(proof)):
        payload = _reference_verify(text, keys)
        assert payload["resident_of"] == "Riverton"
        assert payload["age_over_18"] is True
        assert "age_over_21" not in payload
        assert "age_over_65" not in payload
        assert payload["vct"] == "urn:cityid:residency:1"


def test_reference_verifies_our_nested_and_array_disclosures(keys: Keys) -> None:
    now = int(time.time())
    claims = {"address": {"locality": "Riverton", "postal_code": "10027"}, "languages": ["es", "en", "zh"]}
    issued = issue_any(keys, claims, issued_at=now, expires_at=now + 3600)
    proof = _ours_present(keys, issued, [("address", "locality"), ("languages", 2)])
    payload = _reference_verify(proof, keys)
    assert payload["address"] == {"locality": "Riverton"}
    assert payload["languages"] == ["zh"]


def test_reference_rejects_our_proof_for_another_nonce(keys: Keys) -> None:
    proof = _ours_present(keys, issue_residency(keys, now=int(time.time())), ["resident_of"])
    issuer_key = _jwcrypto(keys.issuer.verifying_key())
    with pytest.raises(ValueError, match="nonce"):
        SDJWTVerifier(proof, lambda _iss, _header: issuer_key, expected_aud=AUD, expected_nonce="other")


@pytest.fixture(scope="module")
def reference_keys() -> tuple[JWK, JWK]:
    return JWK.generate(kty="EC", crv="P-256", kid="ref-issuer"), JWK.generate(kty="EC", crv="P-256")


def _reference_issue(reference_keys: tuple[JWK, JWK], *, decoys: bool) -> str:
    issuer, holder = reference_keys
    now = int(time.time())
    claims = {
        "iss": ISS,
        "iat": now - 60,
        "exp": now + 3600,
        "vct": "urn:cityid:identity:1",
        SDObj("given_name"): "Ana Lucía",
        SDObj("family_name"): "Flores",
        SDObj("address"): {SDObj("locality"): "Riverton", SDObj("postal_code"): "10027", "country": "US"},
        "nationalities": [SDObj("ES"), SDObj("US")],
    }
    holder_public = JWK.from_json(holder.export_public())
    issuer_sd_jwt = SDJWTIssuer(
        claims,
        issuer,
        holder_public,
        add_decoy_claims=decoys,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": "ref-issuer"},
    )
    issuance: str = issuer_sd_jwt.sd_jwt_issuance
    return issuance


@pytest.mark.parametrize("decoys", [False, True])
def test_we_verify_what_the_reference_issues_and_presents(reference_keys: tuple[JWK, JWK], decoys: bool) -> None:
    issuer, holder = reference_keys
    issuance = _reference_issue(reference_keys, decoys=decoys)
    wallet = SDJWTHolder(issuance)
    wallet.create_presentation(
        {"given_name": True, "address": {"locality": True}, "nationalities": [False, True]},
        nonce=NONCE,
        aud=AUD,
        holder_key=holder,
        sign_alg="ES256",
    )
    presentation: str = wallet.sd_jwt_presentation
    trusted = KeySet([VerifyingKey.from_jwk(json.loads(issuer.export_public()))])
    for text in (presentation, decode_qr_text(encode_qr_text(presentation)), _through_cid2(presentation)):
        verified = verify_presentation(text, issuer_keys=trusted, audience=AUD, nonce=NONCE, now=int(time.time()))
        assert verified.claims == {
            "given_name": "Ana Lucía",
            "address": {"locality": "Riverton", "country": "US"},
            "nationalities": ["US"],
        }


def test_we_refuse_a_reference_presentation_for_another_audience(reference_keys: tuple[JWK, JWK]) -> None:
    issuer, holder = reference_keys
    wallet = SDJWTHolder(_reference_issue(reference_keys, decoys=False))
    wallet.create_presentation({"given_name": True}, nonce=NONCE, aud="desk:elsewhere", holder_key=holder)
    trusted = KeySet([VerifyingKey.from_jwk(json.loads(issuer.export_public()))])
    with pytest.raises(CredentialError) as caught:
        verify_presentation(
            wallet.sd_jwt_presentation, issuer_keys=trusted, audience=AUD, nonce=NONCE, now=int(time.time())
        )
    assert caught.value.reason is Reason.AUDIENCE_MISMATCH


def test_our_holder_presents_what_the_reference_issued(reference_keys: tuple[JWK, JWK]) -> None:
    """Our wallet code can hold a credential from another issuer implementation."""
    issuer, holder = reference_keys
    holder_key = SigningKey("ES256", _private_key(holder))
    proof = present(
        _reference_issue(reference_keys, decoys=True),
        disclose=["family_name"],
        holder_key=holder_key,
        audience=AUD,
        nonce=NONCE,
        now=int(time.time()),
    )
    trusted = KeySet([VerifyingKey.from_jwk(json.loads(issuer.export_public()))])
    verified = verify_presentation(proof, issuer_keys=trusted, audience=AUD, nonce=NONCE, now=int(time.time()))
    assert verified.claims == {"family_name": "Flores", "nationalities": []}


def _private_key(jwk: JWK) -> Any:
    return load_pem_private_key(jwk.export_to_pem(private_key=True, password=None), password=None)

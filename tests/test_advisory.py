"""Security regressions, each named after what it guards against.

Several show a weakness of the reference implementation (sd-jwt 0.10.4) next to our
behaviour, so the difference is on record and cannot quietly come back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier
from support import (
    AUD,
    NONCE,
    NOW,
    Keys,
    encode_segment,
    issue_any,
    issue_residency,
    present_to_desk,
    resign_issuer_jwt,
    resign_kb,
    verify_at_desk,
)

from credential import CredentialError, Reason, SigningKey
from credential._encoding import b64url_encode
from credential._jws import sign_jwt
from credential._sdjwt import make_disclosure

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _reason(keys: Keys, presentation: str, **overrides: object) -> Reason:
    with pytest.raises(CredentialError) as caught:
        verify_at_desk(keys, presentation, **overrides)
    return caught.value.reason


def _reference_accepts(keys: Keys, presentation: str) -> bool:
    issuer_key = JWK.from_json(json.dumps(keys.issuer.verifying_key().to_jwk()))
    try:
        SDJWTVerifier(
            presentation, lambda _i, _h: issuer_key, expected_aud=AUD, expected_nonce=NONCE
        ).get_verified_payload()
    except Exception:
        return False
    return True


def test_expired_credential_is_refused_though_the_reference_accepts_it(keys: Keys) -> None:
    now = int(time.time())
    expired = issue_any(keys, {"resident_of": "Riverton"}, issued_at=now - 10 * 86_400, expires_at=now - 86_400)
    proof = present_to_desk(keys, expired, disclose=["resident_of"], now=now)
    assert _reference_accepts(keys, proof)
    assert _reason(keys, proof, now=now) is Reason.EXPIRED


def test_unreferenced_disclosure_is_refused_though_the_reference_ignores_it(keys: Keys) -> None:
    now = int(time.time())
    proof = present_to_desk(keys, issue_residency(keys, now=now), now=now)
    jwt, *disclosures, _ = proof.split("~")
    smuggled = make_disclosure("c211Z2dsZWQtc2FsdC0xMjM", "age_over_65", True)
    forged = resign_kb(keys, "~".join((jwt, *disclosures, smuggled, "")), iat=now)
    assert _reference_accepts(keys, forged)
    assert _reason(keys, forged, now=now) is Reason.DIGEST_MISMATCH


def test_key_binding_is_not_skipped_when_a_verifier_omits_nonce_and_audience(keys: Keys) -> None:
    """The reference skips KB checks when aud/nonce are not given; we refuse to run without them."""
    proof = present_to_desk(keys, issue_residency(keys))
    with pytest.raises(ValueError, match="audience and nonce"):
        verify_at_desk(keys, proof, audience=None, nonce=None)
    assert _reason(keys, proof.rsplit("~", 1)[0] + "~") is Reason.KB_MISSING


def test_alg_none_is_refused(keys: Keys) -> None:
    proof = present_to_desk(keys, issue_residency(keys))
    jwt, rest = proof.split("~", 1)
    _, payload, _ = jwt.split(".")
    unsigned = encode_segment({"alg": "none", "typ": "dc+sd-jwt", "kid": "k1"}) + "." + payload + "."
    assert _reason(keys, f"{unsigned}~{rest}") is Reason.UNSUPPORTED_ALGORITHM


def test_hmac_with_the_public_key_as_secret_is_refused(keys: Keys) -> None:
    """Algorithm confusion: an attacker 'signs' with HS256 using the issuer's public JWK as the secret."""
    proof = present_to_desk(keys, issue_residency(keys))
    jwt, rest = proof.split("~", 1)
    _, payload, _ = jwt.split(".")
    header = encode_segment({"alg": "HS256", "typ": "dc+sd-jwt", "kid": "k1"})
    secret = json.dumps(keys.issuer.verifying_key().to_jwk()).encode()
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert _reason(keys, f"{header}.{payload}.{b64url_encode(mac)}~{rest}") is Reason.UNSUPPORTED_ALGORITHM


@pytest.mark.parametrize(
    "signature",
    [
        bytes(64),  # CVE-2022-21449 "psychic signature": r = s = 0
        P256_ORDER.to_bytes(32, "big") * 2,  # r = s = n
        (P256_ORDER + 1).to_bytes(32, "big") + (1).to_bytes(32, "big"),  # r > n
        b"\xff" * 64,
    ],
)
def test_out_of_range_ecdsa_signatures_are_bad_signatures(keys: Keys, signature: bytes) -> None:
    proof = present_to_desk(keys, issue_residency(keys))
    jwt, rest = proof.split("~", 1)
    header, payload, _ = jwt.split(".")
    assert _reason(keys, f"{header}.{payload}.{b64url_encode(signature)}~{rest}") is Reason.BAD_SIGNATURE


def test_a_key_embedded_in_the_header_is_never_trusted(keys: Keys) -> None:
    """jwk / jku / x5u / x5c headers name keys or URLs: the verifier uses only its own key set."""
    attacker = SigningKey.generate(kid="k1")
    proof = present_to_desk(keys, issue_residency(keys))
    jwt, rest = proof.split("~", 1)
    _, payload_segment, _ = jwt.split(".")
    payload = json.loads(__import__("base64").urlsafe_b64decode(payload_segment + "=="))
    header = {
        "alg": "ES256",
        "typ": "dc+sd-jwt",
        "kid": "k1",
        "jwk": attacker.public_jwk(),
        "jku": "https://attacker.example/jwks",
        "x5u": "https://attacker.example/cert",
    }
    forged = sign_jwt(header, payload, attacker)
    assert _reason(keys, f"{forged}~{rest}") is Reason.BAD_SIGNATURE


@pytest.mark.parametrize("kid", ["../../etc/passwd", "k1\x00", "K1", "k1 ", ""])
def test_kid_is_only_ever_an_exact_lookup(keys: Keys, kid: str) -> None:
    proof = present_to_desk(keys, issue_residency(keys))
    assert _reason(keys, resign_issuer_jwt(keys, proof, header={"alg": "ES256", "typ": "dc+sd-jwt", "kid": kid})) is (
        Reason.UNKNOWN_KEY
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b'{"alg":"none","typ":"dc+sd-jwt","kid":"k1","alg":"ES256"}', Reason.BAD_SIGNATURE),
        (b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"k1","alg":"none"}', Reason.UNSUPPORTED_ALGORITHM),
    ],
)
def test_duplicate_header_members_cannot_smuggle_an_algorithm(keys: Keys, header: bytes, reason: Reason) -> None:
    """The last duplicate wins (RFC 7515 section 4): whichever it is, it passes every check or fails."""
    proof = present_to_desk(keys, issue_residency(keys))
    jwt, rest = proof.split("~", 1)
    _, payload, signature = jwt.split(".")
    assert _reason(keys, f"{b64url_encode(header)}.{payload}.{signature}~{rest}") is reason


def test_a_holder_key_with_private_material_is_refused(keys: Keys) -> None:
    proof = present_to_desk(keys, issue_residency(keys))
    leaky = {**keys.holder.public_jwk(), "d": "c2VjcmV0"}
    assert _reason(keys, resign_issuer_jwt(keys, proof, cnf={"jwk": leaky})) is Reason.HOLDER_KEY_INVALID


def test_a_proof_cannot_be_replayed_to_the_same_desk_later(keys: Keys) -> None:
    """The nonce is the desk's one-time challenge; the KB-JWT's iat bounds how long a copy is useful."""
    proof = present_to_desk(keys, issue_residency(keys))
    assert _reason(keys, proof, now=NOW + 3600) is Reason.KB_NOT_FRESH

"""Security regressions, each named after what it guards against.

Several show a weakness of the reference implementation (sd-jwt 0.10.4) next to our
behaviour, so the difference is on record and cannot quietly come back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st
from issuer_support import running_issuer
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier
from support import (
    AUD,
    ISS,
    NONCE,
    NOW,
    STATUS,
    Keys,
    encode_segment,
    issue_any,
    issue_residency,
    present_to_desk,
    resign_issuer_jwt,
    resign_kb,
    verify_at_desk,
)

from credential import (
    DEFAULT_LIMITS,
    IDENTITY,
    RESIDENCY,
    CredentialError,
    KeySet,
    Reason,
    SigningKey,
    issue_credential,
)
from credential._encoding import b64url_encode
from credential._jws import sign_jwt, verify_jwt_with_header_key
from credential._keys import load_public_jwk
from credential._sdjwt import make_disclosure, sd_hash
from issuer.service import PRE_AUTHORIZED
from wallet.receive import parse_offer

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


# --- Holder keys that nobody holds: Ed25519 points of small order (issue: weak holder keys) ---

_ED_P = 2**255 - 19
_ED_D = -121665 * pow(121666, -1, _ED_P) % _ED_P
_ED_L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the base point


def _ed_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = _ED_D * x1 * x2 * y1 * y2 % _ED_P
    return (x1 * y2 + y1 * x2) * pow(1 + t, -1, _ED_P) % _ED_P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, _ED_P) % _ED_P


def _ed_times(scalar: int, point: tuple[int, int]) -> tuple[int, int]:
    result = (0, 1)
    while scalar:
        if scalar & 1:
            result = _ed_add(result, point)
        point, scalar = _ed_add(point, point), scalar >> 1
    return result


def _ed_decode(raw: bytes) -> tuple[int, int] | None:
    """RFC 8032 5.1.3 point decoding, lenient on y >= p (what a permissive library does)."""
    sign, y = raw[31] >> 7, int.from_bytes(raw, "little") & ((1 << 255) - 1)
    y %= _ED_P
    x2 = (y * y - 1) * pow(_ED_D * y * y + 1, -1, _ED_P) % _ED_P
    x = pow(x2, (_ED_P + 3) // 8, _ED_P)
    if x * x % _ED_P != x2:
        x = x * pow(2, (_ED_P - 1) // 4, _ED_P) % _ED_P
    if x * x % _ED_P != x2:
        return None
    return (_ED_P - x if x & 1 != sign else x) % _ED_P, y


def _ed_encode(point: tuple[int, int]) -> bytes:
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _torsion_points() -> list[tuple[int, int]]:
    """The 8 points of small order, found from the curve itself: [L]Q for a random point Q
    lies in the torsion subgroup; one of order 8 generates all of it."""
    for seed in range(1, 200):
        q = _ed_decode(hashlib.sha256(bytes([seed])).digest())
        if q is None:
            continue
        t = _ed_times(_ED_L, q)
        if _ed_times(4, t) != (0, 1):  # order 8
            points = [_ed_times(k, t) for k in range(8)]
            assert len(set(points)) == 8
            return points
    raise AssertionError("no point of order 8 found")


TORSION = _torsion_points()


def _okp(raw: bytes) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


def test_openssl_alone_would_accept_a_signature_for_the_identity_key() -> None:
    """Why the check exists: R = identity, S = 0 'verifies' under the identity key for any message."""
    identity = _ed_encode((0, 1))
    assert b64url_encode(identity).startswith("AQAAAA")
    Ed25519PublicKey.from_public_bytes(identity).verify(identity + bytes(32), b"any message at all")


@pytest.mark.parametrize("point", TORSION, ids=[f"torsion{k}" for k in range(8)])
def test_small_order_ed25519_holder_keys_are_refused(point: tuple[int, int], ed_keys: Keys) -> None:
    """A credential bound to a small-order key is bound to nobody: refused as cnf, in a key
    proof's header (the issuer), and as a trusted key."""
    raw = _ed_encode(point)
    jwk = _okp(raw)
    with pytest.raises(CredentialError) as caught:
        load_public_jwk(jwk)
    assert caught.value.reason is Reason.INVALID_KEY
    # at the verifier, in cnf, with the forged key binding R = identity, S = 0
    proof = present_to_desk(ed_keys, issue_residency(ed_keys))
    jwt, *disclosures, _ = proof.split("~")
    forged = resign_issuer_jwt(ed_keys, "~".join((jwt, *disclosures, "")), cnf={"jwk": jwk})
    kb_payload = {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(forged.split("~")[0], disclosures)}
    kb = f"{encode_segment({'alg': 'EdDSA', 'typ': 'kb+jwt'})}.{encode_segment(kb_payload)}."
    kb += b64url_encode(_ed_encode((0, 1)) + bytes(32))
    assert _reason(ed_keys, forged + kb) is Reason.HOLDER_KEY_INVALID
    # at the issuer: an OpenID4VCI key proof carrying the key in its header
    proof_jwt = f"{encode_segment({'alg': 'EdDSA', 'typ': 'openid4vci-proof+jwt', 'jwk': jwk})}."
    proof_jwt += (
        f"{encode_segment({'aud': ISS, 'nonce': 'n', 'iat': NOW})}.{b64url_encode(_ed_encode((0, 1)) + bytes(32))}"
    )
    with pytest.raises(CredentialError) as caught:
        verify_jwt_with_header_key(proof_jwt, typ="openid4vci-proof+jwt", what="a key proof", limits=DEFAULT_LIMITS)
    assert caught.value.reason is Reason.INVALID_KEY
    with pytest.raises(CredentialError):
        KeySet.from_jwks({"keys": [{**jwk, "kid": "small"}]})


@pytest.mark.parametrize("y", [_ED_P, _ED_P + 1, _ED_P + 18, 2**255 - 1], ids=["p", "p+1", "p+18", "2^255-1"])
@pytest.mark.parametrize("sign", [0, 1])
def test_non_canonical_ed25519_encodings_are_refused(y: int, sign: int) -> None:
    with pytest.raises(CredentialError) as caught:
        load_public_jwk(_okp((y | sign << 255).to_bytes(32, "little")))
    assert caught.value.reason is Reason.INVALID_KEY


@given(st.binary(min_size=32, max_size=32))
def test_every_accepted_ed25519_key_is_canonical_and_of_large_order(raw: bytes) -> None:
    try:
        load_public_jwk(_okp(raw))
    except CredentialError as exc:
        assert exc.reason is Reason.INVALID_KEY
        return
    point = _ed_decode(raw)
    assert int.from_bytes(raw, "little") & ((1 << 255) - 1) < _ED_P
    assert point is None or _ed_times(8, point) != (0, 1)  # off-curve bytes fail every signature check


def test_real_ed25519_holder_keys_still_work(ed_keys: Keys) -> None:
    for _ in range(50):
        load_public_jwk(SigningKey.generate("EdDSA").public_jwk())
    assert verify_at_desk(ed_keys, present_to_desk(ed_keys, issue_residency(ed_keys))).key_bound


# --- Key-binding JWT exp and nbf (RFC 7519 sections 4.1.4 and 4.1.5) ---


@pytest.mark.parametrize(
    ("changes", "valid"),
    [
        ({"exp": NOW - 61}, False),  # expired beyond the clock skew
        ({"exp": NOW - 30}, True),  # within the skew, as for iat
        ({"exp": NOW + 60}, True),
        ({"nbf": NOW + 61}, False),
        ({"nbf": NOW + 30}, True),
        ({"exp": str(NOW + 60)}, False),
        ({"exp": True}, False),
        ({"nbf": None}, False),
        ({"exp": NOW + 60, "nbf": NOW - 10}, True),
    ],
)
def test_key_binding_exp_and_nbf_are_checked(keys: Keys, changes: dict[str, object], valid: bool) -> None:
    proof = resign_kb(keys, present_to_desk(keys, issue_residency(keys)), **changes)
    if valid:
        assert verify_at_desk(keys, proof).key_bound
    else:
        assert _reason(keys, proof) is Reason.KB_NOT_FRESH


# --- Booleans that are strings: a desk must never show "false" as "is 18 or older" ---


@pytest.mark.parametrize("vct", [RESIDENCY.vct, "urn:example:other:1"])
@pytest.mark.parametrize("value", ["false", "true", 0, 1, None, [], {}])
def test_age_claims_must_be_json_booleans(keys: Keys, vct: str, value: object) -> None:
    claims = {"resident_of": "Riverton", "age_over_18": value, "age_over_21": False, "age_over_65": False}
    issued = issue_any(keys, claims, vct=vct, status=STATUS)
    proof = present_to_desk(keys, issued)
    assert _reason(keys, proof) is Reason.INVALID_CLAIM


@pytest.mark.parametrize(
    ("claims", "disclose"),
    [
        ({"given_name": 42}, ["given_name"]),
        ({"birthdate": "14/06/1991"}, ["birthdate"]),
        ({"birthdate": "1991-02-30"}, ["birthdate"]),
        ({"address": "Main St 1"}, ["address"]),
        ({"address": {"locality": ["Riverton"]}}, ["address"]),
        ({"address": {"planet": "Mars"}}, ["address"]),
    ],
)
def test_identity_claims_are_type_checked_at_the_verifier(
    keys: Keys, claims: dict[str, object], disclose: list[str]
) -> None:
    issued = issue_any(keys, {"resident_of": "Riverton", **claims}, vct=IDENTITY.vct, status=STATUS)
    assert _reason(keys, present_to_desk(keys, issued, disclose=disclose)) is Reason.INVALID_CLAIM


def test_a_partly_disclosed_address_is_still_accepted(keys: Keys) -> None:
    address = {"street_address": "1 Main St", "locality": "Riverton", "region": "RV", "postal_code": "00001",
               "country": "US"}  # fmt: skip
    claims = {"given_name": "Ana", "family_name": "Lee", "birthdate": "1991-06-14", "address": address,
              "resident_of": "Riverton"}  # fmt: skip
    issued = issue_credential(IDENTITY, claims, issuer_key=keys.issuer, iss=ISS, holder_jwk=keys.holder.public_jwk(),
                              now=NOW, status=STATUS)  # fmt: skip
    verified = verify_at_desk(keys, present_to_desk(keys, issued, disclose=[("address", "locality"), "birthdate"]))
    assert verified.claims == {"address": {"locality": "Riverton"}, "birthdate": "1991-06-14"}


def _answer_to_one_key_proof(tmp_path: Path, make_proof: Callable[[str, str], str]) -> tuple[int, dict[str, str]]:
    """Redeem an offer, send ``make_proof(issuer_url, c_nonce)`` to ``/credential``."""
    with running_issuer(tmp_path) as issuer:
        created = issuer.offer()
        offer = parse_offer(created.offer_uri)
        token = issuer.client.post(
            "/token", data={"grant_type": PRE_AUTHORIZED, "pre-authorized_code": offer.code, "tx_code": created.pin}
        ).json()
        response = issuer.client.post(
            "/credential",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            json={"credential_configuration_id": "residency",
                  "proofs": {"jwt": [make_proof(issuer.settings.issuer_url, token["c_nonce"])]}},
        )  # fmt: skip
        return response.status_code, response.json()


def test_the_issuer_refuses_a_key_proof_for_a_small_order_key(tmp_path: Path) -> None:
    """The attack end to end: /credential must not bind a credential to the identity point."""

    def forged(audience: str, nonce: str) -> str:
        identity = _ed_encode((0, 1))
        header = {"alg": "EdDSA", "typ": "openid4vci-proof+jwt", "jwk": _okp(identity)}
        body = {"aud": audience, "nonce": nonce, "iat": int(time.time())}
        return f"{encode_segment(header)}.{encode_segment(body)}.{b64url_encode(identity + bytes(32))}"

    status, answer = _answer_to_one_key_proof(tmp_path, forged)
    assert (status, answer["reason"]) == (400, "invalid_proof")
    assert "small order" in answer["error_description"]


DAY = 86_400


@pytest.mark.parametrize(
    ("changes", "issued"),
    [({"exp": -DAY - 61}, False), ({"nbf": DAY + 120}, False), ({"exp": -61}, True), ({"exp": 600}, True)],
)
def test_the_issuer_checks_a_key_proofs_exp_and_nbf(tmp_path: Path, changes: dict[str, int], issued: bool) -> None:
    """Within a day of the issuer's clock the fresh nonce proves freshness (a phone's clock minutes
    off must not lose the offer); beyond it, the proof is refused and the phone's clock named."""
    device = SigningKey.generate()

    def proof(audience: str, nonce: str) -> str:
        now = int(time.time())
        body = {"aud": audience, "nonce": nonce, "iat": now, **{name: now + delta for name, delta in changes.items()}}
        return sign_jwt({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": device.public_jwk()}, body, device)

    status, answer = _answer_to_one_key_proof(tmp_path, proof)
    assert (
        status == 200
        if issued
        else (status, answer["error"], answer["reason"]) == (400, "invalid_proof", "proof_clock")
    )
    assert issued or "date and time on your phone" in answer["error_description"]

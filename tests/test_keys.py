"""Keys: the closed algorithm allow-list, strict JWK import, thumbprints, and published vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from credential import InvalidKeyError, KeySet, Reason, SigningKey, VerifyingKey, jwk_thumbprint
from credential._encoding import b64url_decode
from credential._keys import der_signature

VECTORS = Path(__file__).parent / "vectors"


def _jws_parts(path: Path) -> tuple[bytes, bytes]:
    header, payload, signature = path.read_text().strip().split(".")
    return f"{header}.{payload}".encode(), b64url_decode(signature)


def test_rfc8037_ed25519_vectors() -> None:
    folder = VECTORS / "jose-rfc8037-ed25519"
    jwk = json.loads((folder / "jwk.json").read_text())
    assert jwk_thumbprint(jwk) == (folder / "thumbprint.txt").read_text().strip()
    signing_input, signature = _jws_parts(folder / "jws.txt")
    assert VerifyingKey.from_jwk(jwk).is_valid_signature(signature, signing_input)
    private = Ed25519PrivateKey.from_private_bytes(b64url_decode((folder / "private-d.txt").read_text().strip()))
    key = SigningKey("EdDSA", private)
    assert key.sign(signing_input) == signature
    assert key.public_jwk() == jwk


def test_rfc7515_es256_vector() -> None:
    folder = VECTORS / "jose-rfc7515-es256"
    key = VerifyingKey.from_jwk(json.loads((folder / "jwk.json").read_text()))
    signing_input, signature = _jws_parts(folder / "jws.txt")
    assert key.alg == "ES256"
    assert key.is_valid_signature(signature, signing_input)
    assert not key.is_valid_signature(signature, signing_input + b" ")
    assert not key.is_valid_signature(signature[:63], signing_input)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_sign_and_verify_round_trip(alg: str) -> None:
    key = SigningKey.generate(alg, kid="a")  # type: ignore[arg-type]
    signature = key.sign(b"data")
    assert len(signature) == 64
    public = VerifyingKey.from_jwk(key.public_jwk())
    assert public.alg == alg
    assert public.is_valid_signature(signature, b"data")
    assert not public.is_valid_signature(signature, b"datA")


_HALVES = st.one_of(  # leading zero bytes, a set top bit, zero itself: every case of the minimal encoding
    st.binary(min_size=32, max_size=32),
    st.tuples(st.integers(0, 32), st.binary(min_size=32, max_size=32)).map(lambda z: bytes(z[0]) + z[1][z[0] :]),
    st.sampled_from([bytes(32), bytes(31) + b"\x80", b"\x80" + bytes(31), b"\xff" * 32, bytes(31) + b"\x01"]),
)


@given(_HALVES, _HALVES)
def test_the_der_of_a_jose_signature_is_the_one_encode_dss_signature_makes(r: bytes, s: bytes) -> None:
    expected = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    assert der_signature(r + s) == expected


def test_es256_signatures_are_deterministic() -> None:
    """RFC 6979: no signing-time randomness to get wrong."""
    key = SigningKey.generate()
    assert key.sign(b"same input") == key.sign(b"same input")


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "oct", "k": "c2VjcmV0"},  # an HMAC secret is never a verifying key
        {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},  # no y
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},  # wrong length
        {  # a point not on the curve
            "kty": "EC",
            "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        },
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "alg": "ES256"},
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": 7},
        ["not", "an", "object"],
    ],
)
def test_jwk_import_refuses_what_is_not_an_allowed_public_key(jwk: object) -> None:
    with pytest.raises(InvalidKeyError) as caught:
        VerifyingKey.from_jwk(jwk)
    assert caught.value.reason is Reason.INVALID_KEY


def test_key_set_round_trips_and_binds_metadata_keys_to_their_issuer() -> None:
    keys = KeySet([SigningKey.generate(kid="a").verifying_key(), SigningKey.generate("EdDSA", kid="b").verifying_key()])
    again = KeySet.from_jwks(json.loads(json.dumps(keys.to_jwks())))
    assert sorted(again) == ["a", "b"]
    assert again["b"].alg == "EdDSA"
    assert all(key.issuer is None for key in again.values())
    metadata = {"issuer": "https://id.example", "jwks": keys.to_jwks()}
    assert {key.issuer for key in KeySet.from_jwks(metadata).values()} == {"https://id.example"}


@pytest.mark.parametrize(
    "jwks",
    [
        {},
        {"keys": []},
        {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]},  # no kid
        {
            "keys": [
                {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "x"},
                {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "x"},
            ]
        },
    ],
)
def test_key_set_import_refuses_unusable_sets(jwks: dict[str, object]) -> None:
    with pytest.raises(InvalidKeyError):
        KeySet.from_jwks(jwks)


def test_there_is_no_way_to_make_a_key_for_another_algorithm() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        SigningKey.generate("HS256")  # type: ignore[arg-type]

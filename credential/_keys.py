"""Signing and verifying keys for the two algorithms cityid allows: ES256 and EdDSA (Ed25519).

The allow-list is closed: there is no way to construct a key for ``none``, HMAC or RSA, so
no header can talk a verifier into one. Public keys travel as JWKs; :class:`KeySet` is the
verifier's view of trusted issuer keys, looked up by ``kid`` with the algorithm pinned by
the key, never by the token.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ._encoding import b64url_decode, b64url_encode
from ._errors import MalformedError, Reason

Algorithm = Literal["ES256", "EdDSA"]
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset({"ES256", "EdDSA"})

_P256 = ec.SECP256R1()
# RFC 6979 deterministic nonces: no signing-time randomness to get wrong, reproducible vectors.
_ECDSA_SIGN = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_ECDSA_VERIFY = ec.ECDSA(hashes.SHA256())
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class InvalidKeyError(MalformedError):
    """A JWK or JWKS is not an acceptable public key (reason ``invalid_key``)."""


def _invalid(message: str) -> InvalidKeyError:
    return InvalidKeyError(Reason.INVALID_KEY, message)


PublicKey = ec.EllipticCurvePublicKey | Ed25519PublicKey


def is_valid_signature(alg: str, public_key: PublicKey, signature: bytes, signing_input: bytes) -> bool:
    """True when ``signature`` (JOSE raw form) by ``public_key`` signs ``signing_input``."""
    if len(signature) != 64:
        return False
    try:
        if alg == "ES256":
            public_key.verify(der_signature(signature), signing_input, _ECDSA_VERIFY)  # type: ignore[call-arg]  # alg pins the key type
        else:
            public_key.verify(signature, signing_input)  # type: ignore[call-arg]
    except InvalidSignature:
        return False
    return True


_INTEGER_HEADERS = [bytes((2, length)) for length in range(34)]


def der_signature(raw: bytes) -> bytes:
    """The DER ``ECDSA-Sig-Value`` of a 64-byte JOSE ``r || s`` (what ``cryptography`` verifies):
    each half a minimal big-endian INTEGER, a zero byte in front when its top bit is set. Built
    from the bytes, as ``encode_dss_signature`` would from the two numbers, at a third less cost."""
    r, s = raw[:32].lstrip(b"\0") or b"\0", raw[32:].lstrip(b"\0") or b"\0"
    if r[0] > 0x7F:
        r = b"\0" + r
    if s[0] > 0x7F:
        s = b"\0" + s
    return b"".join((b"\x30", bytes((len(r) + len(s) + 4,)), _INTEGER_HEADERS[len(r)], r, _INTEGER_HEADERS[len(s)], s))


_MINIMAL_EC_MEMBERS = {"kty", "crv", "x", "y"}


_DECOMPRESSED: dict[tuple[str, str], ec.EllipticCurvePublicKey] = {}
_DECOMPRESSED_KEPT = 64


def remember_p256_point(x: str, y: str, key: ec.EllipticCurvePublicKey) -> None:
    """Keep a point the QR codec has just decompressed (``CID2:`` carries a holder key as x and
    a parity bit), by the base64url of x and y it wrote into the JWK, so that loading a JWK with
    exactly these members next costs nothing. Bounded; each entry is taken once."""
    if len(_DECOMPRESSED) >= _DECOMPRESSED_KEPT:
        _DECOMPRESSED.clear()
    _DECOMPRESSED[x, y] = key


def _p256_point(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    if _DECOMPRESSED:  # (empty unless CID2: proofs are read)
        x, y = jwk.get("x"), jwk.get("y")
        if type(x) is str and type(y) is str and (known := _DECOMPRESSED.pop((x, y), None)) is not None:
            return known  # the canonical base64url of 32-byte x and y, already checked to be on the curve
    point = _coordinate(jwk, "x") + _coordinate(jwk, "y")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_P256, b"\x04" + point)
    except ValueError as exc:
        raise _invalid("the EC point is not on P-256") from exc


_ED_P = 2**255 - 19  # the edwards25519 field prime (RFC 8032 section 5.1)
# The y coordinates of the 8 points of small order (the torsion subgroup: the identity, one
# point of order 2, two of order 4 with y = 0, four of order 8); tests/test_advisory.py derives
# them from the curve equation.
_ED_SMALL_ORDER_Y = frozenset(
    {0, 1, _ED_P - 1}
    | {
        int.from_bytes(bytes.fromhex(y), "little") & ((1 << 255) - 1)
        for y in (
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        )
    }
)


def _ed25519_point(raw: bytes) -> bytes:
    """``raw`` when it canonically encodes an Ed25519 point that is not of small order.

    OpenSSL takes any 32 bytes as a public key and verifies cofactorless, so a small-order
    point (the identity ``AQAA...`` or another of the 8 torsion points) "verifies" a signature
    nobody made (R = identity, S = 0): a credential bound to it would be bound to no one.
    Non-canonical encodings (y >= p) are refused too, so a key has one spelling; with y
    canonical, x = 0 happens only at small-order points (RFC 8032 section 5.1.3; libsodium
    refuses the same set).
    """
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= _ED_P:
        raise _invalid("the Ed25519 key is not canonically encoded")
    if y in _ED_SMALL_ORDER_Y:
        raise _invalid("the Ed25519 key is a point of small order, which nobody holds")
    return raw


def load_public_jwk(jwk: object) -> tuple[Algorithm, PublicKey]:
    """The algorithm and key of a public EC P-256 or OKP Ed25519 JWK; refuses anything else."""
    if type(jwk) is dict and jwk.keys() == _MINIMAL_EC_MEMBERS and jwk["kty"] == "EC" and jwk["crv"] == "P-256":
        return "ES256", _p256_point(jwk)  # every cityid holder key: no private members, no alg to compare
    if not isinstance(jwk, dict | Mapping):  # dict first: the ABC check is slow
        raise _invalid("a JWK must be a JSON object")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk):
        raise _invalid("a public JWK must not contain private key material")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    public_key: PublicKey
    alg: Algorithm
    if kty == "EC" and crv == "P-256":
        public_key = _p256_point(jwk)
        alg = "ES256"
    elif kty == "OKP" and crv == "Ed25519":
        public_key = Ed25519PublicKey.from_public_bytes(_ed25519_point(_coordinate(jwk, "x")))
        alg = "EdDSA"
    else:
        raise _invalid("only EC P-256 and OKP Ed25519 keys are accepted")
    if jwk.get("alg", alg) != alg:
        raise _invalid(f"the JWK's alg does not match its key type ({alg})")
    return alg, public_key


@dataclass(frozen=True, slots=True, eq=False)
class VerifyingKey:
    """A public key with its pinned algorithm and, optionally, ``kid`` and owning issuer."""

    alg: Algorithm
    public_key: PublicKey
    kid: str | None = None
    issuer: str | None = None
    """When set, credentials verified with this key must carry exactly this ``iss``."""

    def is_valid_signature(self, signature: bytes, signing_input: bytes) -> bool:
        """True when ``signature`` (JOSE raw form) signs ``signing_input``."""
        return is_valid_signature(self.alg, self.public_key, signature, signing_input)

    def to_jwk(self) -> dict[str, str]:
        """Public JWK with ``alg`` and, when known, ``kid``."""
        jwk = public_jwk(self.public_key)
        jwk["alg"] = self.alg
        if self.kid is not None:
            jwk["kid"] = self.kid
        return jwk

    @classmethod
    def from_jwk(cls, jwk: object, *, issuer: str | None = None) -> VerifyingKey:
        """Import a public EC P-256 or OKP Ed25519 JWK; refuses private members and other types."""
        alg, public_key = load_public_jwk(jwk)
        kid = cast(Mapping[str, Any], jwk).get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _invalid("kid must be a string")
        return cls(alg=alg, public_key=public_key, kid=kid, issuer=issuer)


def _coordinate(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise _invalid(f"the JWK has no '{name}'")
    try:
        raw = b64url_decode(value)
    except MalformedError as exc:
        raise _invalid(f"the JWK's '{name}' is not base64url") from exc
    if len(raw) != 32:
        raise _invalid(f"the JWK's '{name}' is not 32 bytes")
    return raw


def public_jwk(public_key: ec.EllipticCurvePublicKey | Ed25519PublicKey) -> dict[str, str]:
    """The minimal public JWK members (RFC 7517) for a supported key, in canonical order."""
    if isinstance(public_key, Ed25519PublicKey):
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(public_key.public_bytes_raw())}
    # The point's numbers, not public_bytes(): that needs cryptography's serialization package,
    # whose import (SSH keys, ciphers, the OpenSSL backend) would cost `cityid verify` about 6 ms.
    point = public_key.public_numbers()
    x, y = point.x.to_bytes(32, "big"), point.y.to_bytes(32, "big")
    return {"kty": "EC", "crv": "P-256", "x": b64url_encode(x), "y": b64url_encode(y)}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) over the required public members."""
    required = ("crv", "kty", "x", "y") if jwk.get("kty") == "EC" else ("crv", "kty", "x")
    try:
        members = {name: jwk[name] for name in required}
    except KeyError as exc:
        raise _invalid(f"the JWK has no '{exc.args[0]}'") from exc
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    """A private key that signs JWS in JOSE's raw signature form."""

    alg: Algorithm
    private_key: ec.EllipticCurvePrivateKey | Ed25519PrivateKey
    kid: str | None = None

    @classmethod
    def generate(cls, alg: Algorithm = "ES256", *, kid: str | None = None) -> SigningKey:
        """A fresh key from the operating system's CSPRNG."""
        if alg == "ES256":
            return cls(alg, ec.generate_private_key(_P256), kid)
        if alg == "EdDSA":
            return cls(alg, Ed25519PrivateKey.generate(), kid)
        raise ValueError(f"unsupported algorithm {alg!r}")

    def sign(self, signing_input: bytes) -> bytes:
        """Sign and return the 64-byte JOSE signature (r || s for ES256)."""
        if isinstance(self.private_key, Ed25519PrivateKey):
            return self.private_key.sign(signing_input)
        r, s = decode_dss_signature(self.private_key.sign(signing_input, _ECDSA_SIGN))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def public_jwk(self) -> dict[str, str]:
        """The public half as a minimal JWK, for ``cnf`` (no ``alg`` or ``kid``: bytes count)."""
        return public_jwk(self.private_key.public_key())

    def verifying_key(self, *, issuer: str | None = None) -> VerifyingKey:
        """The public half, keeping this key's ``alg`` and ``kid``."""
        return VerifyingKey(self.alg, self.private_key.public_key(), self.kid, issuer)


class KeySet(Mapping[str, VerifyingKey]):
    """Trusted issuer keys by ``kid``: what a verifier accepts signatures from."""

    def __init__(self, keys: Iterable[VerifyingKey]) -> None:
        self._by_kid: dict[str, VerifyingKey] = {}
        for key in keys:
            if key.kid is None:
                raise ValueError("every key in a KeySet needs a kid")
            if key.kid in self._by_kid:
                raise ValueError(f"duplicate kid {key.kid!r} in KeySet")
            self._by_kid[key.kid] = key

    def __getitem__(self, kid: str) -> VerifyingKey:
        return self._by_kid[kid]

    def get(self, kid: str, default: Any = None) -> Any:  # Mapping.get through __getitem__ is slow
        return self._by_kid.get(kid, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_kid)

    def __len__(self) -> int:
        return len(self._by_kid)

    def to_jwks(self) -> dict[str, list[dict[str, str]]]:
        """``{"keys": [...]}`` as published at an issuer's ``jwks``."""
        return {"keys": [key.to_jwk() for key in self._by_kid.values()]}

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any], *, issuer: str | None = None) -> KeySet:
        """Import a JWKS (``{"keys": [...]}``); every key needs a ``kid``.

        Accepts SD-JWT VC issuer metadata (``{"issuer": ..., "jwks": {...}}``) too, in which
        case the keys are bound to that issuer.
        """
        if not isinstance(jwks, Mapping):
            raise _invalid("a JWKS must be a JSON object")
        if "jwks" in jwks and isinstance(jwks.get("issuer"), str):
            return cls.from_jwks(jwks["jwks"], issuer=jwks["issuer"])
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not keys:
            raise _invalid("a JWKS needs a non-empty 'keys' array")
        imported = [VerifyingKey.from_jwk(jwk, issuer=issuer) for jwk in keys]
        if any(key.kid is None for key in imported):
            raise _invalid("every issuer key needs a 'kid'")
        kids = [key.kid for key in imported]
        if len(set(kids)) != len(kids):
            raise _invalid("two issuer keys share a 'kid'")
        return cls(imported)

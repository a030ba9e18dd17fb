"""Private signing keys in files, as JWKs with a ``kid`` (the RFC 7638 thumbprint).

Used for keys that sign rarely and are kept offline, such as the policy board's. The file is
created with mode 0600 and never overwritten; the public half goes out as a JWKS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from credential import SigningKey, jwk_thumbprint
from credential._encoding import b64url_decode, b64url_encode

from .files import write_atomic
from .inputs import InputError

MAX_KEY_FILE_BYTES = 64 * 1024


def new_es256_key() -> SigningKey:
    """A fresh ES256 key whose kid is its JWK thumbprint."""
    key = SigningKey.generate("ES256")
    return SigningKey("ES256", key.private_key, jwk_thumbprint(key.public_jwk()))


def private_jwk(key: SigningKey) -> dict[str, str]:
    private = key.private_key
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError("only ES256 keys are written to key files")
    jwk = key.public_jwk()
    jwk["d"] = b64url_encode(private.private_numbers().private_value.to_bytes(32, "big"))
    jwk["alg"] = key.alg
    jwk["kid"] = key.kid or jwk_thumbprint(jwk)
    return jwk


def write_private_key(key: SigningKey, path: Path) -> None:
    """Write ``key`` to a new file readable only by its owner; refuses to overwrite."""
    write_atomic(path, json.dumps(private_jwk(key), indent=2) + "\n", mode=0o600, exclusive=True)


def public_jwks(key: SigningKey) -> dict[str, Any]:
    return {"keys": [key.verifying_key().to_jwk()]}


def signing_key_from_jwk(jwk: object) -> SigningKey:
    """The ES256 key in a private JWK (as :func:`private_jwk` writes); raises ``ValueError``."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "d" not in jwk:
        raise ValueError("not a private EC P-256 JWK")
    private = ec.derive_private_key(int.from_bytes(b64url_decode(jwk["d"]), "big"), ec.SECP256R1())
    key = SigningKey("ES256", private, jwk.get("kid"))
    public = key.public_jwk()
    if (public["x"], public["y"]) != (jwk.get("x"), jwk.get("y")):
        raise ValueError("its public part does not match its private part")
    return key


def load_private_key(path: Path) -> SigningKey:
    """The ES256 signing key in a private JWK file written by :func:`write_private_key`."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError("unreadable_input", f"cannot read the key file {path}: {exc.strerror}") from exc
    try:
        jwk = json.loads(data)
        key = signing_key_from_jwk(jwk)
    except Exception as exc:  # any malformed key file is one kind of error to the user
        raise InputError("invalid_key", f"{path} is not a cityid private key file ({exc})") from None
    return SigningKey("ES256", key.private_key, str(jwk.get("kid") or jwk_thumbprint(key.public_jwk())))

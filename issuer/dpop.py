"""DPoP (RFC 9449): a wallet may bind its access token to a key of its own, so that a token
copied off the wire or out of a log is useless without that key.

Each request to ``/token`` and ``/credential`` then carries a ``DPoP`` header: a JWT signed by the
wallet's key (in its ``jwk`` header), naming the method and URL, with a fresh ``jti`` and
``iat`` and, once a token exists, ``ath``, the token's hash. This module checks one such proof
(pure: the clock and the replay check are the caller's); ``issuer/app.py`` decides when one
is required (``IssuerSettings.require_dpop``) and remembers the ``jti`` values it has seen.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from credential import CredentialError, Limits, jwk_thumbprint, verify_jwt_with_header_key

from .errors import IssuerError

DPOP_TYP = "dpop+jwt"
DPOP_ALGORITHMS = frozenset({"ES256"})
DPOP_LIMITS = Limits(max_presentation_chars=4096, max_json_bytes=2048, max_json_depth=4)
DPOP_WINDOW = 300
"""Seconds a proof's ``iat`` may be from the issuer's clock, either way."""


@dataclass(frozen=True, slots=True)
class DpopProof:
    jkt: str
    """The RFC 7638 thumbprint of the wallet's DPoP key: what a bound token remembers."""
    jti: str


def _refused(message: str) -> IssuerError:
    return IssuerError("invalid_dpop_proof", message, error="invalid_dpop_proof")


def token_hash(access_token: str) -> str:
    """The ``ath`` a proof carries for ``access_token``: base64url(SHA-256), no padding."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_dpop_proof(proof: str, *, method: str, url: str, now: int, access_token: str | None = None) -> DpopProof:
    """The key and ``jti`` of a valid proof for this request; ``invalid_dpop_proof`` otherwise."""
    try:
        jwk, payload = verify_jwt_with_header_key(
            proof, typ=DPOP_TYP, what="the DPoP proof", limits=DPOP_LIMITS, algorithms=DPOP_ALGORITHMS
        )
    except CredentialError as exc:
        raise _refused(exc.message) from None
    if payload.get("htm") != method:
        raise _refused(f"the DPoP proof is for another method (htm must be {method})")
    if payload.get("htu") != url:
        raise _refused(f"the DPoP proof is for another URL (htu must be {url})")
    jti, issued_at = payload.get("jti"), payload.get("iat")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
        raise _refused("the DPoP proof needs a unique jti")
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float) or abs(now - issued_at) > DPOP_WINDOW:
        raise _refused("the DPoP proof's iat is missing or too far from the city's clock")
    if access_token is not None and payload.get("ath") != token_hash(access_token):
        raise _refused("the DPoP proof is not for this access token (ath)")
    return DpopProof(jwk_thumbprint(jwk), jti)

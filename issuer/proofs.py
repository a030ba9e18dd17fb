"""OpenID4VCI key proofs: one JWT per device key, proving the wallet holds it, fresh for
this issuer's nonce. Each credential of a batch is bound to a different key.

Freshness comes from the nonce: the issuer's ``c_nonce`` (from the nonce endpoint, or the
grant's own from ``/token`` for wallets older than OpenID4VCI 1.0) is random and used once, so a
proof that carries it was made after the issuer sent it, whatever its ``iat`` says. The proof's own
times are checked only loosely (``PROOF_CLOCK_SKEW``, a day), so a phone whose clock is minutes
or hours off still receives its credentials; when a proof is refused for its time, the
message says the phone's clock looks wrong."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from credential import CredentialError, Limits, jwk_thumbprint, time_window_problem, verify_jwt_with_header_key

from .errors import IssuerError

PROOF_TYP = "openid4vci-proof+jwt"
PROOF_LIMITS = Limits(max_presentation_chars=4096, max_json_bytes=2048, max_json_depth=4)
PROOF_CLOCK_SKEW = 86_400
"""Seconds a proof's ``iat`` (and ``exp``/``nbf``) may differ from the issuer's clock."""
CLOCK_HINT = "check the date and time on your phone"


@dataclass(frozen=True, slots=True)
class KeyProofs:
    keys: list[dict[str, str]]
    """The holder public keys, one per proof, all distinct."""
    nonce: str
    """The one ``c_nonce`` every proof carries: the caller checks it is this issuer's and unused."""


def check_key_proofs(proofs: Sequence[object], *, audience: str, now: int) -> KeyProofs:
    """The keys the proofs prove and the nonce they share; raises ``IssuerError`` otherwise."""
    keys: list[dict[str, str]] = []
    nonces: set[object] = set()
    for number, proof in enumerate(proofs, start=1):
        if not isinstance(proof, str):
            raise IssuerError("invalid_proof", f"key proof {number} is not a JWT", error="invalid_proof")
        try:
            jwk, payload = verify_jwt_with_header_key(
                proof, typ=PROOF_TYP, what=f"key proof {number}", limits=PROOF_LIMITS
            )
        except CredentialError as exc:
            raise IssuerError("invalid_proof", exc.message, error="invalid_proof") from None
        if payload.get("aud") != audience:
            raise IssuerError("invalid_proof", f"key proof {number} is for another issuer", error="invalid_proof")
        if not isinstance(payload.get("nonce"), str):
            raise IssuerError("invalid_nonce", f"key proof {number} has no nonce: get one from the nonce endpoint",
                              error="invalid_nonce")  # fmt: skip
        nonces.add(payload["nonce"])
        issued_at = payload.get("iat")
        if type(issued_at) is not int:
            raise IssuerError("invalid_proof", f"key proof {number} has no iat in whole seconds", error="invalid_proof")
        if abs(now - issued_at) > PROOF_CLOCK_SKEW:
            raise IssuerError("proof_clock", f"key proof {number} is dated more than a day from the city's clock "
                              f"(iat): {CLOCK_HINT}", error="invalid_proof")  # fmt: skip
        if problem := time_window_problem(payload, now, PROOF_CLOCK_SKEW):
            if "not a number" in problem:
                raise IssuerError("invalid_proof", f"key proof {number} {problem}", error="invalid_proof")
            raise IssuerError("proof_clock", f"key proof {number} {problem}: {CLOCK_HINT}", error="invalid_proof")
        keys.append(jwk)
    if len(nonces) != 1:
        raise IssuerError("invalid_nonce", "the key proofs carry different nonces", error="invalid_nonce")
    thumbprints = {jwk_thumbprint(jwk) for jwk in keys}
    if len(thumbprints) != len(keys):
        raise IssuerError("invalid_proof", "each credential needs its own device key", error="invalid_proof")
    return KeyProofs(keys, str(nonces.pop()))

"""Verification of a presented SD-JWT VC with key binding (RFC 9901 section 7).

Order: bounds, issuer header and key, issuer signature, registered claims and validity,
disclosures, then the key-binding JWT. Every check is on by default; the only way to skip
key binding is the keyword-only ``unsafe_skip_key_binding``. The function raises on any
failure and returns a :class:`VerifiedPresentation` only when everything held.

This is the desk's hot path: keys arrive already loaded, signatures go straight to
``cryptography``, and JSON is parsed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import ClaimsError, KeyBindingError, MalformedError, Reason, SignatureError
from ._issue import VC_TYP, StatusReference
from ._jws import read_jwt
from ._keys import SUPPORTED_ALGORITHMS, VerifyingKey
from ._limits import DEFAULT_LIMITS, Limits
from ._present import KB_TYP
from ._sdjwt import NEVER_DISCLOSABLE, SD_ALG, SD_ALG_KEY, ClaimPath, resolve_disclosures, sd_hash, split_presentation

_NOT_CLAIMS = NEVER_DISCLOSABLE | {"iat"}


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """How strict to be. The defaults are the cityid policy; loosen only with a reason."""

    algorithms: frozenset[str] = SUPPORTED_ALGORITHMS
    typ: str = VC_TYP
    accepted_vcts: frozenset[str] | None = None
    """When set, only these credential types are accepted."""
    require_expiry: bool = True
    clock_skew: int = 60
    """Seconds of disagreement tolerated between the verifier's clock and others'."""
    max_kb_age: int = 300
    """How old (seconds) a key-binding JWT may be; the nonce is the primary freshness proof."""
    limits: Limits = DEFAULT_LIMITS

    def __post_init__(self) -> None:
        if not self.algorithms or not self.algorithms <= SUPPORTED_ALGORITHMS:
            raise ValueError(f"algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}")
        if self.clock_skew < 0 or self.max_kb_age < 0:
            raise ValueError("clock_skew and max_kb_age cannot be negative")


DEFAULT_OPTIONS = VerifyOptions()


@dataclass(frozen=True, slots=True)
class VerifiedPresentation:
    """What a verifier may rely on after :func:`verify_presentation` succeeded."""

    issuer: str
    vct: str
    kid: str
    claims: dict[str, Any]
    """The disclosed user claims only (no iss, iat, exp, vct, cnf or status)."""
    disclosed: tuple[ClaimPath, ...]
    issued_at: int | float | None
    expires_at: int | float | None
    status: StatusReference | None
    holder_jwk: dict[str, Any] | None
    key_bound: bool


def _numeric_date(payload: Mapping[str, Any], name: str) -> int | float | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClaimsError(Reason.INVALID_CLAIM, f"{name} must be a number of seconds")
    return value


def _text_claim(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if value is None:
        raise ClaimsError(Reason.MISSING_CLAIM, f"the credential has no {name}")
    if not isinstance(value, str):
        raise ClaimsError(Reason.INVALID_CLAIM, f"{name} must be a string")
    return value


def _status(payload: Mapping[str, Any]) -> StatusReference | None:
    if "status" not in payload:
        return None
    status = payload["status"]
    reference = status.get("status_list") if isinstance(status, dict) else None
    idx = reference.get("idx") if isinstance(reference, dict) else None
    uri = reference.get("uri") if isinstance(reference, dict) else None
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0 or not isinstance(uri, str):
        raise ClaimsError(Reason.INVALID_CLAIM, "status must be a status_list reference with idx and uri")
    return StatusReference(idx, uri)


def _check_validity(
    payload: Mapping[str, Any], now: int, options: VerifyOptions
) -> tuple[int | float | None, int | float | None]:
    skew = options.clock_skew
    issued_at, expires_at, not_before = (_numeric_date(payload, name) for name in ("iat", "exp", "nbf"))
    if expires_at is None and options.require_expiry:
        raise ClaimsError(Reason.MISSING_CLAIM, "the credential has no expiry (exp)")
    if expires_at is not None and now - skew >= expires_at:
        raise ClaimsError(Reason.EXPIRED, "the credential has expired")
    if not_before is not None and now + skew < not_before:
        raise ClaimsError(Reason.NOT_YET_VALID, "the credential is not valid yet (nbf)")
    if issued_at is not None and now + skew < issued_at:
        raise ClaimsError(Reason.NOT_YET_VALID, "the credential claims to be issued in the future")
    return issued_at, expires_at


def _holder_key(payload: Mapping[str, Any]) -> tuple[VerifyingKey, dict[str, Any]]:
    cnf = payload.get("cnf")
    if cnf is None:
        raise KeyBindingError(Reason.NO_HOLDER_KEY, "the credential is not bound to a holder key (no cnf)")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        raise KeyBindingError(Reason.HOLDER_KEY_INVALID, "the holder key (cnf) has no jwk")
    try:
        return VerifyingKey.from_jwk(jwk), jwk
    except MalformedError as exc:
        raise KeyBindingError(Reason.HOLDER_KEY_INVALID, f"the holder key (cnf) is not usable: {exc.message}") from exc


def _check_key_binding(
    token: str,
    jwt: str,
    disclosures: list[str],
    holder: VerifyingKey,
    *,
    audience: str,
    nonce: str,
    now: int,
    options: VerifyOptions,
) -> None:
    kb = read_jwt(token, typ=KB_TYP, algorithms=options.algorithms, limits=options.limits, what="the key-binding JWT")
    if kb.header["alg"] != holder.alg or not holder.is_valid_signature(kb.signature, kb.signing_input):
        raise KeyBindingError(
            Reason.KB_BAD_SIGNATURE, "the key-binding JWT is not signed by the credential's holder key"
        )
    claims = kb.payload(options.limits, what="the key-binding JWT payload")
    if claims.get("sd_hash") != sd_hash(jwt, disclosures):
        raise KeyBindingError(Reason.SD_HASH_MISMATCH, "the key-binding JWT does not cover this presentation")
    if claims.get("aud") != audience:
        raise KeyBindingError(Reason.AUDIENCE_MISMATCH, "the proof was made for a different verifier")
    if claims.get("nonce") != nonce:
        raise KeyBindingError(Reason.NONCE_MISMATCH, "the proof answers a different request (nonce)")
    issued_at = claims.get("iat")
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        raise KeyBindingError(Reason.KB_NOT_FRESH, "the key-binding JWT has no issue time (iat)")
    if not now - options.max_kb_age - options.clock_skew <= issued_at <= now + options.clock_skew:
        raise KeyBindingError(Reason.KB_NOT_FRESH, "the proof was not made just now (key-binding iat out of window)")


def verify_presentation(
    presentation: str,
    *,
    issuer_keys: Mapping[str, VerifyingKey],
    audience: str | None,
    nonce: str | None,
    now: int,
    options: VerifyOptions = DEFAULT_OPTIONS,
    unsafe_skip_key_binding: bool = False,
) -> VerifiedPresentation:
    """Verify ``<jwt>~<disclosures>~<kb-jwt>`` and return only what it proves.

    ``issuer_keys`` maps ``kid`` to trusted keys (a :class:`KeySet`). ``audience`` and
    ``nonce`` are what this verifier asked for; they are required whenever a key-binding
    JWT is checked. ``now`` is the verifier's clock in seconds since the epoch.
    """
    limits = options.limits
    jwt, disclosures, key_binding = split_presentation(presentation, limits)
    unverified = read_jwt(jwt, typ=options.typ, algorithms=options.algorithms, limits=limits, what="the credential")
    kid = unverified.header.get("kid")
    if not isinstance(kid, str) or (key := issuer_keys.get(kid)) is None:
        raise SignatureError(Reason.UNKNOWN_KEY, "the credential is signed by a key this verifier does not trust")
    if unverified.header["alg"] != key.alg:
        raise SignatureError(Reason.UNSUPPORTED_ALGORITHM, "the credential's alg does not match its issuer key")
    if not key.is_valid_signature(unverified.signature, unverified.signing_input):
        raise SignatureError(Reason.BAD_SIGNATURE, "the issuer's signature does not match the credential")
    payload = unverified.payload(limits, what="the credential payload")

    issuer = _text_claim(payload, "iss")
    if key.issuer is not None and issuer != key.issuer:
        raise ClaimsError(Reason.ISSUER_MISMATCH, "the credential names a different issuer than its key's")
    vct = _text_claim(payload, "vct")
    if options.accepted_vcts is not None and vct not in options.accepted_vcts:
        raise ClaimsError(Reason.UNSUPPORTED_CREDENTIAL_TYPE, "this verifier does not accept this credential type")
    issued_at, expires_at = _check_validity(payload, now, options)
    status = _status(payload)
    if payload.get(SD_ALG_KEY, SD_ALG) != SD_ALG:
        raise MalformedError(Reason.UNSUPPORTED_DIGEST_ALGORITHM, "only sha-256 disclosure digests are supported")

    resolved = resolve_disclosures(payload, disclosures, limits)

    holder_jwk: dict[str, Any] | None = None
    if key_binding:
        if audience is None or nonce is None:
            raise ValueError("audience and nonce are required to check a key-binding JWT")
        holder, holder_jwk = _holder_key(payload)
        _check_key_binding(
            key_binding, jwt, disclosures, holder, audience=audience, nonce=nonce, now=now, options=options
        )
    elif not unsafe_skip_key_binding:
        raise KeyBindingError(Reason.KB_MISSING, "the proof has no key binding, so it could be a copy")

    claims = {name: value for name, value in resolved.claims.items() if name not in _NOT_CLAIMS}
    return VerifiedPresentation(
        issuer=issuer,
        vct=vct,
        kid=kid,
        claims=claims,
        disclosed=tuple(path for path, _ in resolved.paths),
        issued_at=issued_at,
        expires_at=expires_at,
        status=status,
        holder_jwk=holder_jwk,
        key_bound=bool(key_binding),
    )

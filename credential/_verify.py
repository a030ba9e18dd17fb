"""Verification of a presented SD-JWT VC with key binding (RFC 9901 section 7).

Order: bounds, issuer header and key, issuer signature, registered claims and validity,
disclosures, then the key-binding JWT. Every check is on by default; the only way to skip
key binding is the keyword-only ``unsafe_skip_key_binding``. The function raises on any
failure and returns a :class:`VerifiedPresentation` only when everything held.

This is the desk's hot path, written to stay within a few microseconds of the two ECDSA
verifications it cannot avoid: headers are checked once per distinct header and cached,
keys arrive loaded, signing inputs and the ``sd_hash`` input are slices of the
presentation, JSON is parsed once by orjson, and the result is a NamedTuple.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._encoding import b64url_decode, b64url_encode, parse_json_object
from ._errors import ClaimsError, KeyBindingError, MalformedError, Reason, SignatureError
from ._jws import checked_header, split_jws, time_window_problem
from ._keys import SUPPORTED_ALGORITHMS, PublicKey, VerifyingKey, is_valid_signature, load_public_jwk
from ._limits import DEFAULT_LIMITS, Limits
from ._sdjwt import (
    KB_TYP,
    NEVER_DISCLOSABLE,
    SD_ALG,
    SD_ALG_KEY,
    VC_TYP,
    ClaimPath,
    Presentation,
    StatusReference,
    check_disclosure_count,
    parse_presentation,
    resolve_disclosures,
)
from ._types import check_disclosed_claims

_NOT_CLAIMS = NEVER_DISCLOSABLE | {"iat"}
_NUMBERS = (int, float)


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


class VerifiedPresentation(NamedTuple):
    """What a verifier may rely on after :func:`verify_presentation` succeeded (immutable)."""

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
    if value is not None and (type(value) not in _NUMBERS):  # bool is not a number here
        raise ClaimsError(Reason.INVALID_CLAIM, f"{name} must be a number of seconds")
    return value


def _text_claim(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if type(value) is str:
        return value
    if value is None:
        raise ClaimsError(Reason.MISSING_CLAIM, f"the credential has no {name}")
    raise ClaimsError(Reason.INVALID_CLAIM, f"{name} must be a string")


def _status(payload: Mapping[str, Any]) -> StatusReference | None:
    status: Any = payload.get("status")
    if status is None and "status" not in payload:
        return None
    try:
        reference = status["status_list"]
        idx, uri = reference["idx"], reference["uri"]
    except (TypeError, KeyError, IndexError):  # not objects, or members missing
        idx = uri = None
    if type(idx) is not int or idx < 0 or type(uri) is not str:
        raise ClaimsError(Reason.INVALID_CLAIM, "status must be a status_list reference with idx and uri")
    return StatusReference(idx, uri)


def _check_validity(payload: Mapping[str, Any], now: int, options: VerifyOptions) -> None:
    skew = options.clock_skew
    expires_at = payload.get("exp")
    if type(expires_at) is not int:  # an int needs no further look; anything else is checked
        expires_at = _numeric_date(payload, "exp")
    if expires_at is None:
        if options.require_expiry:
            raise ClaimsError(Reason.MISSING_CLAIM, "the credential has no expiry (exp)")
    elif now - skew >= expires_at:
        raise ClaimsError(Reason.EXPIRED, "the credential has expired")
    if "nbf" in payload:
        not_before = _numeric_date(payload, "nbf")
        if not_before is not None and now + skew < not_before:
            raise ClaimsError(Reason.NOT_YET_VALID, "the credential is not valid yet (nbf)")
    issued_at = payload.get("iat")
    if type(issued_at) is not int:
        issued_at = _numeric_date(payload, "iat")
    if issued_at is not None and now + skew < issued_at:
        raise ClaimsError(Reason.NOT_YET_VALID, "the credential claims to be issued in the future")


def _holder_key(payload: Mapping[str, Any]) -> tuple[str, PublicKey, dict[str, Any]]:
    cnf = payload.get("cnf")
    if cnf is None:
        raise KeyBindingError(Reason.NO_HOLDER_KEY, "the credential is not bound to a holder key (no cnf)")
    jwk = cnf.get("jwk") if type(cnf) is dict else None
    if type(jwk) is not dict:
        raise KeyBindingError(Reason.HOLDER_KEY_INVALID, "the holder key (cnf) has no jwk")
    try:
        alg, public_key = load_public_jwk(jwk)
    except MalformedError as exc:
        raise KeyBindingError(Reason.HOLDER_KEY_INVALID, f"the holder key (cnf) is not usable: {exc.message}") from exc
    return alg, public_key, jwk


def _check_key_binding(
    parts: Presentation, payload: Mapping[str, Any], *, audience: str, nonce: str, now: int, options: VerifyOptions
) -> dict[str, Any]:
    """Check the KB-JWT against the credential's holder key and what this verifier asked."""
    holder_alg, holder_key, holder_jwk = _holder_key(payload)
    if parts.key_binding_parts is None:
        header_segment, payload_segment, signature = split_jws(parts.key_binding, "the key-binding JWT")
        payload_bytes = None
    else:
        header_segment, payload_segment, signature, payload_bytes = parts.key_binding_parts
    header = checked_header(header_segment, KB_TYP, options.algorithms, options.limits, "the key-binding JWT")
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    if header["alg"] != holder_alg or not is_valid_signature(holder_alg, holder_key, signature, signing_input):
        raise KeyBindingError(
            Reason.KB_BAD_SIGNATURE, "the key-binding JWT is not signed by the credential's holder key"
        )
    if payload_bytes is None:
        payload_bytes = b64url_decode(payload_segment)
    claims = parse_json_object(payload_bytes, options.limits, what="the key-binding JWT payload")
    covered_hash = parts.sd_hash or b64url_encode(hashlib.sha256(parts.covered.encode("ascii")).digest())
    if claims.get("sd_hash") != covered_hash:
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
    if ("exp" in claims or "nbf" in claims) and (problem := time_window_problem(claims, now, options.clock_skew)):
        raise KeyBindingError(Reason.KB_NOT_FRESH, f"the key-binding JWT {problem}")
    return holder_jwk


def _issuer_signed_payload(
    parts: Presentation, issuer_keys: Mapping[str, VerifyingKey], options: VerifyOptions
) -> tuple[VerifyingKey, str, dict[str, Any]]:
    """The issuer's key, its ``kid``, and the payload, once header and signature are checked."""
    header = checked_header(parts.header, options.typ, options.algorithms, options.limits, "the credential")
    kid = header.get("kid")
    if type(kid) is not str or (key := issuer_keys.get(kid)) is None:
        raise SignatureError(Reason.UNKNOWN_KEY, "the credential is signed by a key this verifier does not trust")
    if header["alg"] != key.alg:
        raise SignatureError(Reason.UNSUPPORTED_ALGORITHM, "the credential's alg does not match its issuer key")
    signing_input = parts.covered[: len(parts.header) + 1 + len(parts.payload)].encode("ascii")
    if not is_valid_signature(key.alg, key.public_key, parts.signature, signing_input):
        raise SignatureError(Reason.BAD_SIGNATURE, "the issuer's signature does not match the credential")
    payload = parts.payload_bytes
    if payload is None:
        payload = b64url_decode(parts.payload)
    return key, kid, parse_json_object(payload, options.limits, what="the credential payload")


def _bounded(parts: Presentation, limits: Limits) -> Presentation:
    """A presentation parsed elsewhere, held to this verifier's limits too."""
    if len(parts.covered) + len(parts.key_binding) > limits.max_presentation_chars:
        raise MalformedError(
            Reason.TOO_LARGE, f"the presentation is longer than {limits.max_presentation_chars} characters"
        )
    check_disclosure_count(len(parts.disclosures), limits)
    return parts


def verify_presentation(
    presentation: str | Presentation,
    *,
    issuer_keys: Mapping[str, VerifyingKey],
    audience: str | None,
    nonce: str | None,
    now: int,
    options: VerifyOptions = DEFAULT_OPTIONS,
    unsafe_skip_key_binding: bool = False,
) -> VerifiedPresentation:
    """Verify ``<jwt>~<disclosures>~<kb-jwt>`` and return only what it proves.

    ``presentation`` is the compact string, or a :class:`Presentation` already split (as
    ``parse_qr_text`` makes one from QR text: the bytes and digests it hands on are used as
    given, so build one only with this package's parsers). ``issuer_keys`` maps ``kid`` to
    trusted keys (a :class:`KeySet`). ``audience`` and ``nonce`` are what this verifier asked
    for; they are required whenever a key-binding JWT is checked. ``now`` is the verifier's
    clock in seconds since the epoch.
    """
    limits = options.limits
    if type(presentation) is Presentation:
        parts = _bounded(presentation, limits)
    elif isinstance(presentation, str):
        parts = parse_presentation(presentation, limits)
    else:
        raise MalformedError(Reason.MALFORMED, "a presentation must be text")
    key, kid, payload = _issuer_signed_payload(parts, issuer_keys, options)

    issuer = payload.get("iss")
    if type(issuer) is not str:
        issuer = _text_claim(payload, "iss")  # raises the reason
    if key.issuer is not None and issuer != key.issuer:
        raise ClaimsError(Reason.ISSUER_MISMATCH, "the credential names a different issuer than its key's")
    vct = payload.get("vct")
    if type(vct) is not str:
        vct = _text_claim(payload, "vct")  # raises the reason
    if options.accepted_vcts is not None and vct not in options.accepted_vcts:
        raise ClaimsError(Reason.UNSUPPORTED_CREDENTIAL_TYPE, "this verifier does not accept this credential type")
    _check_validity(payload, now, options)
    status = _status(payload)
    if payload.get(SD_ALG_KEY, SD_ALG) != SD_ALG:
        raise MalformedError(Reason.UNSUPPORTED_DIGEST_ALGORITHM, "only sha-256 disclosure digests are supported")

    resolved = resolve_disclosures(payload, parts.disclosures, limits, parts.disclosure_bytes, parts.disclosure_digests)

    holder_jwk: dict[str, Any] | None = None
    if parts.key_binding:
        if audience is None or nonce is None:
            raise ValueError("audience and nonce are required to check a key-binding JWT")
        holder_jwk = _check_key_binding(parts, payload, audience=audience, nonce=nonce, now=now, options=options)
    elif not unsafe_skip_key_binding:
        raise KeyBindingError(Reason.KB_MISSING, "the proof has no key binding, so it could be a copy")

    claims = resolved.claims
    for name in _NOT_CLAIMS.intersection(claims):
        del claims[name]
    check_disclosed_claims(vct, claims)
    return VerifiedPresentation(
        issuer,
        vct,
        kid,
        claims,
        tuple([path for path, _ in resolved.paths]),
        payload.get("iat"),
        payload.get("exp"),
        status,
        holder_jwk,
        bool(parts.key_binding),
    )

"""Compact JWS, just the part SD-JWT needs: sign, split, and check a header.

The header is checked before any key is touched: ``alg`` against the caller's allow-list,
``typ`` against the one expected type, and any ``crit`` refused (we understand no
critical extensions, so we must fail closed). Signature checking itself is the key's job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ._encoding import b64url_decode, b64url_encode, compact_json, parse_json_object
from ._errors import MalformedError, Reason, SignatureError
from ._keys import SUPPORTED_ALGORITHMS, SigningKey, VerifyingKey, public_jwk
from ._limits import Limits


def sign_jwt(header: dict[str, Any], payload: dict[str, Any], key: SigningKey) -> str:
    """Serialize and sign a compact JWS; ``header`` must already name ``key.alg``."""
    signing_input = f"{b64url_encode(compact_json(header))}.{b64url_encode(compact_json(payload))}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"


def split_jws(token: str, what: str) -> tuple[str, str, bytes]:
    """``(header segment, payload segment, signature bytes)`` of a compact JWS."""
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedError(Reason.MALFORMED, f"{what} is not a compact JWS (three dot-separated parts)")
    return parts[0], parts[1], b64url_decode(parts[2])


_HEADERS: dict[tuple[str, str, frozenset[str], int, int], Mapping[str, Any]] = {}
_HEADERS_KEPT = 256


def checked_header(segment: str, typ: str, algorithms: frozenset[str], limits: Limits, what: str) -> Mapping[str, Any]:
    """Parse and check a JWS header: ``alg`` allowed, ``typ`` as expected, no ``crit``.

    Cached, because every credential from one issuer key shares its header and every
    key-binding JWT of one algorithm does too. Only headers that passed are cached, the
    cache is bounded, and the key includes everything the checks depend on.
    """
    cache_key = (segment, typ, algorithms, limits.max_json_bytes, limits.max_json_depth)  # all parsing depends on
    header = _HEADERS.get(cache_key)
    if header is not None:
        return header
    parsed = parse_json_object(b64url_decode(segment), limits, what=f"{what} header")
    alg = parsed.get("alg")
    if type(alg) is not str or alg not in algorithms:  # a list or object would not even hash
        raise SignatureError(Reason.UNSUPPORTED_ALGORITHM, f"{what} uses algorithm {_shown(alg)}, which is not allowed")
    if parsed.get("typ") != typ:
        raise SignatureError(Reason.WRONG_TYPE, f"{what} has typ {_shown(parsed.get('typ'))}, expected {typ!r}")
    if "crit" in parsed:
        raise SignatureError(
            Reason.UNSUPPORTED_CRITICAL_HEADER, f"{what} has critical header parameters we do not understand"
        )
    if len(_HEADERS) >= _HEADERS_KEPT:
        _HEADERS.clear()
    header = _HEADERS[cache_key] = MappingProxyType(parsed)
    return header


def time_window_problem(claims: Mapping[str, Any], now: int, skew: int) -> str | None:
    """Why ``exp`` or ``nbf`` rules ``now`` out, or None. Both are optional in a JWT, and
    binding when present (RFC 7519 4.1.4-5); ``skew`` seconds of clock difference are allowed."""
    for name in ("exp", "nbf"):
        if name in claims and type(claims[name]) not in (int, float):  # bool is not a number here
            return f"has an {name} that is not a number of seconds"
    if "exp" in claims and now - skew >= claims["exp"]:
        return "has expired (exp)"
    if "nbf" in claims and now + skew < claims["nbf"]:
        return "is not valid yet (nbf)"
    return None


def _shown(value: object) -> str:
    """A short, safe rendering of an untrusted header value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _verified(
    token: str,
    key_for: Callable[[Mapping[str, Any]], VerifyingKey],
    *,
    typ: str,
    what: str,
    limits: Limits,
    algorithms: frozenset[str],
) -> tuple[VerifyingKey, dict[str, Any]]:
    """The key that signed ``token`` and its payload: header checked first, the key chosen by
    ``key_for(header)`` with its own pinned algorithm, the payload parsed after the signature."""
    if not isinstance(token, str):
        raise MalformedError(Reason.MALFORMED, f"{what} must be text")
    if len(token) > limits.max_presentation_chars:
        raise MalformedError(Reason.TOO_LARGE, f"{what} is longer than {limits.max_presentation_chars} characters")
    header_segment, payload_segment, signature = split_jws(token.strip(), what)
    header = checked_header(header_segment, typ, algorithms, limits, what)
    key = key_for(header)
    if key.alg != header["alg"]:
        raise SignatureError(Reason.UNSUPPORTED_ALGORITHM, f"{what} names {header['alg']} but its key is {key.alg}")
    payload = b64url_decode(payload_segment)  # strict base64url, so the segments are ASCII
    if not key.is_valid_signature(signature, f"{header_segment}.{payload_segment}".encode("ascii")):
        raise SignatureError(Reason.BAD_SIGNATURE, f"the signature on {what} does not verify")
    return key, parse_json_object(payload, limits, what=f"{what} payload")


def verify_jwt(
    token: str,
    keys: Mapping[str, VerifyingKey],
    *,
    typ: str,
    what: str,
    limits: Limits,
    algorithms: frozenset[str] = SUPPORTED_ALGORITHMS,
) -> dict[str, Any]:
    """The payload of a compact JWS of type ``typ`` signed by the key its ``kid`` names.

    For the signed documents around credentials (policy registries, status lists, trust
    bundles): the key comes from ``keys`` by ``kid``, never from the token.
    """

    def by_kid(header: Mapping[str, Any]) -> VerifyingKey:
        kid = header.get("kid")
        key = keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise SignatureError(Reason.UNKNOWN_KEY, f"{what} is signed with a key that is not trusted here")
        return key

    return _verified(token, by_kid, typ=typ, what=what, limits=limits, algorithms=algorithms)[1]


def verify_jwt_with_header_key(
    token: str, *, typ: str, what: str, limits: Limits, algorithms: frozenset[str] = SUPPORTED_ALGORITHMS
) -> tuple[dict[str, str], dict[str, Any]]:
    """``(public jwk, payload)`` of a JWS signed by the key in its own ``jwk`` header.

    For proofs of possession (OpenID4VCI key proofs): the signature shows the sender holds
    the private half of that key; whom the key belongs to is the caller's question.
    """
    key, payload = _verified(
        token, lambda header: VerifyingKey.from_jwk(header.get("jwk")), typ=typ, what=what, limits=limits,
        algorithms=algorithms,
    )  # fmt: skip
    return public_jwk(key.public_key), payload

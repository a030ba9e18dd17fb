"""Helpers shared by the tests: fixed keys and clock, and small functions to issue, present,
verify and re-sign. Tests pass time and randomness in explicitly (the core takes them as
arguments), so nothing here patches the clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from credential import (
    RESIDENCY,
    ClaimPath,
    KeySet,
    Presentation,
    SigningKey,
    StatusReference,
    issue_credential,
    issue_sd_jwt,
    present,
    residency_claims,
    verify_presentation,
)
from credential._encoding import b64url_decode, b64url_encode, compact_json
from credential._jws import sign_jwt
from credential._sdjwt import digest, sd_hash

NOW = 1_795_500_000  # 2026-11-23, a fixed verifier clock
ISS = "https://id.riverton.example"
AUD = "desk:library"
NONCE = "n0nce-for-the-desk"
STATUS = StatusReference(4242, f"{ISS}/status/1")
RESIDENCY_CLAIMS = residency_claims("Riverton", dt.date(1991, 6, 14), dt.date(2026, 11, 23))


@dataclass(frozen=True)
class Keys:
    issuer: SigningKey
    holder: SigningKey
    trusted: KeySet


def make_keys(alg: str = "ES256") -> Keys:
    issuer = SigningKey.generate(alg, kid="k1")  # type: ignore[arg-type]
    return Keys(issuer, SigningKey.generate(alg), KeySet([issuer.verifying_key()]))  # type: ignore[arg-type]


def counter_bytes() -> Callable[[int], bytes]:
    """Deterministic 'randomness' for reproducible credentials."""
    counter = itertools.count()
    return lambda n: next(counter).to_bytes(n, "big")


def issue_residency(keys: Keys, *, now: int = NOW, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "issuer_key": keys.issuer,
        "iss": ISS,
        "holder_jwk": keys.holder.public_jwk(),
        "now": now,
        "status": STATUS,
    }
    arguments.update(overrides)
    return issue_credential(RESIDENCY, RESIDENCY_CLAIMS, **arguments)


def issue_any(keys: Keys, claims: dict[str, Any], **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "issuer_key": keys.issuer,
        "iss": ISS,
        "vct": "urn:example:test:1",
        "issued_at": NOW - 86_400,
        "expires_at": NOW + 86_400,
        "holder_jwk": keys.holder.public_jwk(),
    }
    arguments.update(overrides)
    return issue_sd_jwt(claims, **arguments)


def present_to_desk(
    keys: Keys, issued: str, disclose: Iterable[str | ClaimPath] = ("resident_of", "age_over_18"), **overrides: Any
) -> str:
    arguments: dict[str, Any] = {"holder_key": keys.holder, "audience": AUD, "nonce": NONCE, "now": NOW}
    arguments.update(overrides)
    return present(issued, disclose=disclose, **arguments)


def verify_at_desk(keys: Keys, presentation: str, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {"issuer_keys": keys.trusted, "audience": AUD, "nonce": NONCE, "now": NOW}
    arguments.update(overrides)
    return verify_presentation(presentation, **arguments)


def resign_kb(keys: Keys, presentation: str, **payload_changes: Any) -> str:
    """Re-sign the key-binding JWT over the presentation as it now stands (a holder can)."""
    parts = presentation.split("~")
    jwt, disclosures = parts[0], parts[1:-1]
    payload = {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(jwt, disclosures)}
    payload.update(payload_changes)
    kb = sign_jwt({"alg": keys.holder.alg, "typ": "kb+jwt"}, payload, keys.holder)
    return "~".join((jwt, *disclosures, kb))


def resign_issuer_jwt(
    keys: Keys, presentation: str, *, header: dict[str, Any] | None = None, **payload_changes: Any
) -> str:
    """Re-sign the issuer JWT with changed header or payload (an issuer could), then the KB-JWT."""
    parts = presentation.split("~")
    header_segment, payload_segment, _ = parts[0].split(".")
    old_header = _decode_segment(header_segment)
    payload = _decode_segment(payload_segment)
    for name, value in payload_changes.items():
        if value is _DELETE:
            payload.pop(name, None)
        else:
            payload[name] = value
    jwt = sign_jwt(header if header is not None else old_header, payload, keys.issuer)
    rebuilt = "~".join((jwt, *parts[1:]))
    return resign_kb(keys, rebuilt) if parts[-1] else rebuilt


_DELETE = object()
DELETE: Any = _DELETE


def _decode_segment(segment: str) -> dict[str, Any]:
    return json.loads(b64url_decode(segment))


def encode_segment(value: Any) -> str:
    return b64url_encode(compact_json(value))


# Any JSON claim set a credential could carry (names never the reserved ones), for property tests.
RESERVED = {"_sd", "...", "iss", "iat", "exp", "nbf", "cnf", "vct", "vct#integrity", "status", "_sd_alg"}
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda name: name not in RESERVED
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)
claim_sets = st.dictionaries(names, json_values, min_size=1, max_size=6)


def assert_handed_bytes_match(parts: Presentation) -> None:
    """The bytes and digests a QR codec hands on with a presentation are exactly what its text
    decodes to and hashes to."""
    if parts.disclosure_digests is not None:
        assert list(parts.disclosure_digests) == [digest(d) for d in parts.disclosures]
    if parts.sd_hash is not None:
        assert parts.sd_hash == b64url_encode(hashlib.sha256(parts.covered.encode("ascii")).digest())
    if parts.payload_bytes is not None:
        assert parts.payload_bytes == b64url_decode(parts.payload)
    if parts.disclosure_bytes is not None:
        assert list(parts.disclosure_bytes) == [b64url_decode(d) for d in parts.disclosures]
    if parts.key_binding_parts is not None:
        header, payload, signature, payload_bytes = parts.key_binding_parts
        assert parts.key_binding.split(".") == [header, payload, b64url_encode(signature)]
        assert payload_bytes == b64url_decode(payload)

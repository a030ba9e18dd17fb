"""The desk's fast paths give exactly what the general paths give, on any input.

Three shortcuts keep the desk within its throughput target: :func:`parse_qr_text` (QR text
straight to a split presentation, through a compiled plan once a shape has been seen), the
flat disclosure resolver, and the short form of the validity checks. Each is compared here
with the general code it stands in for, on valid proofs and on hostile variations of them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import (
    AUD,
    NONCE,
    NOW,
    assert_handed_bytes_match,
    issue_any,
    issue_residency,
    make_keys,
    present_to_desk,
    verify_at_desk,
)

from credential import (
    DEFAULT_LIMITS,
    CredentialError,
    Limits,
    Presentation,
    decode_qr_text,
    encode_qr_text,
    parse_presentation,
    parse_qr_text,
    present_on_paper,
    verify_presentation,
)
from credential import _qrparse as plans
from credential._base45 import b45encode
from credential._qrtext import DICTIONARY_V1, QR_PREFIX, _inflate
from credential._sdjwt import _by_digest, _Resolver, digest, make_disclosure, resolve_disclosures

KEYS = make_keys()
ED_KEYS = make_keys("EdDSA")
RESIDENCY = issue_residency(KEYS)
IDENTITY = issue_any(
    KEYS,
    {"given_name": "Ana", "family_name": "Ruiz", "address": {"locality": "Riverton", "postal_code": "12345"}},
)
PROOFS = {
    "residency, two claims": present_to_desk(KEYS, RESIDENCY),
    "residency, one claim": present_to_desk(KEYS, RESIDENCY, disclose=["resident_of"]),
    "residency, no claim": present_to_desk(KEYS, RESIDENCY, disclose=[]),
    "residency, EdDSA": present_to_desk(ED_KEYS, issue_residency(ED_KEYS)),
    "nested claims": present_to_desk(KEYS, IDENTITY, disclose=["given_name", ("address", "locality")]),
    "paper": present_on_paper(RESIDENCY, disclose=["resident_of"]),
}


def _fields(parts: Presentation) -> tuple[Any, ...]:
    """What a presentation says. Bytes handed on must be exactly what its text decodes to;
    the general route hands none on."""
    assert_handed_bytes_match(parts)
    return parts.header, parts.payload, parts.signature, tuple(parts.disclosures), parts.key_binding, parts.covered


def _reference(text: str, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, ...] | str:
    """What the general route makes of ``text``: the fields, or the reason it is refused."""
    try:
        return _fields(parse_presentation(decode_qr_text(text, limits=limits), limits))
    except CredentialError as exc:
        return exc.reason.value


def _fast(text: str, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, ...] | str:
    try:
        return _fields(parse_qr_text(text, limits=limits))
    except CredentialError as exc:
        return exc.reason.value


def _qr(payload: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zdict=DICTIONARY_V1)
    return QR_PREFIX + b45encode(compressor.compress(payload) + compressor.flush())


@pytest.mark.parametrize("name", PROOFS)
def test_the_first_and_every_later_proof_of_a_shape_parse_as_the_general_route_does(name: str) -> None:
    plans._PLANS.clear()
    text = encode_qr_text(PROOFS[name])
    first, second = parse_qr_text(text), parse_qr_text(text)
    assert _fields(first) == _fields(second) == _reference(text)
    assert first.compact == PROOFS[name]
    assert plans._plan_for(_inflate(text, DEFAULT_LIMITS)) is not None  # the second one used a plan


def test_a_plan_is_used_for_another_proof_of_the_same_shape() -> None:
    plans._PLANS.clear()
    parse_qr_text(encode_qr_text(PROOFS["residency, two claims"]))
    other = encode_qr_text(present_to_desk(KEYS, issue_residency(KEYS)))  # new salts and signatures
    assert other != encode_qr_text(PROOFS["residency, two claims"])
    assert plans._plan_for(_inflate(other, DEFAULT_LIMITS)) is not None
    assert _fast(other) == _reference(other)


def test_changed_json_text_goes_through_the_plan_and_comes_out_changed() -> None:
    """The plan fixes where things are, never what the skeleton's text says."""
    original = encode_qr_text(PROOFS["residency, two claims"])
    parse_qr_text(original)
    data = _inflate(original, DEFAULT_LIMITS)
    assert b'"iat":' in data
    changed = data.replace(b"riverton", b"rivertoN").replace(b'"iat":1', b'"iat":2')
    assert plans._plan_for(changed) is not None
    text = _qr(changed)
    assert _fast(text) == _reference(text)
    assert b"rivertoN" in cast(bytes, parse_qr_text(text).payload_bytes)


def test_an_extra_marker_byte_in_the_text_turns_the_plan_away() -> None:
    original = encode_qr_text(PROOFS["residency, two claims"])
    parse_qr_text(original)
    data = _inflate(original, DEFAULT_LIMITS)
    changed = data.replace(b"riverton", b"river\xfeon").replace(b"river\xfeon", b"river\xffon", 1)
    assert plans._plan_for(changed) is None
    assert _fast(_qr(changed)) == _reference(_qr(changed))


def test_limits_are_applied_on_the_planned_route_too() -> None:
    text = encode_qr_text(PROOFS["residency, two claims"])
    parse_qr_text(text)
    assert _fast(text, Limits(max_presentation_chars=1000)) == _reference(text, Limits(max_presentation_chars=1000))
    assert _fast(text, Limits(max_disclosures=1)) == "too_large" == _reference(text, Limits(max_disclosures=1))


@settings(max_examples=400)
@given(
    name=st.sampled_from(sorted(PROOFS)),
    changes=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3),
    inserted=st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=3))),
)
def test_any_changed_payload_is_parsed_or_refused_exactly_as_the_general_route_does(
    name: str, changes: list[tuple[int, int]], inserted: tuple[int, bytes] | None
) -> None:
    """Prime a plan with the real proof, then change bytes anywhere: headers, markers, marker
    lengths, JSON text, random runs. The plan must either refuse itself or agree exactly."""
    original = encode_qr_text(PROOFS[name])
    parse_qr_text(original)
    data = bytearray(_inflate(original, DEFAULT_LIMITS))
    for index, value in changes:
        data[index % len(data)] = value
    if inserted is not None:
        at = inserted[0] % len(data)
        data[at:at] = inserted[1]
    text = _qr(bytes(data))
    assert _fast(text) == _reference(text)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(PROOFS)), index=st.integers(0, 10_000), value=st.integers(0, 255))
def test_verification_from_qr_text_and_from_the_compact_string_agree(name: str, index: int, value: int) -> None:
    original = encode_qr_text(PROOFS[name])
    parse_qr_text(original)
    data = bytearray(_inflate(original, DEFAULT_LIMITS))
    data[index % len(data)] = value
    text = _qr(bytes(data))
    paper = name == "paper"

    def outcome(parse: Callable[[], str | Presentation]) -> Any:
        """What verifying gives, from parsing on: a refusal while parsing counts like any other."""
        try:
            verified = verify_presentation(
                parse(), issuer_keys=(ED_KEYS if "EdDSA" in name else KEYS).trusted, audience=AUD, nonce=NONCE,
                now=NOW, unsafe_skip_key_binding=paper,
            )  # fmt: skip
        except CredentialError as exc:
            return exc.reason.value
        return verified._replace(disclosed=tuple(verified.disclosed))

    try:
        compact = decode_qr_text(text)
    except CredentialError as exc:
        assert _fast(text) == exc.reason.value
        return
    assert outcome(lambda: parse_qr_text(text)) == outcome(lambda: compact)


def test_plans_stay_few_however_many_shapes_are_shown() -> None:
    plans._PLANS.clear()
    for length in range(100):
        proof = present_to_desk(KEYS, RESIDENCY, audience="desk:" + "x" * length)
        parse_qr_text(encode_qr_text(proof))
    assert len(plans._PLANS) <= plans._SIZES_KEPT
    assert all(len(kept) <= plans._PLANS_PER_SIZE for kept in plans._PLANS.values())


# -- the flat resolver ------------------------------------------------------------------

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["_sd", "...", "a", "b"]), inner),
    max_leaves=6,
)
_NAMES = st.sampled_from(["a", "b", "iss", "cnf", "status", "_sd", "...", "_sd_alg", "iat", "vct"])


def _general(payload: dict[str, Any], disclosures: list[str]) -> Any:
    try:
        by_digest = _by_digest(disclosures, DEFAULT_LIMITS, None, None)
        resolver = _Resolver(by_digest, DEFAULT_LIMITS)
        claims = resolver.object(payload, ())
        if len(resolver.paths) != len(by_digest):
            return "digest_mismatch"
        claims.pop("_sd_alg", None)
        return claims, tuple(resolver.paths)
    except CredentialError as exc:
        return exc.reason.value


def _resolved(payload: dict[str, Any], disclosures: list[str]) -> Any:
    try:
        resolved = resolve_disclosures(payload, disclosures, DEFAULT_LIMITS)
    except CredentialError as exc:
        return exc.reason.value
    return resolved.claims, resolved.paths


@settings(max_examples=400)
@given(
    payload=st.dictionaries(_NAMES, _VALUES, max_size=5),
    disclosed=st.lists(st.tuples(st.text(max_size=3), st.none() | _NAMES, _VALUES), max_size=4),
    extra_digests=st.lists(st.sampled_from(["x", "y"]) | st.integers(0, 2) | st.none(), max_size=2),
    referenced=st.booleans(),
)
def test_the_flat_resolver_agrees_with_the_general_one(
    payload: dict[str, Any], disclosed: list[tuple[str, str | None, Any]], extra_digests: list[Any], referenced: bool
) -> None:
    disclosures = [make_disclosure(salt, name, value) for salt, name, value in disclosed]
    if referenced:
        payload = {**payload, "_sd": [digest(d) for d in disclosures] + extra_digests}
    assert _resolved(payload, disclosures) == _general(payload, disclosures)


def test_a_proof_with_duplicate_digests_is_refused_by_both() -> None:
    disclosure = make_disclosure("salt", "a", 1)
    payload = {"_sd": [digest(disclosure), digest(disclosure)]}
    assert _resolved(payload, [disclosure]) == _general(payload, [disclosure]) == "duplicate_digest"


def test_the_flat_and_general_results_verify_the_same_proof() -> None:
    verified = verify_at_desk(KEYS, PROOFS["residency, two claims"])
    assert verified.claims == {"resident_of": "Riverton", "age_over_18": True}
    nested = verify_at_desk(KEYS, PROOFS["nested claims"])
    assert nested.claims == {"given_name": "Ana", "address": {"locality": "Riverton"}}

"""``CID2:`` proofs through a plan per shape give exactly what the general way gives.

The desk reads ``CID2:`` text with :func:`parse_qr_text`, which rebuilds a proof of a shape it
has seen through that shape's compiled plan. Here the plan's result is compared with the
general way's (``parse_presentation(decode_qr_text(...))``, with the shape cache emptied first,
so that it parses every skeleton afresh): on real proofs of several kinds, on desks that cannot
rebuild them, and on payloads changed anywhere after a plan exists.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import AUD, NONCE, NOW, assert_handed_bytes_match, issue_any, issue_residency, make_keys, present_to_desk

from credential import (
    DEFAULT_LIMITS,
    CredentialError,
    Limits,
    Presentation,
    QrContext,
    _keys,
    decode_qr_text,
    encode_qr_text,
    offline_audience,
    parse_presentation,
    parse_qr_text,
    present,
    present_on_paper,
    qr_context,
    verify_presentation,
)
from credential import _qrparse as plans
from credential import _qrtext2 as shapes
from credential._base45 import b45encode
from credential._encoding import b64url_decode
from credential._keys import load_public_jwk
from credential._qrtext import _varint
from credential._qrtext2 import DICTIONARY_V2, QR_PREFIX_V2, inflate_v2
from issuer.typemetadata import published_types

KEYS = make_keys()
ED_KEYS = make_keys("EdDSA")
ISS = "https://id.riverton.example"
TYPES = published_types(f"{ISS}/types")
INTEGRITY = [published.integrity for published in TYPES.values()]
DESK = qr_context(nonce=NONCE, audience=AUD, known=INTEGRITY)
RESIDENCY = issue_residency(KEYS, type_reference=TYPES["residency"].reference)
NESTED = issue_any(
    KEYS, {"given_name": "Ana", "address": {"locality": "Zürich", "postal_code": "8001"}},
    vct_integrity=TYPES["identity"].integrity,
)  # fmt: skip
OFFLINE = qr_context(known=INTEGRITY)
EVERY_CLAIM = ["resident_of", "age_over_18", "age_over_21", "age_over_65"]
SENIORS = offline_audience("senior-discount")
PROOFS: dict[str, tuple[Callable[[], str], QrContext]] = {
    "residency": (lambda: present_to_desk(KEYS, RESIDENCY), DESK),
    "residency, EdDSA (no point to rebuild)": (
        lambda: present_to_desk(ED_KEYS, issue_residency(ED_KEYS, type_reference=TYPES["residency"].reference)),
        DESK,
    ),
    "residency, every claim": (
        lambda: present_to_desk(KEYS, RESIDENCY, disclose=EVERY_CLAIM),
        DESK,
    ),
    "residency, nothing disclosed": (lambda: present_to_desk(KEYS, RESIDENCY, disclose=[]), DESK),
    "residency, urn vct (nothing known)": (lambda: present_to_desk(KEYS, issue_residency(KEYS)), DESK),
    "nested claims, non-ASCII text": (
        lambda: present_to_desk(KEYS, NESTED, disclose=["given_name", ("address", "locality")]),
        DESK,
    ),
    "offline (nonce and audience carried)": (
        lambda: present(
            RESIDENCY, disclose=["age_over_18"], holder_key=KEYS.holder, audience=SENIORS, nonce="offline", now=NOW
        ),
        OFFLINE,
    ),
    "paper": (lambda: present_on_paper(RESIDENCY, disclose=["resident_of"]), OFFLINE),
}


def _cid2(presentation: str, context: QrContext = DESK) -> str:
    """The proof as a wallet shows it: nonce and audience left out only when it answers a request."""
    text = encode_qr_text(presentation, version=2, answers_request=context.nonce is not None)
    assert text.startswith(QR_PREFIX_V2)
    return text


def _qr(payload: bytes) -> str:
    compressor = zlib.compressobj(level=9, wbits=15, memLevel=9, zdict=DICTIONARY_V2)
    return QR_PREFIX_V2 + b45encode(compressor.compress(payload) + compressor.flush())


def _fields(parts: Presentation) -> tuple[Any, ...]:
    """Everything a presentation says; the bytes and digests handed on must be what its text
    decodes and hashes to (only a plan hands on digests, so they are left out here)."""
    assert_handed_bytes_match(parts)
    return tuple(parts)[:_DIGESTS]


_DIGESTS = Presentation._fields.index("disclosure_digests")


def _general(text: str, context: QrContext = DESK, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The general way, every skeleton parsed afresh: the fields, or the reason of the refusal."""
    shapes._SHAPES.clear()
    try:
        return _fields(parse_presentation(decode_qr_text(text, context=context, limits=limits), limits))[:6]
    except CredentialError as exc:
        return exc.reason.value


def _desk(text: str, context: QrContext = DESK, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The desk's way, through a plan when one fits; bytes handed on must match the text."""
    try:
        return _fields(parse_qr_text(text, context=context, limits=limits))[:6]
    except CredentialError as exc:
        return exc.reason.value


def _planned(text: str) -> bool:
    return plans._plan_v2_for(inflate_v2(text, DEFAULT_LIMITS)) is not None


@pytest.mark.parametrize("name", PROOFS)
def test_the_first_and_every_later_proof_of_a_shape_are_rebuilt_as_the_general_way_does(name: str) -> None:
    make, context = PROOFS[name]
    plans._PLANS_V2.clear()
    presentation = make()
    text = _cid2(presentation, context)
    first = parse_qr_text(text, context=context)  # the general way, which makes the plan
    assert _planned(text)
    second = parse_qr_text(text, context=context)  # through the plan
    assert second.compact == first.compact == presentation
    assert _fields(second) == _fields(first)
    assert [type(field) for field in second][:_DIGESTS] == [type(field) for field in first][:_DIGESTS]
    assert second.sd_hash is not None or not second.key_binding
    assert _fields(second)[:6] == _general(text, context)


@pytest.mark.parametrize("name", PROOFS)
def test_another_proof_of_the_same_shape_goes_through_the_plan(name: str) -> None:
    """New salts, signatures and key binding, and the digests of the disclosed claims fall
    elsewhere among the carried ones: the same plan rebuilds it."""
    make, context = PROOFS[name]
    plans._PLANS_V2.clear()
    parse_qr_text(_cid2(make(), context), context=context)
    for _ in range(6):
        presentation = make()
        text = _cid2(presentation, context)
        if _planned(text):
            assert parse_qr_text(text, context=context).compact == presentation
            assert _desk(text, context) == _general(text, context)
            return
    pytest.fail("no proof of the same shape came up")


@pytest.mark.parametrize(
    "context",
    [
        qr_context(nonce="another-nonce-here", audience=AUD, known=INTEGRITY),
        qr_context(nonce=NONCE, audience="desk:other", known=INTEGRITY),
        qr_context(audience=AUD, known=INTEGRITY),
        qr_context(nonce=NONCE, audience=AUD),
        qr_context(nonce=NONCE, audience=AUD, known=["sha256-other"]),
    ],
)
def test_a_desk_that_cannot_rebuild_a_planned_proof_refuses_it_with_the_general_reason(context: QrContext) -> None:
    text = _cid2(present_to_desk(KEYS, RESIDENCY))
    parse_qr_text(text, context=DESK)
    assert _planned(text)
    refusal = _desk(text, context)
    assert isinstance(refusal, str) and refusal == _general(text, context)


def test_limits_hold_on_the_planned_way_too() -> None:
    text = _cid2(present_to_desk(KEYS, RESIDENCY))
    parse_qr_text(text, context=DESK)
    for limits in (Limits(max_presentation_chars=1000), Limits(max_disclosures=1)):
        assert _desk(text, limits=limits) == "too_large" == _general(text, limits=limits)


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(PROOFS)),
    changes=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3),
    inserted=st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=3))),
)
def test_any_changed_payload_is_rebuilt_or_refused_exactly_as_the_general_way_does(
    name: str, changes: list[tuple[int, int]], inserted: tuple[int, bytes] | None
) -> None:
    """Prime a plan with a real proof, then change bytes anywhere: segment headers, markers,
    tags, the parity, digest indexes, JSON text, random runs. The plan must step aside or agree."""
    make, context = PROOFS[name]
    original = _cid2(make(), context)
    parse_qr_text(original, context=context)
    data = bytearray(inflate_v2(original, DEFAULT_LIMITS))
    for index, value in changes:
        data[index % len(data)] = value
    if inserted is not None:
        at = inserted[0] % len(data)
        data[at:at] = inserted[1]
    text = _qr(bytes(data))
    assert _desk(text, context) == _general(text, context)


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(0, 2**16 - 1), second=st.integers(0, 2**16 - 1), nonce=st.booleans(), audience=st.booleans(),
    known=st.booleans(),
)  # fmt: skip
def test_any_tags_and_any_desk_give_the_general_outcome(
    first: int, second: int, nonce: bool, audience: bool, known: bool
) -> None:
    """The tags of a planned shape are not fixed by it: any tags, against a desk that holds the
    request's values or not, are rebuilt or refused as the general way does."""
    presentation = present_to_desk(KEYS, RESIDENCY)
    text = _cid2(presentation)
    parse_qr_text(text, context=DESK)
    data = inflate_v2(text, DEFAULT_LIMITS)
    for member, tag in ((b'"nonce":\xfc', first), (b'"aud":\xfb', second)):
        at = data.index(member) + len(member)
        data = data[:at] + tag.to_bytes(2, "big") + data[at + 2 :]
    context = qr_context(nonce=NONCE if nonce else "another-nonce-here", audience=AUD if audience else "desk:x",
                         known=INTEGRITY if known else ())  # fmt: skip
    changed = _qr(data)
    assert _planned(changed)
    assert _desk(changed, context) == _general(changed, context)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(PROOFS)), index=st.integers(0, 10_000), value=st.integers(0, 255))
def test_verification_through_a_plan_and_from_the_compact_string_agree(name: str, index: int, value: int) -> None:
    make, context = PROOFS[name]
    original = _cid2(make(), context)
    parse_qr_text(original, context=context)
    data = bytearray(inflate_v2(original, DEFAULT_LIMITS))
    data[index % len(data)] = value
    text = _qr(bytes(data))
    keys = ED_KEYS if "EdDSA" in name else KEYS
    audience, nonce = (context.audience or SENIORS, context.nonce or "offline")

    def outcome(parse: Callable[[], str | Presentation]) -> Any:
        try:
            verified = verify_presentation(parse(), issuer_keys=keys.trusted, audience=audience, nonce=nonce, now=NOW,
                                           unsafe_skip_key_binding=name == "paper")  # fmt: skip
        except CredentialError as exc:
            return exc.reason.value
        return verified._replace(disclosed=tuple(verified.disclosed))

    try:
        compact = decode_qr_text(text, context=context)
    except CredentialError as exc:
        assert _desk(text, context) == exc.reason.value
        return
    assert outcome(lambda: parse_qr_text(text, context=context)) == outcome(lambda: compact)


def _skeleton(payload: bytes, disclosure: bytes) -> bytes:
    """``{}.<payload>.<4-byte signature>~<disclosure>~`` (a paper proof), segment by segment."""

    def json(body: bytes, separator: int) -> bytes:
        return _varint(len(body) << 4 | separator) + body

    return json(b"{}", 0) + json(payload, 0) + bytes([4 << 4 | 1 << 2 | 1]) + json(disclosure, 1) + json(b"", 2)


def test_digest_markers_with_another_marker_among_them_are_never_reordered() -> None:
    """Which digests are carried decides which random run each marker after them takes; with a
    16-byte run among them, another order means runs of other lengths. Such a shape is kept
    with its digest markers fixed, so a proof in another order is parsed afresh."""
    disclosure = b'[\xff\x10,"a",1]'
    blobs = bytes(range(32)) + bytes(range(100, 116)) + b"SIGN" + bytes(range(200, 216))
    carried_first = _qr(_skeleton(b'{"_sd":[\xff\x20,\xff\x10,\xfe\x00]}', disclosure) + blobs)
    carried_last = _qr(_skeleton(b'{"_sd":[\xfe\x00,\xff\x10,\xff\x20]}', disclosure) + blobs)
    fresh = _general(carried_last, OFFLINE)
    assert isinstance(fresh, tuple)  # it decodes (its signature would fail later)
    for parse in (decode_qr_text, parse_qr_text):
        shapes._SHAPES.clear()
        parse(carried_first, context=OFFLINE)  # its shape is kept, and a plan made from it
        assert _desk(carried_last, OFFLINE) == fresh
        assert parse_presentation(decode_qr_text(carried_last, context=OFFLINE), DEFAULT_LIMITS)[:6] == fresh


def test_plans_stay_few_however_many_shapes_are_shown() -> None:
    plans._PLANS_V2.clear()
    for length in range(80):
        held = issue_any(KEYS, {"a": "x" * length, "b": 1}, vct_integrity=INTEGRITY[0])
        parse_qr_text(_cid2(present_to_desk(KEYS, held, disclose=["a"])), context=DESK)
    assert 0 < len(plans._PLANS_V2) <= plans._SIZES_KEPT
    assert all(len(kept) <= plans._PLANS_PER_SIZE for kept in plans._PLANS_V2.values())
    assert all(len(plan.orders) <= plans._ORDERS_KEPT for kept in plans._PLANS_V2.values() for plan in kept)


def test_the_holder_key_the_codec_made_is_handed_on_once_for_exactly_its_members() -> None:
    """The codec keeps the key it decompressed for the verifier, which loads the same JWK next:
    it is found by the JWK's x and y exactly as written, and only once."""
    parts = parse_qr_text(_cid2(present_to_desk(KEYS, RESIDENCY)), context=DESK)
    holder = orjson.loads(b64url_decode(parts.payload))["cnf"]["jwk"]
    kept = _keys._DECOMPRESSED[holder["x"], holder["y"]]
    assert load_public_jwk(holder)[1] is kept
    assert (holder["x"], holder["y"]) not in _keys._DECOMPRESSED
    again = load_public_jwk(holder)[1]  # loaded anew from x and y: the same point
    assert again is not kept and again.public_numbers() == kept.public_numbers()

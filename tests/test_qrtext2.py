"""The ``CID2:`` codec: the desk rebuilds what the proof leaves out, byte for byte, or refuses
with a reason. Round trips, the QR size goal, hand-made broken payloads and fuzzing."""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import AUD, NONCE, NOW, STATUS, claim_sets, issue_any, issue_residency, make_keys, present_to_desk

from cityid.demo import RESIDENT
from credential import (
    IDENTITY,
    RESIDENCY,
    CredentialError,
    Limits,
    MalformedError,
    Reason,
    StatusReference,
    VerifyOptions,
    decode_qr_text,
    encode_qr_text,
    issue_credential,
    offline_audience,
    parse_issued,
    parse_presentation,
    parse_qr_text,
    present,
    present_on_paper,
    qr_context,
    residency_claims,
    verify_presentation,
)
from credential._base45 import b45encode
from credential._qrtext import _varint
from credential._qrtext2 import DICTIONARY_V2, QR_PREFIX_V2, _shape_of, inflate_v2, tag, unpack_v2
from edges.camerasim import camera_frame
from edges.qrimage import decode_qr_images, make_qr
from issuer.typemetadata import published_types

KEYS = make_keys()
ED_KEYS = make_keys("EdDSA")
ISS = "https://id.riverton.example"
TYPES = published_types(f"{ISS}/types")
INTEGRITY = {name: published.integrity for name, published in TYPES.items()}
DESK = qr_context(nonce=NONCE, audience=AUD, known=INTEGRITY.values())
ROOMY = Limits(max_disclosures=200)


def _residency(keys: Any = KEYS, **overrides: Any) -> str:
    return issue_residency(keys, type_reference=TYPES["residency"].reference, **overrides)


def _cid2(presentation: str, *, answers_request: bool = True) -> str:
    text = encode_qr_text(presentation, version=2, answers_request=answers_request)
    assert text.startswith(QR_PREFIX_V2)
    return text


def test_the_dictionary_is_frozen() -> None:
    """Changing DICTIONARY_V2 breaks every CID2: proof in flight: make CID3 instead."""
    assert zlib.adler32(DICTIONARY_V2) == 0x0CF004A2 and len(DICTIONARY_V2) == 809


def _identity() -> str:
    return issue_credential(IDENTITY, RESIDENT, issuer_key=KEYS.issuer, iss=ISS, holder_jwk=KEYS.holder.public_jwk(),
                            now=NOW, status=STATUS, type_reference=TYPES["identity"].reference)  # fmt: skip


def _identity() -> str:
    return issue_credential(IDENTITY, RESIDENT, issuer_key=KEYS.issuer, iss=ISS, holder_jwk=KEYS.holder.public_jwk(),
                            now=NOW, status=STATUS, type_reference=TYPES["identity"].reference)  # fmt: skip


PROOFS = {
    "residency": lambda: present_to_desk(KEYS, _residency()),
    "residency, EdDSA": lambda: present_to_desk(ED_KEYS, _residency(ED_KEYS)),
    "residency, every claim": lambda: present_to_desk(
        KEYS, _residency(), disclose=["resident_of", "age_over_18", "age_over_21", "age_over_65"]
    ),
    "residency, nothing disclosed": lambda: present_to_desk(KEYS, _residency(), disclose=[]),
    "residency, urn vct (issued before)": lambda: present_to_desk(KEYS, issue_residency(KEYS)),
    "identity with address": lambda: present_to_desk(KEYS, _identity(), disclose=["given_name", "address"]),
}


@pytest.mark.parametrize("make", PROOFS.values(), ids=PROOFS.keys())
def test_a_proof_is_rebuilt_exactly_by_the_desk_it_answers(make: Any) -> None:
    presentation = make()
    text = _cid2(presentation)
    assert len(text) < len(encode_qr_text(presentation))
    assert decode_qr_text(text, context=DESK) == presentation
    parsed = parse_qr_text(text, context=DESK)  # the desk's own path, straight to the parts
    assert parsed.compact == presentation and parsed[:6] == parse_presentation(presentation, Limits())[:6]


def test_offline_and_paper_proofs_need_no_request_to_rebuild() -> None:
    offline = present(_residency(), disclose=["age_over_65"], holder_key=KEYS.holder,
                      audience=offline_audience("senior-discount"), nonce="offline-nonce-1", now=NOW)  # fmt: skip
    paper = present_on_paper(_residency(), disclose=["resident_of"])
    trust_only = qr_context(known=INTEGRITY.values())
    for presentation in (offline, paper):
        assert decode_qr_text(_cid2(presentation, answers_request=False), context=trust_only) == presentation


@settings(max_examples=60, deadline=None)
@given(claims=claim_sets, data=st.data(), eddsa=st.booleans(), decoys=st.integers(0, 3))
def test_any_claim_set_round_trips_and_verifies(
    claims: dict[str, Any], data: st.DataObject, eddsa: bool, decoys: int
) -> None:
    keys = ED_KEYS if eddsa else KEYS
    held = parse_issued(issue_any(keys, claims, vct_integrity="sha256-abc", decoys=decoys), limits=ROOMY)
    paths = data.draw(st.lists(st.sampled_from([path for path, _ in held.paths]), max_size=4, unique=True))
    presentation = present_to_desk(keys, held, disclose=paths)
    desk = qr_context(nonce=NONCE, audience=AUD, known=["sha256-abc"])
    rebuilt = decode_qr_text(_cid2(presentation), context=desk, limits=ROOMY)
    assert rebuilt == presentation
    verify_presentation(rebuilt, issuer_keys=keys.trusted, audience=AUD, nonce=NONCE, now=NOW,
                        options=VerifyOptions(limits=ROOMY))  # fmt: skip


def test_a_compact_without_the_usual_shape_falls_back_to_cid1() -> None:
    for odd in ("a.b.c", "e30.e30.c2ln~~", "not a proof"):
        assert encode_qr_text(odd, version=2).startswith("CID1:")


def test_the_residency_proof_fits_version_16_with_a_30_character_issuer_and_reads_from_a_camera() -> None:
    """The issue's goal: the demo's residency proof, issuer URL of 30 characters, at most QR
    version 16 at level M (CID1: needs 20), and read from camera-like frames."""
    iss = "https://id.city-of-riverton.us"
    assert len(iss) == 30
    holder = KEYS.holder
    issued = issue_credential(
        RESIDENCY, residency_claims("Riverton", dt.date(1991, 6, 14), dt.date(2026, 11, 23)), issuer_key=KEYS.issuer,
        iss=iss, holder_jwk=holder.public_jwk(), now=NOW, status=StatusReference(48_213, f"{iss}/status/1"),
        type_reference=published_types(f"{iss}/types")["residency"].reference,
    )  # fmt: skip
    nonce = "Q2l0eUlEIGRlc2sgbm9uY2U"  # 16 random bytes, as a desk makes them
    presentation = present(issued, disclose=["resident_of", "age_over_18"], holder_key=holder,
                           audience="desk:rec-centre", nonce=nonce, now=NOW)  # fmt: skip
    text = _cid2(presentation)
    symbol = make_qr(text)
    assert symbol.version <= 16 < make_qr(encode_qr_text(presentation)).version
    frames = [camera_frame(symbol, seed=seed) for seed in range(8)]
    assert sum(text in decode_qr_images(frame) for frame in frames) >= 7
    desk = qr_context(
        nonce=nonce, audience="desk:rec-centre", known=[published_types(f"{iss}/types")["residency"].integrity]
    )
    assert decode_qr_text(text, context=desk) == presentation


# ---- what the desk cannot rebuild ---------------------------------------------------------------

PROOF = present_to_desk(KEYS, _residency())
TEXT = _cid2(PROOF)


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        (qr_context(nonce="another-nonce", audience=AUD, known=INTEGRITY.values()), Reason.NONCE_MISMATCH),
        (qr_context(nonce=NONCE, audience="desk:other", known=INTEGRITY.values()), Reason.AUDIENCE_MISMATCH),
        (qr_context(audience=AUD, known=INTEGRITY.values()), Reason.NONCE_MISMATCH),  # an offline check
        (qr_context(nonce=NONCE, audience=AUD), Reason.UNSUPPORTED_CREDENTIAL_TYPE),  # a desk without the type
        (qr_context(nonce=NONCE, audience=AUD, known=["sha256-other"]), Reason.UNSUPPORTED_CREDENTIAL_TYPE),
    ],
)
def test_a_desk_that_cannot_rebuild_the_proof_says_why(context: Any, reason: Reason) -> None:
    with pytest.raises(CredentialError) as caught:
        parse_qr_text(TEXT, context=context)
    assert caught.value.reason is reason


def _twins() -> tuple[str, str]:
    """Two strings whose three-byte tags are the same (a birthday search: a few thousand tries)."""
    seen: dict[bytes, str] = {}
    for n in range(200_000):
        value = f"sha256-{n}"
        if (twin := seen.setdefault(tag(value, 3), value)) != value:
            return twin, value
    raise AssertionError("no two tags alike")


def test_two_known_strings_with_the_same_tag_name_neither() -> None:
    """A desk never guesses: a tag two of its strings share rebuilds nothing."""
    first, second = _twins()
    held = parse_issued(issue_any(KEYS, {"a": 1}, vct_integrity=first))
    text = _cid2(present_to_desk(KEYS, held, disclose=["a"]))
    assert decode_qr_text(text, context=qr_context(nonce=NONCE, audience=AUD, known=[first]))
    with pytest.raises(MalformedError) as caught:
        decode_qr_text(text, context=qr_context(nonce=NONCE, audience=AUD, known=[first, second]))
    assert caught.value.reason is Reason.UNSUPPORTED_CREDENTIAL_TYPE


def _other_dictionary(payload: bytes) -> bytes:
    compressor = zlib.compressobj(level=9, wbits=15, memLevel=9, zdict=b"another dictionary")
    return compressor.compress(payload) + compressor.flush()


def _payload(skeleton: bytes, blobs: bytes = b"") -> str:
    compressor = zlib.compressobj(level=9, wbits=15, memLevel=9, zdict=DICTIONARY_V2)
    return QR_PREFIX_V2 + b45encode(compressor.compress(skeleton + blobs) + compressor.flush())


def _json(body: bytes, separator: int) -> bytes:
    return _varint(len(body) << 4 | 0 << 2 | separator)


SIG = bytes([4 << 4 | 1 << 2 | 1])  # a 4-byte signature, then "~"
EMPTY_END = bytes([0 << 4 | 0 << 2 | 2])


def _skeleton(header: bytes = b"{}", payload: bytes = b"{}", kb_payload: bytes | None = None) -> bytes:
    """h.p.s~ with these JSON bodies, or h.p.s~h.p.s with a key-binding payload."""
    out = _json(header, 0) + header + _json(payload, 0) + payload + SIG
    if kb_payload is None:
        return out + EMPTY_END
    return out + _json(b"{}", 0) + b"{}" + _json(kb_payload, 0) + kb_payload + bytes([4 << 4 | 1 << 2 | 2])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_payload(_skeleton(payload=b"[\xfe\x00]"), b"SIGN"), Reason.MALFORMED),  # digest of a missing disclosure
        (_payload(_skeleton(header=b"[\xfe\x00]"), b"SIGN"), Reason.MALFORMED),  # a digest outside the payload
        (_payload(_skeleton(payload=b"[\xfd]"), b"SIGN"), Reason.MALFORMED),  # sd_hash outside the key binding
        (_payload(_skeleton(payload=b'{"n":\xfc\x00\x00}'), b"SIGN"), Reason.MALFORMED),  # nonce too
        (_payload(_skeleton(payload=b"{\xfa\x02}"), b"\xff" * 32 + b"SIGN"), Reason.HOLDER_KEY_INVALID),  # x >= p
        (_payload(_skeleton(payload=b"{\xfa\x07}"), b"\x01" * 32 + b"SIGN"), Reason.HOLDER_KEY_INVALID),  # parity
        (_payload(_skeleton(payload=b"{\xf6}"), b"SIGN"), Reason.MALFORMED),  # no such marker
        (_payload(_skeleton(payload=b"{\xf9\x00}"), b"SIGN"), Reason.MALFORMED),  # a cut-off tag
        (
            _payload(_json(b"{}", 0) + b"{}" + bytes([2 << 4 | 1 << 2 | 0]) + SIG + EMPTY_END, b"PLSIGN"),
            None,
        ),  # a payload of random bytes: rebuilt, then refused when verified
        (_payload(_skeleton(), b"SIGN" + b"x"), Reason.MALFORMED),  # unused random bytes
        (_payload(_skeleton(), b"SIG"), Reason.MALFORMED),  # missing random bytes
        (_payload(_json(b"{}", 2) + b"{}"), Reason.MALFORMED),  # not an SD-JWT's shape
        (_payload(bytes([1 << 4 | 2 << 2 | 2]) + b"a"), Reason.MALFORMED),  # CID1's verbatim text kind
        (_payload(_skeleton(kb_payload=b'{"a":\xfd}'), b"SIGNSIGN"), None),  # fine: only the signatures fail
        (QR_PREFIX_V2 + b45encode(_other_dictionary(_skeleton())), Reason.BAD_ENCODING),  # not DICTIONARY_V2
        (QR_PREFIX_V2 + "%%%", Reason.BAD_ENCODING),
    ],
)
def test_broken_payloads_are_refused_with_a_reason(text: str, reason: Reason | None) -> None:
    if reason is None:
        assert decode_qr_text(text, context=DESK)
        return
    with pytest.raises(CredentialError) as caught:
        decode_qr_text(text, context=DESK)
    assert caught.value.reason is reason


def test_the_rebuilt_presentation_is_bounded() -> None:
    big = present_to_desk(KEYS, _residency(), disclose=["resident_of", "age_over_18", "age_over_21", "age_over_65"])
    with pytest.raises(MalformedError) as caught:
        decode_qr_text(_cid2(big), context=DESK, limits=Limits(max_presentation_chars=len(big) - 1))
    assert caught.value.reason is Reason.TOO_LARGE


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(TEXT) - 1 - len(QR_PREFIX_V2)), replacement=st.sampled_from("0123456789ABCDEFGHIJ"))
def test_any_changed_character_is_refused_with_a_reason_or_fails_verification(index: int, replacement: str) -> None:
    position = len(QR_PREFIX_V2) + index
    changed = TEXT[:position] + replacement + TEXT[position + 1 :]
    if changed == TEXT:
        return
    try:
        rebuilt = decode_qr_text(changed, context=DESK)
    except CredentialError as exc:
        assert isinstance(exc.reason, Reason)
        return
    with pytest.raises(CredentialError):
        verify_presentation(rebuilt, issuer_keys=KEYS.trusted, audience=AUD, nonce=NONCE, now=NOW)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_decompressed_payload_decodes_or_is_refused(payload: bytes) -> None:
    try:
        assert isinstance(decode_qr_text(_payload(payload), context=DESK), str)
    except CredentialError as exc:
        assert isinstance(exc.reason, Reason)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=300))
def test_any_base45_text_decodes_or_is_refused(body: str) -> None:
    try:
        decode_qr_text(QR_PREFIX_V2 + body, context=DESK)
    except CredentialError as exc:
        assert isinstance(exc.reason, Reason)


def test_a_shape_seen_before_is_cut_the_way_parsing_would_cut_it() -> None:
    """The desk parses a shape of proof once; a later proof of the same shape (here another
    request and time) is cut by it, and a skeleton that differs anywhere else is parsed anew."""
    issued = _residency()
    first = present_to_desk(KEYS, issued)
    second = present_to_desk(KEYS, issued, now=NOW - 5, nonce="another-nonce-here")
    assert decode_qr_text(_cid2(first), context=DESK) == first
    data = inflate_v2(_cid2(second), Limits())
    assert _shape_of(data) is _shape_of(inflate_v2(_cid2(first), Limits()))  # the same shape, kept
    assert (
        unpack_v2(data, qr_context(nonce="another-nonce-here", audience=AUD, known=INTEGRITY.values())).compact()
        == second
    )
    at = data.index(b'"alg"')
    for stray in (b"\xf6", b"\xff", b"\xfa"):  # a marker byte where the shape has text
        with pytest.raises(MalformedError):
            unpack_v2(data[:at] + stray + data[at + 1 :], DESK)

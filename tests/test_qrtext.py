"""The QR text codec: lossless, small, and bounded against hostile input."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import issue_residency, make_keys, present_to_desk, verify_at_desk

from credential import QR_PREFIX, Limits, MalformedError, Reason, decode_qr_text, encode_qr_text
from credential._base45 import ALPHABET, b45encode
from credential._qrtext import DICTIONARY_V1, repack

KEYS = make_keys()
PROOF = present_to_desk(KEYS, issue_residency(KEYS))
COMPACT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def _qr(payload: bytes, *, prefix: str = QR_PREFIX, dictionary: bytes = DICTIONARY_V1) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zdict=dictionary) if dictionary else zlib.compressobj(9)
    return prefix + b45encode(compressor.compress(payload) + compressor.flush())


def test_the_dictionary_is_frozen() -> None:
    """Changing DICTIONARY_V1 breaks every QR code printed with CID1: make CID2 instead."""
    assert zlib.adler32(DICTIONARY_V1) == 0x997C0A6A
    assert len(DICTIONARY_V1) == 834


def test_a_proof_round_trips_exactly_and_still_verifies() -> None:
    text = encode_qr_text(PROOF)
    assert text.startswith(QR_PREFIX)
    assert set(text[len(QR_PREFIX) :]) <= set(ALPHABET)
    assert decode_qr_text(text) == PROOF
    assert verify_at_desk(KEYS, decode_qr_text(text)).claims == {"resident_of": "Riverton", "age_over_18": True}


def test_the_codec_is_much_smaller_than_the_compact_form() -> None:
    text = encode_qr_text(PROOF)
    _, blobs = repack(PROOF)
    assert len(text) < 0.65 * len(PROOF)
    # What is left is mostly the irreducible random bytes: signatures, digests, salts, key.
    assert len(blobs) >= 380
    assert (len(text) - len(QR_PREFIX)) * 2 / 3 < len(blobs) + 150


@given(st.text(alphabet=COMPACT_ALPHABET, max_size=600))
def test_any_compact_shaped_text_round_trips(text: str) -> None:
    assert decode_qr_text(encode_qr_text(text)) == text


@given(st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=300))
def test_any_printable_ascii_round_trips(text: str) -> None:
    assert decode_qr_text(encode_qr_text(text)) == text


def test_non_canonical_base64url_is_carried_verbatim() -> None:
    odd = PROOF[:-1] + ("R" if PROOF[-1] == "Q" else "Q")  # trailing bits, or a different last char
    for text in (odd, "QR.QUJ~a+b", "..~~", ""):
        assert decode_qr_text(encode_qr_text(text)) == text


def test_non_ascii_cannot_be_encoded() -> None:
    with pytest.raises(MalformedError) as caught:
        encode_qr_text("é~")
    assert caught.value.reason is Reason.BAD_ENCODING


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("CID9:AAAA", Reason.UNSUPPORTED_FORMAT),
        ("HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE", Reason.UNSUPPORTED_FORMAT),
        ("cid1:AAA", Reason.UNSUPPORTED_FORMAT),
        ("CID1:abc", Reason.BAD_ENCODING),
        ("CID1:A", Reason.BAD_ENCODING),
        ("CID1:", Reason.BAD_ENCODING),
        ("CID1:" + "A" * 4300, Reason.TOO_LARGE),
    ],
)
def test_bad_qr_text_is_refused(text: str, reason: Reason) -> None:
    with pytest.raises(MalformedError) as caught:
        decode_qr_text(text)
    assert caught.value.reason is reason


def test_corruption_is_caught_by_the_zlib_checksum() -> None:
    text = encode_qr_text(PROOF)
    middle = len(text) // 2
    corrupted = text[:middle] + ("0" if text[middle] != "0" else "1") + text[middle + 1 :]
    with pytest.raises(MalformedError) as caught:
        decode_qr_text(corrupted)
    assert caught.value.reason in {Reason.BAD_ENCODING, Reason.MALFORMED}


def test_a_zip_bomb_stops_at_the_limit() -> None:
    bomb = _qr(b"\x00" * 5_000_000)
    assert len(bomb) < 8_000
    with pytest.raises(MalformedError) as caught:
        decode_qr_text(bomb, limits=Limits(max_qr_text_chars=10_000))
    assert caught.value.reason is Reason.TOO_LARGE


@pytest.mark.parametrize("limit", [16_384, 8_192, 4_096, 4_097, 5_000])
def test_a_payload_that_inflates_in_several_steps_round_trips_up_to_the_limit(limit: int) -> None:
    compact = "~".join(["abcd" * 300] * 5)  # 4,500 random-looking bytes, but compressible
    skeleton, blobs = repack(compact)
    inflated = len(skeleton) + len(blobs)
    assert inflated > 4_096
    text = encode_qr_text(compact)
    if inflated <= limit:
        assert decode_qr_text(text, limits=Limits(max_decompressed_bytes=limit)) == compact
    else:
        with pytest.raises(MalformedError) as caught:
            decode_qr_text(text, limits=Limits(max_decompressed_bytes=limit))
        assert caught.value.reason is Reason.TOO_LARGE


def test_a_stream_without_the_preset_dictionary_is_refused() -> None:
    with pytest.raises(MalformedError):
        decode_qr_text(_qr(repack("abc")[0], dictionary=b""))


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # no final segment
        b"\x80\x80\x80\x80\x80",  # header that never ends
        b"\x12",  # separator code 2, kind 0, length 1, then nothing
        bytes([0 << 4 | 3]),  # separator code 3 does not exist
        bytes([0 << 4 | 3 << 2 | 2]),  # kind 3 does not exist
        bytes([1 << 4 | 1 << 2 | 2]),  # a one-byte blob with no blob bytes
        bytes([0 << 4 | 0 << 2 | 2]) + b"extra",  # unused blob bytes
        bytes([2 << 4 | 0 << 2 | 2]) + b"\xff\x05",  # marker asks for 5 missing blob bytes
        bytes([1 << 4 | 0 << 2 | 2]) + b"\xff",  # cut-off marker
        bytes([1 << 4 | 2 << 2 | 2]) + b"~",  # a separator inside a text segment
        bytes([1 << 4 | 2 << 2 | 2]) + b"\xe9",  # non-ASCII text segment
    ],
)
def test_broken_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(MalformedError):
        decode_qr_text(_qr(payload))


def test_the_rebuilt_presentation_is_bounded() -> None:
    huge = ".".join(["QUFB"] * 5000)
    with pytest.raises(MalformedError) as caught:
        decode_qr_text(encode_qr_text(huge), limits=Limits(max_decompressed_bytes=100_000))
    assert caught.value.reason is Reason.TOO_LARGE


@given(st.binary(max_size=400))
def test_any_decompressed_payload_decodes_or_is_refused(payload: bytes) -> None:
    try:
        assert isinstance(decode_qr_text(_qr(payload)), str)
    except MalformedError as exc:
        assert isinstance(exc.reason, Reason)


@given(st.text(alphabet=ALPHABET, max_size=300))
def test_any_base45_text_decodes_or_is_refused(body: str) -> None:
    try:
        decode_qr_text(QR_PREFIX + body)
    except MalformedError as exc:
        assert isinstance(exc.reason, Reason)

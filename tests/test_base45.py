"""Base45 (RFC 9285): vectors from the RFC, round trips, and strict decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credential import MalformedError, Reason
from credential._base45 import ALPHABET, b45decode, b45encode

# RFC 9285, section 4.3 and 4.4.
RFC_9285_VECTORS = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")]


@pytest.mark.parametrize(("data", "text"), RFC_9285_VECTORS)
def test_rfc_9285_vectors(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


@given(st.binary(max_size=2000))
def test_round_trip(data: bytes) -> None:
    text = b45encode(data)
    assert set(text) <= set(ALPHABET)
    assert len(text) == len(data) // 2 * 3 + len(data) % 2 * 2
    assert b45decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "GGW",  # 65536: one past the largest two-byte group (RFC 9285 section 6)
        ":::",
        "ZZ",  # 1619 > 255 in a final pair
        "A",  # length 1 (mod 3) cannot occur
        "ABCD",
        "abc",  # lower case is not base45
        "AB=",
        "ÀÀÀ",
    ],
)
def test_strict_decoding(text: str) -> None:
    with pytest.raises(MalformedError) as caught:
        b45decode(text)
    assert caught.value.reason is Reason.BAD_ENCODING


@given(st.text(alphabet=ALPHABET, max_size=60))
def test_decoding_any_alphabet_text_either_round_trips_or_is_refused(text: str) -> None:
    try:
        data = b45decode(text)
    except MalformedError as exc:
        assert exc.reason is Reason.BAD_ENCODING
        return
    assert b45encode(data) == text


def _decode_one_group_at_a_time(text: str) -> bytes | None:
    """RFC 9285 section 4.2 read literally: the obviously correct, slow decoder."""
    values = [ALPHABET.find(char) for char in text]
    if -1 in values or len(values) % 3 == 1:
        return None
    out = bytearray()
    for start in range(0, len(values), 3):
        group = values[start : start + 3]
        number = sum(value * 45**place for place, value in enumerate(group))
        if number >= 256 ** (len(group) - 1):
            return None
        out += number.to_bytes(len(group) - 1, "big")
    return bytes(out)


@given(st.text(alphabet=ALPHABET, max_size=300) | st.binary(max_size=300).map(b45encode))
def test_the_all_at_once_decoder_agrees_with_a_group_at_a_time_one(text: str) -> None:
    expected = _decode_one_group_at_a_time(text)
    if expected is None:
        with pytest.raises(MalformedError):
            b45decode(text)
    else:
        assert b45decode(text) == expected


def test_text_beyond_the_masks_is_decoded_in_pieces() -> None:
    data = bytes(range(256)) * 70  # 17,920 bytes: more groups than one mask covers
    assert b45decode(b45encode(data)) == data
    assert b45decode(b45encode(data[:-1])) == data[:-1]

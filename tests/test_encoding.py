"""Strict base64url and bounded JSON: the decoders every untrusted byte passes through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credential import Limits, MalformedError, Reason
from credential._encoding import b64url_decode, b64url_encode, compact_json, json_depth, parse_json

LIMITS = Limits()


@given(st.binary(max_size=300))
def test_base64url_round_trips(data: bytes) -> None:
    encoded = b64url_encode(data)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert b64url_decode(encoded) == data


@pytest.mark.parametrize(
    "segment",
    [
        "QQ==",  # padding
        "QQ=",
        "a+b/",  # standard alphabet
        "QR",  # non-zero trailing bits: "QQ" is the canonical spelling of b"A"
        "QUJ",  # ditto for two bytes ("QUI")
        "Q",  # impossible length
        "QQ QQ",
        "QQ\n",
        "é",
        "QUJD\x00",
    ],
)
def test_base64url_refuses_every_non_canonical_spelling(segment: str) -> None:
    with pytest.raises(MalformedError) as caught:
        b64url_decode(segment)
    assert caught.value.reason is Reason.BAD_ENCODING


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=", max_size=40))
def test_base64url_accepts_only_what_it_would_produce(segment: str) -> None:
    """Non-malleability: a segment decodes only if it is the one spelling of its bytes."""
    try:
        data = b64url_decode(segment)
    except MalformedError:
        return
    assert b64url_encode(data) == segment


def test_json_duplicate_member_names_resolve_to_the_last_as_rfc_7519_allows() -> None:
    assert parse_json(b'{"alg":"ES256","alg":"none"}', LIMITS, what="a header") == {"alg": "none"}


@pytest.mark.parametrize(
    "text", [b"NaN", b"[Infinity]", b'{"a":-Infinity}', b"{", b"[1,]", b'"\xff"', b"1 2", b"", b'"\\ud800"']
)
def test_json_refuses_what_is_not_strict_json(text: bytes) -> None:
    with pytest.raises(MalformedError) as caught:
        parse_json(text, LIMITS, what="a document")
    assert caught.value.reason in {Reason.BAD_JSON, Reason.BAD_ENCODING}


def test_json_allows_surrounding_whitespace() -> None:
    assert parse_json(b' \n{"a": [1, 2]}\t ', LIMITS, what="x") == {"a": [1, 2]}


def test_json_depth_is_bounded() -> None:
    deep = b"[" * 17 + b"]" * 17
    with pytest.raises(MalformedError) as caught:
        parse_json(deep, LIMITS, what="x")
    assert caught.value.reason is Reason.TOO_DEEP
    assert parse_json(b"[" * 16 + b"]" * 16, LIMITS, what="x") is not None


def test_json_nesting_beyond_the_interpreter_is_too_deep_not_a_crash() -> None:
    limits = Limits(max_json_bytes=200_000)
    with pytest.raises(MalformedError) as caught:
        parse_json(b"[" * 100_000 + b"]" * 100_000, limits, what="x")
    assert caught.value.reason is Reason.TOO_DEEP


def test_json_size_is_bounded_before_parsing() -> None:
    with pytest.raises(MalformedError) as caught:
        parse_json(b'"' + b"a" * 9000 + b'"', LIMITS, what="x")
    assert caught.value.reason is Reason.TOO_LARGE


def test_json_huge_integers_are_refused() -> None:
    with pytest.raises(MalformedError):
        parse_json(b"1" * 5000, Limits(max_json_bytes=10_000), what="x")


@given(st.recursive(st.none() | st.integers(), lambda inner: st.lists(inner, max_size=3), max_leaves=20))
def test_json_depth_measures_nesting(value: object) -> None:
    def depth(node: object) -> int:
        return 1 + max(map(depth, node), default=0) if isinstance(node, list) else 0

    assert json_depth(value) == depth(value)


def test_compact_json_is_the_one_spelling_we_sign() -> None:
    assert compact_json({"b": [1, "é"], "a": None}) == '{"b":[1,"é"],"a":null}'.encode()

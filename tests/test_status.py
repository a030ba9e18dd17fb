"""Token Status List: the draft's examples, exact round trips, bounded inflation, and the checks."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credential import (
    KeySet,
    MalformedError,
    Reason,
    SignatureError,
    SigningKey,
    StatusError,
    StatusList,
    StatusReference,
    check_status,
    parse_status_list,
    set_status,
    sign_status_list,
    verify_status_list_token,
)
from credential._encoding import b64url_encode

NOW = 1_795_500_000
URI = "https://id.riverton.example/status/1"
KEY = SigningKey.generate("ES256", kid="issuer-1")
TRUSTED = KeySet([KEY.verifying_key()])


@pytest.mark.parametrize(
    ("bits", "lst", "statuses"),
    [
        (1, "eNrbuRgAAhcBXQ", [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]),  # draft section 4.1 (0xB9 0xA3)
        (2, "eNo76fITAAPfAgc", [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]),  # draft section 4.1, 2 bits (0xC9 0x44 0xF9)
    ],
)
def test_the_drafts_examples(bits: int, lst: str, statuses: list[int]) -> None:
    status_list = parse_status_list({"bits": bits, "lst": lst})
    assert [status_list.get(i) for i in range(status_list.size)] == statuses
    rebuilt = bytearray(len(status_list.data))
    for index, status in enumerate(statuses):
        set_status(rebuilt, index, status, bits=bits)
    assert bytes(rebuilt) == status_list.data


@given(
    bits=st.sampled_from([1, 2, 4, 8]),
    writes=st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), max_size=50),
)
def test_set_get_and_json_round_trip(bits: int, writes: list[tuple[int, int]]) -> None:
    data = bytearray(512 * bits // 8)
    expected: dict[int, int] = {}
    for index, value in writes:
        status = value % (1 << bits)
        set_status(data, index, status, bits=bits)
        expected[index] = status
    status_list = parse_status_list(StatusList(bits, bytes(data)).to_json())
    assert status_list.size == 512
    for index in range(512):
        assert status_list.get(index) == expected.get(index, 0)


def test_a_zip_bomb_is_refused_before_it_is_inflated() -> None:
    bomb = b64url_encode(zlib.compress(bytes(64 * 1024 * 1024), 9))
    with pytest.raises(MalformedError) as caught:
        parse_status_list({"bits": 1, "lst": bomb})
    assert caught.value.reason is Reason.TOO_LARGE


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"bits": 3, "lst": "eNrbuRgAAhcBXQ"},
        {"bits": True, "lst": "eNrbuRgAAhcBXQ"},
        {"bits": 1},
        {"bits": 1, "lst": b64url_encode(b"not zlib")},
        {"bits": 1, "lst": b64url_encode(zlib.compress(b"\x01\x02")[:-3])},
        {"bits": 1, "lst": b64url_encode(zlib.compress(b"\x01\x02") + b"x")},
    ],
)
def test_broken_lists_are_refused(value: object) -> None:
    with pytest.raises(MalformedError):
        parse_status_list(value)


def _token(data: bytes = b"\x00\x02", **changes: int) -> str:
    arguments = {"uri": URI, "now": NOW, "lifetime": 86_400, "ttl": 3600} | changes
    return sign_status_list(StatusList(1, data), KEY, **arguments)  # type: ignore[arg-type]


def test_a_signed_list_verifies_and_answers() -> None:
    token = verify_status_list_token(_token(), TRUSTED, uri=URI, now=NOW + 10)
    assert (token.issued_at, token.expires_at, token.ttl) == (NOW, NOW + 86_400, 3600)
    lists = {URI: token}
    check_status(StatusReference(0, URI), lists, now=NOW, max_age=3600)
    with pytest.raises(StatusError) as caught:
        check_status(StatusReference(9, URI), lists, now=NOW, max_age=3600)
    assert caught.value.reason is Reason.REVOKED


@pytest.mark.parametrize(
    ("reference", "now", "max_age", "reason"),
    [
        (StatusReference(0, URI), NOW + 3601, 3600, Reason.STATUS_STALE),
        (StatusReference(16, URI), NOW, 3600, Reason.STATUS_UNAVAILABLE),
        (StatusReference(0, URI + "/other"), NOW, 3600, Reason.STATUS_UNAVAILABLE),
    ],
)
def test_stale_or_missing_status_is_never_taken_as_valid(
    reference: StatusReference, now: int, max_age: int, reason: Reason
) -> None:
    lists = {URI: verify_status_list_token(_token(), TRUSTED, uri=URI, now=NOW)}
    with pytest.raises(StatusError) as caught:
        check_status(reference, lists, now=now, max_age=max_age)
    assert caught.value.reason is reason


def test_suspended_has_its_own_reason() -> None:
    data = bytearray(4)
    set_status(data, 5, 2, bits=2)
    token = verify_status_list_token(
        sign_status_list(StatusList(2, bytes(data)), KEY, uri=URI, now=NOW, lifetime=60, ttl=60),
        TRUSTED,
        uri=URI,
        now=NOW,
    )
    with pytest.raises(StatusError) as caught:
        check_status(StatusReference(5, URI), {URI: token}, now=NOW, max_age=60)
    assert caught.value.reason is Reason.SUSPENDED


def test_a_token_for_another_list_expired_or_forged_is_refused() -> None:
    with pytest.raises(MalformedError) as caught:
        verify_status_list_token(_token(), TRUSTED, uri=URI + "/2", now=NOW)
    assert caught.value.reason is Reason.INVALID_STATUS_LIST
    with pytest.raises(StatusError) as stale:
        verify_status_list_token(_token(lifetime=60), TRUSTED, uri=URI, now=NOW + 60)
    assert stale.value.reason is Reason.STATUS_STALE
    forged = sign_status_list(
        StatusList(1, b"\x00\x00"), SigningKey.generate("ES256", kid="issuer-1"), uri=URI, now=NOW, lifetime=60, ttl=60
    )
    with pytest.raises(SignatureError) as bad:
        verify_status_list_token(forged, TRUSTED, uri=URI, now=NOW)
    assert bad.value.reason is Reason.BAD_SIGNATURE


def test_set_status_refuses_what_does_not_fit() -> None:
    data = bytearray(1)
    with pytest.raises(ValueError, match="does not fit"):
        set_status(data, 0, 2, bits=1)
    with pytest.raises(IndexError):
        set_status(data, 8, 1, bits=1)

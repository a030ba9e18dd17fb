"""The desk request codec: exact round trips, a QR code of version 6 at most, and strict parsing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credential import (
    CLAIM_CODES_V1,
    REQUEST_MAX_CHARS,
    DeskRequest,
    MalformedError,
    Reason,
    UsageError,
    decode_request_text,
    encode_request_text,
    new_request,
)
from credential._base45 import b45decode, b45encode
from edges.qrimage import decode_qr_image, make_qr, to_png
from policies import bundled_catalog, load_policies

NOW = 1_795_500_000
KNOWN_CLAIMS = [name for name in CLAIM_CODES_V1 if name]
claim_names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
policy_ids = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True)


def a_request(**overrides: object) -> DeskRequest:
    fields: dict[str, object] = {
        "policy": "library-card",
        "claims": ("resident_of",),
        "audience": "desk:library-central",
        "now": NOW,
        "lifetime": 300,
        "random_bytes": bytes(range(16)),
        "codec": 1,
    }
    fields.update(overrides)
    return new_request(**fields)  # type: ignore[arg-type]


@given(
    policy=policy_ids,
    claims=st.lists(st.one_of(st.sampled_from(KNOWN_CLAIMS), claim_names), min_size=1, max_size=4, unique=True),
    audience=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=24),
    nonce=st.binary(min_size=16, max_size=24),
    expires_at=st.integers(1, 2**32 - 1),
)
def test_round_trip_is_exact(policy: str, claims: list[str], audience: str, nonce: bytes, expires_at: int) -> None:
    request = new_request(policy=policy, claims=tuple(claims), audience=audience, now=0, lifetime=1, random_bytes=nonce)
    request = DeskRequest(request.policy, request.claims, request.nonce, request.audience, expires_at)
    try:
        text = encode_request_text(request)
    except UsageError as exc:  # only because it would not fit a version 6 QR code
        assert exc.reason is Reason.INVALID_REQUEST and "version 6" in exc.message
        return
    assert len(text) <= REQUEST_MAX_CHARS
    assert decode_request_text(text) == request


def test_every_catalog_policy_fits_a_version_6_code_with_a_long_audience() -> None:
    for loaded in load_policies([bundled_catalog()]):
        assert loaded.policy is not None
        request = a_request(
            policy=loaded.policy.id, claims=loaded.policy.claim_names, audience="desk:riverton-clinic-east-3"
        )
        symbol = make_qr(encode_request_text(request))
        assert symbol.version <= 6, (loaded.policy.id, symbol.version)


def test_request_survives_a_real_qr_image() -> None:
    request = a_request(claims=("given_name", "family_name", "birthdate"), policy="clinic-registration")
    text = encode_request_text(request)
    assert decode_request_text(decode_qr_image(to_png(make_qr(text)))) == request


def test_encoder_refuses_what_would_not_fit() -> None:
    request = a_request(audience="d" * 64, policy="p" * 40, claims=tuple(f"claim_{i}" for i in range(5)))
    with pytest.raises(UsageError) as caught:
        encode_request_text(request)
    assert caught.value.reason is Reason.INVALID_REQUEST


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("policy", "Library Card"),
        ("policy", "-x-"),
        ("claims", ()),
        ("claims", ("resident_of", "resident_of")),
        ("claims", ("Resident",)),
        ("audience", ""),
        ("audience", "desk library"),
        ("audience", "desk:\u202elibrary"),
        ("audience", "é" * 40),
        ("nonce", "short"),
        ("nonce", "not base64url!"),
        ("expires_at", 0),
        ("expires_at", 2**32),
    ],
)
def test_invalid_fields_are_refused(field: str, value: object) -> None:
    good = a_request()
    fields = {"policy": good.policy, "claims": good.claims, "nonce": good.nonce, "audience": good.audience}
    fields["expires_at"] = good.expires_at  # type: ignore[assignment]
    fields[field] = value  # type: ignore[assignment]
    with pytest.raises(UsageError) as caught:
        DeskRequest(**fields)  # type: ignore[arg-type]
    assert caught.value.reason is Reason.INVALID_REQUEST


def test_lifetime_is_bounded() -> None:
    for lifetime in (0, -5, 86_401):
        with pytest.raises(UsageError):
            a_request(lifetime=lifetime)


def _body(request: DeskRequest) -> bytes:
    return b45decode(encode_request_text(request)[len("CIDR1:") :])


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda body: body[:-1], Reason.MALFORMED),  # cut short
        (lambda body: body + b"\x00", Reason.MALFORMED),  # trailing byte
        (lambda body: body[:-1] + bytes([len(CLAIM_CODES_V1)]), Reason.MALFORMED),  # unknown claim code
        (lambda body: body[:4] + b"\x08" + body[5:13], Reason.MALFORMED),  # nonce of 8 bytes
        (lambda body: body[:-1] + b"\x00\x0bresident_of", Reason.MALFORMED),  # spelt-out coded claim
        (lambda body: body[:-2] + b"\x01\x00\x02\xff\xfe", Reason.BAD_ENCODING),  # claim name not UTF-8
    ],
)
def test_broken_bodies_are_refused_with_a_reason(mutate: object, reason: Reason) -> None:
    body = mutate(_body(a_request()))  # type: ignore[operator]
    with pytest.raises(MalformedError) as caught:
        decode_request_text("CIDR1:" + b45encode(body))
    assert caught.value.reason is reason


def test_other_texts_are_not_requests() -> None:
    for text in ("CID1:ABC", "", "cidr1:AAA", "CIDR1:" + "0" * 200):
        with pytest.raises(MalformedError) as caught:
            decode_request_text(text)
        assert caught.value.reason in {Reason.UNSUPPORTED_FORMAT, Reason.TOO_LARGE}


@given(st.text(max_size=200))
def test_arbitrary_text_after_the_prefix_never_escapes_as_another_error(tail: str) -> None:
    with contextlib.suppress(MalformedError):
        decode_request_text("CIDR1:" + tail)


@given(st.binary(max_size=110))
def test_arbitrary_bodies_decode_or_are_refused(body: bytes) -> None:
    try:
        request = decode_request_text("CIDR1:" + b45encode(body))
    except MalformedError:
        return
    assert encode_request_text(request) == "CIDR1:" + b45encode(body)  # one request, one text


def test_a_desk_that_reads_cid2_says_so_in_a_cidr2_request() -> None:
    request = a_request(codec=2)
    text = encode_request_text(request)
    assert text.startswith("CIDR2:") and decode_request_text(text) == request
    assert b45decode(text[6:]) == _body(a_request()) + b"\x02"  # CIDR1's layout and one byte
    assert decode_request_text(encode_request_text(a_request())).codec == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("CIDR2:" + b45encode(_body(a_request()) + b"\x01"), Reason.MALFORMED),  # codec 1 is CIDR1's text
        ("CIDR2:" + b45encode(_body(a_request()) + b"\x00"), Reason.MALFORMED),
        ("CIDR2:" + b45encode(_body(a_request())), Reason.MALFORMED),  # no codec byte: cut short
        ("CIDR2:" + b45encode(_body(a_request()) + b"\x02\x02"), Reason.MALFORMED),  # trailing
        ("CIDR3:" + b45encode(_body(a_request()) + b"\x03"), Reason.UNSUPPORTED_FORMAT),  # a newer desk
    ],
)
def test_broken_cidr2_requests_are_refused_with_a_reason(text: str, reason: Reason) -> None:
    with pytest.raises(MalformedError) as caught:
        decode_request_text(text)
    assert caught.value.reason is reason

"""The desk request: what a service desk shows as a QR code so a wallet can answer it.

A request names the **policy** the desk works under, the **claims** it asks for (a subset
of that policy's), a fresh **nonce**, the desk's **audience** and an **expiry**. The wallet
checks it against the signed policy registry before it asks the resident anything, and
binds its proof to the nonce and audience, so a proof made for one desk and moment is
useless anywhere else.

Text form, version 1: ``CIDR1:`` + base45 of this byte layout (big-endian)::

    expires_at  4 bytes  unix seconds
    nonce       1 byte length (16..32) + random bytes
    policy      1 byte length + ASCII id   ([a-z0-9-], 3..40 characters)
    audience    1 byte length + UTF-8      (1..64 bytes, printable)
    claims      1 byte count (1..16), then per claim one byte: its code in CLAIM_CODES_V1,
                or 0 followed by 1 byte length + the UTF-8 name

Version 2, ``CIDR2:``, is the same layout and one more byte: the newest proof codec the desk
reads (2 for ``CID2:``; a desk reads every older one too). A desk that reads only ``CID1:``
shows ``CIDR1:``, so a wallet answers each desk in the codec it can read.

Everything fits a QR code of version 6 at level M (154 alphanumeric characters), which a
phone reads from across a desk; the encoder refuses anything longer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._base45 import b45decode, b45encode
from ._encoding import b64url_decode, b64url_encode
from ._errors import MalformedError, Reason, UsageError

REQUEST_PREFIX = "CIDR1:"
REQUEST_PREFIX_V2 = "CIDR2:"
REQUEST_PREFIXES = (REQUEST_PREFIX, REQUEST_PREFIX_V2)
NEWEST_PROOF_CODEC = 2
REQUEST_MAX_CHARS = 154
"""Alphanumeric capacity of a QR code of version 6 at error correction level M."""

# Claim codes, version 1. APPEND ONLY: a code, once given, keeps its meaning forever.
CLAIM_CODES_V1: tuple[str, ...] = (
    "",  # 0: a literal name follows
    "resident_of",
    "age_over_18",
    "age_over_21",
    "age_over_65",
    "given_name",
    "family_name",
    "birthdate",
    "address",
)
_CODE_OF = {name: code for code, name in enumerate(CLAIM_CODES_V1) if name}

POLICY_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]")
_CLAIM_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MAX_AUDIENCE_BYTES = 64
_MAX_CLAIMS = 16
_NONCE_BYTES = range(16, 33)
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class DeskRequest:
    """A desk's request, as shown in its QR code. Construct with :func:`new_request`."""

    policy: str
    claims: tuple[str, ...]
    nonce: str
    """base64url of 16 to 32 random bytes: the key-binding JWT's ``nonce``."""
    audience: str
    """The desk's identifier: the key-binding JWT's ``aud``."""
    expires_at: int
    codec: int = 1
    """The newest proof codec the desk reads: 1 for ``CID1:`` only, 2 for ``CID2:`` as well."""

    def __post_init__(self) -> None:
        _check_fields(self)


def new_request(
    *,
    policy: str,
    claims: tuple[str, ...],
    audience: str,
    now: int,
    lifetime: int,
    random_bytes: bytes,
    codec: int = NEWEST_PROOF_CODEC,
) -> DeskRequest:
    """A fresh request valid for ``lifetime`` seconds; ``random_bytes`` (16 to 32) become the nonce."""
    if not 0 < lifetime <= 86_400:
        raise UsageError(Reason.INVALID_REQUEST, "a request lives between 1 second and 1 day")
    return DeskRequest(
        policy=policy,
        claims=claims,
        nonce=b64url_encode(random_bytes),
        audience=audience,
        expires_at=now + lifetime,
        codec=codec,
    )


def _invalid(message: str) -> UsageError:
    return UsageError(Reason.INVALID_REQUEST, message)


def _check_fields(request: DeskRequest) -> None:
    if not isinstance(request.policy, str) or not POLICY_ID.fullmatch(request.policy):
        raise _invalid("the policy id must be 3 to 40 characters of a-z, 0-9 and '-'")
    if not isinstance(request.claims, tuple) or not 1 <= len(request.claims) <= _MAX_CLAIMS:
        raise _invalid(f"a request asks for 1 to {_MAX_CLAIMS} claims")
    for name in request.claims:
        if not isinstance(name, str) or not _CLAIM_NAME.fullmatch(name):
            raise _invalid(f"{str(name)[:40]!r} is not a claim name (a-z, 0-9, '_', at most 40)")
    if len(set(request.claims)) != len(request.claims):
        raise _invalid("a request names each claim once")
    if not isinstance(request.nonce, str):
        raise _invalid("the nonce must be base64url text")
    try:
        nonce = b64url_decode(request.nonce)
    except MalformedError:
        raise _invalid("the nonce must be canonical base64url") from None
    if len(nonce) not in _NONCE_BYTES:
        raise _invalid("the nonce must be 16 to 32 random bytes")
    audience = request.audience
    if not isinstance(audience, str) or not audience or _UNPRINTABLE.search(audience):
        raise _invalid("the audience must be printable text without spaces")
    if len(audience.encode("utf-8")) > _MAX_AUDIENCE_BYTES:
        raise _invalid(f"the audience must be at most {_MAX_AUDIENCE_BYTES} bytes")
    if type(request.expires_at) is not int or not 0 < request.expires_at < 2**32:
        raise _invalid("expires_at must be a unix time in seconds")
    if type(request.codec) is not int or not 1 <= request.codec <= 255:
        raise _invalid("the proof codec must be 1 to 255")


def encode_request_text(request: DeskRequest) -> str:
    """``CIDR1:...`` (or ``CIDR2:...`` when the desk reads ``CID2:`` proofs) for a QR code of
    version 6 or less; refuses a request that would not fit."""
    out = bytearray(request.expires_at.to_bytes(4, "big"))
    for field in (b64url_decode(request.nonce), request.policy.encode("ascii"), request.audience.encode("utf-8")):
        out.append(len(field))
        out += field
    out.append(len(request.claims))
    for name in request.claims:
        code = _CODE_OF.get(name)
        if code is None:
            literal = name.encode("utf-8")
            out += bytes((0, len(literal))) + literal
        else:
            out.append(code)
    if request.codec > 1:
        out.append(request.codec)
    text = (REQUEST_PREFIX if request.codec == 1 else REQUEST_PREFIX_V2) + b45encode(bytes(out))
    if len(text) > REQUEST_MAX_CHARS:
        raise _invalid(
            f"the request needs {len(text)} characters, more than a version 6 QR code holds "
            f"({REQUEST_MAX_CHARS}): shorten the audience or the policy id, or ask for fewer claims"
        )
    return text


def is_request_text(text: str) -> bool:
    """True when ``text`` looks like a desk request (only the prefix is checked)."""
    return text.startswith(REQUEST_PREFIXES)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise MalformedError(Reason.MALFORMED, "the desk request is cut short")
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def sized(self) -> bytes:
        return self.take(self.take(1)[0])


def decode_request_text(text: str) -> DeskRequest:
    """The request in ``CIDR1:`` or ``CIDR2:`` text; raises :class:`MalformedError` for anything else."""
    if not isinstance(text, str) or not is_request_text(text):
        if isinstance(text, str) and re.match(r"CIDR[0-9]+:", text):
            raise MalformedError(Reason.UNSUPPORTED_FORMAT, "this desk request is from a newer cityid version")
        raise MalformedError(Reason.UNSUPPORTED_FORMAT, "this is not a cityid desk request (CIDR1:...)")
    if len(text) > REQUEST_MAX_CHARS:
        raise MalformedError(Reason.TOO_LARGE, f"a desk request is at most {REQUEST_MAX_CHARS} characters")
    reader = _Reader(b45decode(text[len(REQUEST_PREFIX) :]))
    expires_at = int.from_bytes(reader.take(4), "big")
    nonce, policy, audience = reader.sized(), reader.sized(), reader.sized()
    claims = []
    for _ in range(reader.take(1)[0]):
        code = reader.take(1)[0]
        if code == 0:
            name = _text(reader.sized(), "a claim name")
            if name in _CODE_OF:  # one request, one text: a coded claim is never spelt out
                raise MalformedError(Reason.MALFORMED, f"the desk request spells out {name!r}, which has a code")
            claims.append(name)
        elif code < len(CLAIM_CODES_V1):
            claims.append(CLAIM_CODES_V1[code])
        else:
            raise MalformedError(Reason.MALFORMED, f"the desk request uses unknown claim code {code}")
    codec = _codec(text, reader)
    if reader.at != len(reader.data):
        raise MalformedError(Reason.MALFORMED, "the desk request has trailing bytes")
    if len(nonce) not in _NONCE_BYTES:
        raise MalformedError(Reason.MALFORMED, "the desk request's nonce must be 16 to 32 bytes")
    try:
        return DeskRequest(
            policy=_text(policy, "the policy id"),
            claims=tuple(claims),
            nonce=b64url_encode(nonce),
            audience=_text(audience, "the audience"),
            expires_at=expires_at,
            codec=codec,
        )
    except UsageError as exc:
        raise MalformedError(Reason.MALFORMED, f"the desk request is invalid: {exc.message}") from None


def _codec(text: str, reader: _Reader) -> int:
    """The newest proof codec a request's desk reads: 1 for ``CIDR1:``, the last byte for ``CIDR2:``."""
    if not text.startswith(REQUEST_PREFIX_V2):
        return 1
    codec = reader.take(1)[0]
    if codec < 2:  # one request, one text: a desk that reads only CID1: shows CIDR1:
        raise MalformedError(Reason.MALFORMED, "a CIDR2: request names a proof codec of 2 or more")
    return codec


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError(Reason.BAD_ENCODING, f"{what} in the desk request is not UTF-8") from None


OFFLINE_AUDIENCE_PREFIX = "cityid:offline:"


def offline_audience(policy: str) -> str:
    """The key-binding ``aud`` of an offline proof (``cityid wallet show``): bound to the
    policy, because there is no desk request to bind to. Its freshness is its ``iat``."""
    if not POLICY_ID.fullmatch(policy):
        raise _invalid("the policy id must be 3 to 40 characters of a-z, 0-9 and '-'")
    return OFFLINE_AUDIENCE_PREFIX + policy

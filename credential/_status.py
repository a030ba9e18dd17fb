"""IETF Token Status List: the revocation bits, their compressed form, and the signed list token.

A status list is a byte string holding one status of ``bits`` bits (1, 2, 4 or 8) per
credential, the first status in the least significant bits of the first byte. It travels
zlib-compressed and base64url-encoded as ``{"bits": 1, "lst": "..."}`` inside a
``statuslist+jwt`` whose ``sub`` is the list's URI. The issuer serves one large list to
everybody (herd privacy: fetching it says nothing about which credential is checked), and a
desk caches it, so checking a status is a bit lookup with no network.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._encoding import b64url_decode, b64url_encode, parse_json_object
from ._errors import MalformedError, Reason, StatusError
from ._jws import sign_jwt, split_jws, verify_jwt
from ._keys import SigningKey, VerifyingKey
from ._limits import Limits
from ._sdjwt import StatusReference

STATUS_LIST_TYP = "statuslist+jwt"
VALID, INVALID, SUSPENDED = 0x00, 0x01, 0x02
ALLOWED_BITS = (1, 2, 4, 8)
MAX_STATUS_LIST_BYTES = 16 * 1024 * 1024
"""Largest decompressed list accepted: 128 million one-bit statuses."""
STATUS_LIST_LIMITS = Limits(max_presentation_chars=4 * 1024 * 1024, max_json_bytes=3 * 1024 * 1024, max_json_depth=4)
CLOCK_SKEW = 60


@dataclass(frozen=True, slots=True)
class StatusList:
    """Statuses of ``bits`` bits each, packed least significant bits first."""

    bits: int
    data: bytes

    def __post_init__(self) -> None:
        if self.bits not in ALLOWED_BITS:
            raise MalformedError(Reason.INVALID_STATUS_LIST, f"status lists use 1, 2, 4 or 8 bits, not {self.bits}")

    @property
    def size(self) -> int:
        return len(self.data) * 8 // self.bits

    def get(self, index: int) -> int:
        """The status at ``index``; raises ``status_unavailable`` outside the list."""
        if self.bits == 1 and 0 <= index < len(self.data) << 3:  # revocation lists: the desk's every check
            return self.data[index >> 3] >> (index & 7) & 1
        if not 0 <= index < self.size:
            raise StatusError(Reason.STATUS_UNAVAILABLE, f"status index {index} is outside the status list")
        per_byte = 8 // self.bits
        shift = (index % per_byte) * self.bits
        return (self.data[index // per_byte] >> shift) & ((1 << self.bits) - 1)

    def to_json(self) -> dict[str, Any]:
        """``{"bits": ..., "lst": ...}``: zlib at the highest level, then base64url."""
        return {"bits": self.bits, "lst": b64url_encode(zlib.compress(self.data, 9))}


def set_status(data: bytearray, index: int, status: int, *, bits: int = 1) -> None:
    """Write ``status`` at ``index`` of a mutable list (the issuer's side)."""
    if bits not in ALLOWED_BITS or not 0 <= status < (1 << bits):
        raise ValueError(f"status {status} does not fit {bits} bits")
    per_byte = 8 // bits
    if not 0 <= index < len(data) * per_byte:
        raise IndexError(f"status index {index} is outside the list")
    shift = (index % per_byte) * bits
    mask = ((1 << bits) - 1) << shift
    data[index // per_byte] = (data[index // per_byte] & ~mask) | (status << shift)


def parse_status_list(value: object, *, max_bytes: int = MAX_STATUS_LIST_BYTES) -> StatusList:
    """A status list from its JSON form, inflating at most ``max_bytes`` (no zip bombs)."""
    if not isinstance(value, Mapping):
        raise MalformedError(Reason.INVALID_STATUS_LIST, "status_list must be an object with bits and lst")
    bits, lst = value.get("bits"), value.get("lst")
    if type(bits) is not int or bits not in ALLOWED_BITS or not isinstance(lst, str):
        raise MalformedError(Reason.INVALID_STATUS_LIST, "status_list needs bits (1, 2, 4 or 8) and lst")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(b64url_decode(lst), max_bytes + 1)
    except zlib.error:
        raise MalformedError(Reason.INVALID_STATUS_LIST, "status_list.lst is not zlib data") from None
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise MalformedError(Reason.TOO_LARGE, f"the status list inflates to more than {max_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise MalformedError(Reason.INVALID_STATUS_LIST, "status_list.lst is cut short or has trailing data")
    return StatusList(bits, data)


@dataclass(frozen=True, slots=True)
class StatusListToken:
    """A verified status list token: whose list, when it was made, how long it may be cached."""

    uri: str
    issued_at: int
    expires_at: int | None
    ttl: int | None
    status_list: StatusList


def sign_status_list(status_list: StatusList, key: SigningKey, *, uri: str, now: int, lifetime: int, ttl: int) -> str:
    """The ``statuslist+jwt`` for ``status_list`` at ``uri``, valid ``lifetime`` s, cacheable ``ttl`` s."""
    if key.kid is None:
        raise ValueError("the issuer key needs a kid")
    payload = {"sub": uri, "iat": now, "exp": now + lifetime, "ttl": ttl, "status_list": status_list.to_json()}
    return sign_jwt({"alg": key.alg, "typ": STATUS_LIST_TYP, "kid": key.kid}, payload, key)


def verify_status_list_token(
    token: str,
    issuer_keys: Mapping[str, VerifyingKey],
    *,
    uri: str,
    now: int,
    max_bytes: int = MAX_STATUS_LIST_BYTES,
    allow_expired: bool = False,
) -> StatusListToken:
    """The list in ``token`` if the issuer signed it for ``uri`` and it has not expired.

    ``allow_expired`` keeps an expired list (a desk reloading its cache), for
    :func:`check_status` to refuse as ``status_stale`` when a proof needs it.
    """
    payload = verify_jwt(token, issuer_keys, typ=STATUS_LIST_TYP, what="the status list", limits=STATUS_LIST_LIMITS)
    if payload.get("sub") != uri:
        raise MalformedError(Reason.INVALID_STATUS_LIST, "the status list token is for another list (sub)")
    issued_at, expires_at, ttl = payload.get("iat"), payload.get("exp"), payload.get("ttl")
    if type(issued_at) is not int or issued_at > now + CLOCK_SKEW:
        raise MalformedError(Reason.INVALID_STATUS_LIST, "the status list token needs an iat that is not in the future")
    for name, value in (("exp", expires_at), ("ttl", ttl)):
        if value is not None and (type(value) is not int or value < 0):
            raise MalformedError(Reason.INVALID_STATUS_LIST, f"the status list token's {name} must be whole seconds")
    if expires_at is not None and expires_at <= now and not allow_expired:
        raise StatusError(Reason.STATUS_STALE, "the status list has expired: sync a fresh one")
    return StatusListToken(
        uri, issued_at, expires_at, ttl, parse_status_list(payload.get("status_list"), max_bytes=max_bytes)
    )


def status_list_subject(token: str) -> str:
    """The ``sub`` (list URI) of a status list token, read before verifying it, to pick the
    list it claims to be; :func:`verify_status_list_token` then checks it is exactly that."""
    try:
        payload = parse_json_object(b64url_decode(split_jws(token.strip(), "the status list")[1]), STATUS_LIST_LIMITS,
                                    what="the status list payload")  # fmt: skip
    except MalformedError:
        raise MalformedError(Reason.INVALID_STATUS_LIST, "this is not a status list token") from None
    subject = payload.get("sub")
    if not isinstance(subject, str):
        raise MalformedError(Reason.INVALID_STATUS_LIST, "the status list token names no list (sub)")
    return subject


def check_status(reference: StatusReference, lists: Mapping[str, StatusListToken], *, now: int, max_age: int) -> None:
    """Raise unless the credential's status is VALID in a list no older than ``max_age`` seconds."""
    token = lists.get(reference.uri)
    if token is None:
        raise StatusError(Reason.STATUS_UNAVAILABLE, "this desk has no copy of the credential's status list")
    if token.expires_at is not None and now >= token.expires_at:
        raise StatusError(Reason.STATUS_STALE, "the status list has expired: the desk must sync")
    if now - token.issued_at > max_age:
        raise StatusError(
            Reason.STATUS_STALE,
            f"the status list is {(now - token.issued_at) // 60} minutes old, more than the policy allows",
        )
    status = token.status_list.get(reference.idx)
    if status == INVALID:
        raise StatusError(Reason.REVOKED, "the credential has been revoked")
    if status == SUSPENDED:
        raise StatusError(Reason.SUSPENDED, "the credential is suspended")
    if status != VALID:
        raise StatusError(Reason.REVOKED, f"the credential has status {status:#04x}, which is not valid")

"""Strict base64url and bounded JSON: the two decoders every untrusted byte passes through.

Strictness is what keeps the format non-malleable and the QR codec lossless: a base64url
segment is accepted only in its one canonical spelling (no padding, no ``+``/``/``, zero
trailing bits), and JSON only as UTF-8, without duplicate member names, NaN or Infinity,
and within the size and depth limits.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ._errors import MalformedError, Reason
from ._limits import Limits

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The last character of an unpadded segment must leave the unused low bits zero.
_CANONICAL_LAST = {2: frozenset(_ALPHABET[::16]), 3: frozenset(_ALPHABET[::4])}
# To the standard alphabet; "+", "/" and "=" become "!" so strict decoding refuses them.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, the JOSE spelling."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decode one canonical, unpadded base64url segment or raise ``bad_encoding``."""
    remainder = len(segment) % 4
    if remainder and (remainder == 1 or segment[-1] not in _CANONICAL_LAST[remainder]):
        raise MalformedError(Reason.BAD_ENCODING, "not canonical base64url")
    try:
        standard = segment.encode("ascii").translate(_TO_STANDARD) + _PADDING[remainder]
        return binascii.a2b_base64(standard, strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise MalformedError(Reason.BAD_ENCODING, "not canonical base64url") from exc


def is_canonical_b64url(segment: str) -> bool:
    """True when ``segment`` decodes and re-encodes to itself."""
    try:
        b64url_decode(segment)
    except MalformedError:
        return False
    return True


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_reject_constant)


def parse_json(data: bytes, limits: Limits, *, what: str) -> Any:
    """Parse one bounded UTF-8 JSON document; ``what`` names it in error messages."""
    if len(data) > limits.max_json_bytes:
        raise MalformedError(Reason.TOO_LARGE, f"{what} is larger than {limits.max_json_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(Reason.BAD_ENCODING, f"{what} is not UTF-8") from exc
    try:
        # raw_decode skips JSONDecoder.decode's regex; whitespace around the value is still allowed.
        if text[:1].isspace():
            text = text.lstrip()
        value, end = _DECODER.raw_decode(text)
        if end != len(text) and not text[end:].isspace():
            raise ValueError("data after the JSON value")
    except RecursionError as exc:
        raise MalformedError(Reason.TOO_DEEP, f"{what} is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError is a ValueError, as are our hooks' errors
        raise MalformedError(Reason.BAD_JSON, f"{what} is not valid JSON") from exc
    # Depth can only exceed the limit if there are more brackets than the limit.
    if text.count("{") + text.count("[") > limits.max_json_depth and (json_depth(value) > limits.max_json_depth):
        raise MalformedError(Reason.TOO_DEEP, f"{what} is nested more than {limits.max_json_depth} levels")
    return value


def parse_json_object(data: bytes, limits: Limits, *, what: str) -> dict[str, Any]:
    """Like :func:`parse_json`, but the document must be an object."""
    value = parse_json(data, limits, what=what)
    if not isinstance(value, dict):
        raise MalformedError(Reason.BAD_JSON, f"{what} is not a JSON object")
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in node)
    return deepest


def compact_json(value: Any) -> bytes:
    """The one JSON spelling cityid signs: no spaces, UTF-8, insertion order kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")

"""Strict base64url and bounded JSON: the two decoders every untrusted byte passes through.

Strictness is what keeps the format non-malleable and the QR codec lossless: a base64url
segment is accepted only in its one canonical spelling (no padding, no ``+``/``/``, zero
trailing bits), and JSON only as strict UTF-8, without NaN or Infinity, and within the size and depth
limits.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

import orjson

from ._errors import MalformedError, Reason
from ._limits import Limits

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The last character of an unpadded segment must leave the unused low bits zero.
_CANONICAL_LAST = {2: frozenset(_ALPHABET[::16]), 3: frozenset(_ALPHABET[::4])}
# To the standard alphabet; "+", "/" and "=" become "!" so strict decoding refuses them.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, the JOSE spelling."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")


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


def parse_json(data: bytes, limits: Limits, *, what: str) -> Any:
    """Parse one bounded UTF-8 JSON document; ``what`` names it in error messages.

    orjson is strict where it matters (valid UTF-8 and surrogates, no NaN or Infinity, no
    trailing data) and three times faster than ``json`` on the desk's hot path. Of duplicate
    member names the last one wins, which RFC 7515 and RFC 7519 (section 4) allow parsers.
    """
    if len(data) > limits.max_json_bytes:
        raise MalformedError(Reason.TOO_LARGE, f"{what} is larger than {limits.max_json_bytes} bytes")
    try:
        value = orjson.loads(data)  # validates UTF-8 itself
    except orjson.JSONDecodeError as exc:
        problem = str(exc)
        if "UTF-8" in problem or "surrogate" in problem:
            raise MalformedError(Reason.BAD_ENCODING, f"{what} is not valid UTF-8") from exc
        if "depth" in problem:
            raise MalformedError(Reason.TOO_DEEP, f"{what} is nested too deeply") from exc
        raise MalformedError(Reason.BAD_JSON, f"{what} is not valid JSON") from exc
    # Depth can only exceed the limit if there are more brackets than the limit.
    if data.count(b"{") + data.count(b"[") > limits.max_json_depth and json_depth(value) > limits.max_json_depth:
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

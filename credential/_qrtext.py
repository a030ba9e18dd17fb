"""The compact QR text codec: ``CID1:`` + base45(zlib(binary repacking of the compact form)).

A residency proof as a plain compact SD-JWT is ~1.1 kB of base64url and needs a dense QR
code. Three steps make it small without changing a single signed byte:

1. **Repack** the compact string losslessly. It is base64url segments separated by ``.``
   and ``~``; each segment is carried as the bytes it encodes (JSON text, raw signatures)
   behind a one-byte header giving its length, its separator and whether it had to be kept
   as text. Decoding re-encodes each segment, so the exact original string comes back and
   signatures and ``sd_hash`` still verify, with this or any other SD-JWT implementation.
2. **Compress** with zlib primed by a preset dictionary of the JSON every cityid proof
   contains, so the structure costs a few bytes and the random parts dominate. The zlib
   header names the dictionary (its Adler-32), and the trailer catches corrupted scans.
3. **Base45** the result so the QR code can use its alphanumeric mode (5.5 bits a char).

The version in the prefix pins the dictionary: ``DICTIONARY_V1`` must never change.
"""

from __future__ import annotations

import binascii
import re
import zlib

from ._base45 import b45decode, b45encode
from ._encoding import b64url_decode, b64url_encode
from ._errors import MalformedError, Reason
from ._limits import DEFAULT_LIMITS, Limits

QR_PREFIX = "CID1:"
_SEPARATORS = (".", "~", "")
_SEPARATOR_CODE = {".": 0, "~": 1, "": 2}
_END = 2
# Segment kinds: JSON text with markers (in the skeleton), random bytes (in the blob
# block), or text kept verbatim because it was not canonical base64url.
_JSON, _BLOB, _TEXT = 0, 1, 2
_MARKER = 0xFF  # never occurs in UTF-8, so it cannot be confused with JSON text
_EMBEDDED_B64 = re.compile(rb'"([A-Za-z0-9_-]{16,340})"')
_TOKENS = re.compile(r"([.~])")


# Preset dictionary, version 1. zlib finds back-references anywhere in it; nearer the end
# is cheaper, so the most common fragments come last. FROZEN: a change needs "CID2:".
DICTIONARY_V1 = b"".join(
    (
        b'{"alg":"EdDSA","typ":"kb+jwt"}',
        b'{"alg":"EdDSA","typ":"dc+sd-jwt","kid":"',
        b'"kty":"OKP","crv":"Ed25519","x":\xff ',
        b'"address",{"_sd":[\xff ,\xff ,\xff ,\xff ,\xff ]}]',
        b'"street_address","',
        b'"locality","',
        b'"region","',
        b'"postal_code","',
        b'"country","',
        b'"given_name","',
        b'"family_name","',
        b'"birthdate","19',
        b'"vct":"urn:cityid:identity:1",',
        b'"_sd":[\xff ,\xff ,\xff ,\xff ,\xff ],"_sd_alg":"sha-256"}',
        b'"age_over_65",false]',
        b'"age_over_21",true]',
        b'"age_over_21",false]',
        b'"age_over_18",false]',
        b'"age_over_65",true]',
        b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"',
        b'{"iss":"https://id.',
        b'","iat":1700000000,"exp":1700000000,"vct":"urn:cityid:residency:1",',
        b'"status":{"status_list":{"idx":100000,"uri":"https://id.',
        b'/status/1"}},"cnf":{"jwk":{"kty":"EC","crv":"P-256","x":\xff ,"y":\xff }},',
        b'"_sd":[\xff ,\xff ,\xff ,\xff ],"_sd_alg":"sha-256"}',
        b'[\xff\x10,"resident_of","',
        b'"]',
        b'[\xff\x10,"age_over_18",true]',
        b'{"alg":"ES256","typ":"kb+jwt"}',
        b'{"iat":1700000000,"aud":"',
        b'","nonce":\xff\x0c,"sd_hash":\xff ',
    )
)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _canonical_bytes(segment: str) -> bytes | None:
    """The bytes ``segment`` spells in canonical base64url, or None if it spells none."""
    try:
        return b64url_decode(segment)
    except MalformedError:
        return None


def _extract_random(json_text: bytes, blobs: bytearray) -> bytes:
    """Replace each quoted canonical base64url string with a marker; its bytes go to ``blobs``."""

    def to_marker(match: re.Match[bytes]) -> bytes:
        raw = _canonical_bytes(match.group(1).decode("ascii"))
        if raw is None:
            return match.group(0)
        blobs.extend(raw)
        return bytes((_MARKER, len(raw)))

    return _EMBEDDED_B64.sub(to_marker, json_text)


def repack(compact: str) -> tuple[bytes, bytes]:
    """Step 1: the lossless binary form of a compact JWS / SD-JWT, as (skeleton, blobs).

    The skeleton holds one header per segment (length, kind, separator) and the JSON
    segments with random strings replaced by markers; the blobs hold the random bytes
    (signatures, digests, salts, key coordinates) in the order they are needed.
    """
    if not compact.isascii():
        raise MalformedError(Reason.BAD_ENCODING, "a compact SD-JWT is ASCII")
    pieces = _TOKENS.split(compact)
    skeleton, blobs = bytearray(), bytearray()
    for index in range(0, len(pieces), 2):
        segment = pieces[index]
        separator = _SEPARATOR_CODE[pieces[index + 1] if index + 1 < len(pieces) else ""]
        decoded = _canonical_bytes(segment)
        if decoded is None:
            skeleton += _varint(len(segment) << 4 | _TEXT << 2 | separator) + segment.encode("ascii")
            continue
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            skeleton += _varint(len(decoded) << 4 | _BLOB << 2 | separator)
            blobs += decoded
            continue
        body = _extract_random(decoded, blobs)
        skeleton += _varint(len(body) << 4 | _JSON << 2 | separator) + body
    return bytes(skeleton), bytes(blobs)


def _read_segments(data: bytes) -> tuple[list[tuple[int, int, bytes | int]], int]:
    """Parse skeleton headers up to the final segment; return them and where blobs start."""
    segments: list[tuple[int, int, bytes | int]] = []
    position, size = 0, len(data)
    while True:
        if position >= size:
            raise MalformedError(Reason.MALFORMED, "QR payload has a broken segment header")
        header = data[position]
        position += 1
        if header & 0x80:  # a multi-byte varint (segments longer than 7 bytes of body)
            header &= 0x7F
            shift = 7
            while True:
                if position >= size or shift > 21:
                    raise MalformedError(Reason.MALFORMED, "QR payload has a broken segment header")
                byte = data[position]
                position += 1
                header |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
        length, kind, separator = header >> 4, header >> 2 & 3, header & 3
        if kind > _TEXT or separator > _END:
            raise MalformedError(Reason.MALFORMED, "QR payload has an unknown segment kind")
        if kind == _BLOB:
            segments.append((kind, separator, length))
        else:
            if position + length > size:
                raise MalformedError(Reason.MALFORMED, "QR payload ends inside a segment")
            segments.append((kind, separator, data[position : position + length]))
            position += length
        if separator == _END:
            return segments, position


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64url_bytes(data: bytes) -> bytes:
    """Unpadded base64url as bytes, for text that stays bytes (the hot path of decoding)."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def _missing() -> MalformedError:
    return MalformedError(Reason.MALFORMED, "QR payload is missing random bytes")


def _restore_random(body: bytes, data: bytes, offset: int) -> tuple[bytes, int]:
    """Put each marker's random bytes back as a quoted base64url string; returns the new offset."""
    if _MARKER not in body:
        return body, offset
    pieces: list[bytes] = []
    position = 0
    while (marker := body.find(_MARKER, position)) >= 0:
        if marker + 1 >= len(body):
            raise MalformedError(Reason.MALFORMED, "QR payload has a cut-off marker")
        count = body[marker + 1]
        if count == 0 or offset + count > len(data):
            raise _missing()
        pieces += (body[position:marker], b'"', _b64url_bytes(data[offset : offset + count]), b'"')
        offset += count
        position = marker + 2
    pieces.append(body[position:])
    return b"".join(pieces), offset


def unpack(data: bytes, limits: Limits) -> str:
    """Rebuild the exact compact string from the inflated ``skeleton + blobs``."""
    segments, offset = _read_segments(data)
    parts: list[str] = []
    for kind, separator, body in segments:
        if isinstance(body, int):
            if body == 0 or offset + body > len(data):
                raise _missing()
            parts.append(b64url_encode(data[offset : offset + body]))
            offset += body
        elif kind == _TEXT:
            if not body.isascii() or b"." in body or b"~" in body:
                raise MalformedError(Reason.MALFORMED, "QR payload has an invalid text segment")
            parts.append(body.decode("ascii"))
        else:
            restored, offset = _restore_random(body, data, offset)
            parts.append(b64url_encode(restored))
        parts.append(_SEPARATORS[separator])
    if offset != len(data):
        raise MalformedError(Reason.MALFORMED, "QR payload has unused random bytes")
    compact = "".join(parts)
    if len(compact) > limits.max_presentation_chars:
        raise MalformedError(Reason.TOO_LARGE, "QR payload expands beyond the presentation limit")
    return compact


def encode_qr_text(compact: str) -> str:
    """Encode a compact SD-JWT (issued or presented) as cityid QR text."""
    skeleton, blobs = repack(compact)
    compressor = zlib.compressobj(level=9, wbits=15, memLevel=9, zdict=DICTIONARY_V1)
    # End the block after the skeleton so the random bytes get a block of their own
    # (stored verbatim) instead of bloating the skeleton's Huffman codes.
    compressed = compressor.compress(skeleton) + compressor.flush(zlib.Z_BLOCK)
    compressed += compressor.compress(blobs) + compressor.flush()
    return QR_PREFIX + b45encode(compressed)


def is_qr_text(text: str) -> bool:
    """True when ``text`` claims to be cityid QR text (any version)."""
    return bool(re.match(r"CID[0-9]+:", text))


def decode_qr_text(text: str, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """Decode cityid QR text back to the exact compact SD-JWT it was made from.

    Bounded before any work: text length, then inflated size (a zip bomb stops at the
    limit), then the rebuilt string's length.
    """
    if len(text) > limits.max_qr_text_chars:
        raise MalformedError(Reason.TOO_LARGE, f"QR text is longer than {limits.max_qr_text_chars} characters")
    if not text.startswith(QR_PREFIX):
        if is_qr_text(text):
            raise MalformedError(Reason.UNSUPPORTED_FORMAT, "QR text is from a newer cityid version")
        raise MalformedError(Reason.UNSUPPORTED_FORMAT, f"QR text does not start with {QR_PREFIX!r}")
    compressed = b45decode(text[len(QR_PREFIX) :])
    inflater = zlib.decompressobj(wbits=15, zdict=DICTIONARY_V1)
    try:
        data = inflater.decompress(compressed, limits.max_decompressed_bytes)
    except zlib.error as exc:
        raise MalformedError(Reason.BAD_ENCODING, "QR text is corrupted (zlib)") from exc
    if inflater.unconsumed_tail:
        raise MalformedError(Reason.TOO_LARGE, "QR text inflates beyond the size limit")
    if not inflater.eof or inflater.unused_data:
        raise MalformedError(Reason.BAD_ENCODING, "QR text is truncated or has trailing data")
    return unpack(data, limits)

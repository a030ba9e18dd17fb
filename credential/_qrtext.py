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
import operator
import re
import struct
import zlib
from collections.abc import Sequence
from typing import NamedTuple

from ._base45 import b45decode, b45encode
from ._encoding import b64url_decode
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


IDENTITY_FRAGMENTS = (
    b'"street_address","',
    b'"locality","',
    b'"region","',
    b'"postal_code","',
    b'"country","',
    b'"given_name","',
    b'"family_name","',
    b'"birthdate","19',
)
"""The identity type's claim names as disclosures spell them, in both dictionaries."""
RESIDENCY_FRAGMENTS = (
    b'"age_over_65",false]',
    b'"age_over_21",true]',
    b'"age_over_21",false]',
    b'"age_over_18",false]',
    b'"age_over_65",true]',
    b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"',
    b'{"iss":"https://id.',
)
"""The rarer answers of a residency card, then the start of an ES256 credential, in both."""

# Preset dictionary, version 1. zlib finds back-references anywhere in it; nearer the end
# is cheaper, so the most common fragments come last. FROZEN: a change needs "CID2:".
DICTIONARY_V1 = b"".join(
    (
        b'{"alg":"EdDSA","typ":"kb+jwt"}',
        b'{"alg":"EdDSA","typ":"dc+sd-jwt","kid":"',
        b'"kty":"OKP","crv":"Ed25519","x":\xff ',
        b'"address",{"_sd":[\xff ,\xff ,\xff ,\xff ,\xff ]}]',
        *IDENTITY_FRAGMENTS,
        b'"vct":"urn:cityid:identity:1",',
        b'"_sd":[\xff ,\xff ,\xff ,\xff ,\xff ],"_sd_alg":"sha-256"}',
        *RESIDENCY_FRAGMENTS,
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


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_b2a = binascii.b2a_base64
_MARKERS = re.compile(rb"\xff(.)", re.DOTALL)  # a marker and the length of its random bytes


def b64url_bytes(data: bytes) -> bytes:
    """base64url of ``data`` as bytes, with any ``=`` padding left on."""
    return _b2a(data, newline=False).translate(_URLSAFE)


def _padding(length: int) -> int:
    """Zero bytes that make ``length`` bytes whole base64 groups of 3."""
    return -length % 3


def base64_formats(lengths: Sequence[int]) -> tuple[struct.Struct, struct.Struct, struct.Struct]:
    """``struct`` formats that cut byte strings of these lengths out of a buffer, pack them
    each padded with zeros to whole base64 groups, and cut the base64 of that packing back
    into each one's unpadded text (the zero bits are exactly canonical base64url's)."""
    return (
        struct.Struct("".join([f"{n}s" for n in lengths])),
        struct.Struct("".join([f"{n}s{_padding(n)}x" for n in lengths])),
        struct.Struct("".join([f"{-(-4 * n // 3)}s{_padding(n) * 4 // 3}x" for n in lengths])),
    )


def _broken(problem: str) -> MalformedError:
    return MalformedError(Reason.MALFORMED, f"QR payload {problem}")


Skeleton = list[tuple[int, "list[bytes] | bytes | int"]]


def _long_header(data: bytes, first: int, position: int) -> tuple[int, int]:
    """The rest of a varint header whose first byte was ``first``; returns it and where it ends."""
    header, shift = first & 0x7F, 7
    while True:
        if position >= len(data) or shift > 21:
            raise _broken("has a broken segment header")
        byte = data[position]
        position += 1
        header |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return header, position


def _split_at_markers(body: bytes, lengths: list[int]) -> list[bytes]:
    """``[text, length, text, ..., text]`` of a JSON body; each marker's length joins ``lengths``."""
    pieces = _MARKERS.split(body)
    if _MARKER in pieces[-1]:
        raise _broken("has a cut-off marker")
    lengths += b"".join(pieces[1::2])
    return pieces


def _read_skeleton(data: bytes) -> tuple[Skeleton, list[int], int]:
    """Parse the skeleton up to its final segment.

    Returns ``(header, body)`` per segment, where the body of a JSON segment with markers is
    split at them (``[text, length, text, length, ..., text]``), a random one is its length
    and any other is its bytes; then the length of every run of random bytes, in order; then
    where the random bytes start.
    """
    skeleton: Skeleton = []
    lengths: list[int] = []
    position, size = 0, len(data)
    while True:
        if position >= size:
            raise _broken("has a broken segment header")
        header = data[position]
        position += 1
        if header & 0x80:  # a multi-byte varint (segments longer than 7 bytes of body)
            if position < size and data[position] < 0x80:  # two bytes: the common case, inline
                header = header & 0x7F | data[position] << 7
                position += 1
            else:
                header, position = _long_header(data, header, position)
        kind = header >> 2 & 3
        if kind > _TEXT or header & 3 > _END:
            raise _broken("has an unknown segment kind")
        if kind == _BLOB:
            skeleton.append((header, header >> 4))
            lengths.append(header >> 4)
        else:
            end = position + (header >> 4)
            if end > size:
                raise _broken("ends inside a segment")
            body = data[position:end]
            skeleton.append((header, _split_at_markers(body, lengths) if kind == _JSON and _MARKER in body else body))
            position = end
        if header & 3 == _END:
            return skeleton, lengths, position


_CODECS: dict[tuple[int, ...], tuple[struct.Struct, struct.Struct, struct.Struct]] = {}
_CODECS_KEPT = 64


def _random_parts(data: bytes, start: int, lengths: tuple[int, ...]) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """Every run of random bytes, and each one's unpadded base64url, in a handful of C calls.

    Encoding each run on its own costs a few Python calls apiece, and a proof has about
    fifteen. Instead the runs are packed with zero bytes up to a multiple of 3, so every run
    starts a fresh base64 group; one encoding of the whole then holds each run's encoding,
    whose last character already has the zero low bits that canonical base64url requires.
    The ``struct`` formats that cut and pad are kept per shape of proof (bounded).
    """
    if 0 in lengths or sum(lengths) != len(data) - start:
        raise _broken("is missing random bytes" if 0 in lengths or sum(lengths) > len(data) - start
                      else "has unused random bytes")  # fmt: skip
    codec = _CODECS.get(lengths)
    if codec is None:
        if len(_CODECS) >= _CODECS_KEPT:
            _CODECS.clear()
        codec = _CODECS[lengths] = base64_formats(lengths)
    cut, padded, encoded = codec
    runs = cut.unpack_from(data, start)
    return runs, encoded.unpack(b64url_bytes(padded.pack(*runs)))


class Segments(NamedTuple):
    """The segments of a rebuilt compact string, as three parallel lists."""

    texts: list[str]
    """Each segment's text."""
    raws: list[bytes | None]
    """The bytes each text spells in base64url; None for text carried verbatim."""
    separators: list[str]
    """The separator after each segment: ``.`` or ``~``, and ``""`` after the last."""

    def compact(self) -> str:
        return "".join(map(operator.add, self.texts, self.separators))


def unpack_segments(data: bytes) -> Segments:
    """Rebuild every segment of the compact string from the inflated ``skeleton + blobs``.

    The verifier needs both the text (signatures and digests cover it) and the bytes (to
    parse); having both here spares it decoding what was just encoded.
    """
    skeleton, lengths, start = _read_skeleton(data)
    runs, encoded_runs = _random_parts(data, start, tuple(lengths))
    texts: list[str] = []
    raws: list[bytes | None] = []
    taken = 0
    for header, body in skeleton:
        if isinstance(body, int):
            raw = runs[taken]
            taken += 1
        elif isinstance(body, list):  # each marker becomes its run's base64url, in quotes
            stop = taken + (len(body) >> 1)
            body[1::2] = encoded_runs[taken:stop]
            taken = stop
            raw = b'"'.join(body)
        elif header & 0b1100 == _JSON << 2:
            raw = body
        else:
            if not body.isascii() or b"." in body or b"~" in body:
                raise _broken("has an invalid text segment")
            texts.append(body.decode("ascii"))
            raws.append(None)
            continue
        texts.append(b64url_bytes(raw).rstrip(b"=").decode("ascii"))
        raws.append(raw)
    return Segments(texts, raws, [_SEPARATORS[header & 3] for header, _body in skeleton])


def unpack(data: bytes, limits: Limits) -> str:
    """Rebuild the exact compact string from the inflated ``skeleton + blobs``."""
    return compact_text(unpack_segments(data), limits)


def compact_text(segments: Segments, limits: Limits) -> str:
    """The compact string the segments spell, bounded."""
    compact = segments.compact()
    check_expanded_size(len(compact), limits)
    return compact


def check_expanded_size(chars: int, limits: Limits) -> None:
    if chars > limits.max_presentation_chars:
        raise MalformedError(Reason.TOO_LARGE, "QR payload expands beyond the presentation limit")


def encode_qr_text(compact: str) -> str:
    """Encode a compact SD-JWT (issued or presented) as cityid QR text."""
    skeleton, blobs = repack(compact)
    compressor = zlib.compressobj(level=9, wbits=15, memLevel=9, zdict=DICTIONARY_V1)
    # End the block after the skeleton so the random bytes get a block of their own
    # (stored verbatim) instead of bloating the skeleton's Huffman codes.
    compressed = compressor.compress(skeleton) + compressor.flush(zlib.Z_BLOCK)
    compressed += compressor.compress(blobs) + compressor.flush()
    return QR_PREFIX + b45encode(compressed)


_INFLATE_FIRST = 4_096
_ANY_QR_PREFIX = re.compile(r"CID[0-9]+:")


def is_qr_text(text: str) -> bool:
    """True when ``text`` claims to be cityid QR text (any version)."""
    return _ANY_QR_PREFIX.match(text) is not None


def _inflate(text: str, limits: Limits) -> bytes:
    return inflate(text, limits, prefix=QR_PREFIX, dictionary=DICTIONARY_V1)


def inflate(text: str, limits: Limits, *, prefix: str, dictionary: bytes) -> bytes:
    """Base45 and inflate text of one version, bounded before any work: text length, then
    inflated size (a zip bomb stops at the limit)."""
    if len(text) > limits.max_qr_text_chars:
        raise MalformedError(Reason.TOO_LARGE, f"QR text is longer than {limits.max_qr_text_chars} characters")
    if not text.startswith(prefix):
        if is_qr_text(text):
            raise MalformedError(Reason.UNSUPPORTED_FORMAT, "QR text is from a newer cityid version")
        raise MalformedError(Reason.UNSUPPORTED_FORMAT, f"QR text does not start with {prefix!r}")
    compressed = b45decode(text[len(prefix) :])
    inflater = zlib.decompressobj(wbits=15, zdict=dictionary)
    limit = limits.max_decompressed_bytes
    room = min(_INFLATE_FIRST, limit)
    try:
        # Asked for the whole limit at once, zlib's output buffer takes some 50 kB for a 1 kB
        # proof; a desk decodes one proof after another, so ask for a little first.
        data = inflater.decompress(compressed, room)
        if not inflater.eof and len(data) == room and room < limit:
            data += inflater.decompress(inflater.unconsumed_tail, limit - room)
    except zlib.error as exc:
        raise MalformedError(Reason.BAD_ENCODING, "QR text is corrupted (zlib)") from exc
    if not inflater.eof and (inflater.unconsumed_tail or len(data) >= limit):
        raise MalformedError(Reason.TOO_LARGE, "QR text inflates beyond the size limit")
    if not inflater.eof or inflater.unused_data:
        raise MalformedError(Reason.BAD_ENCODING, "QR text is truncated or has trailing data")
    return data


def decode_qr_text(text: str, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """Decode cityid QR text back to the exact compact SD-JWT it was made from.

    Bounded before any work: text length, then inflated size, then the rebuilt string's length.
    """
    return unpack(_inflate(text, limits), limits)

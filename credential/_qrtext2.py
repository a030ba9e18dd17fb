"""The ``CID2:`` QR text codec: ``CID1:`` without what the desk can rebuild.

A desk that shows a request already knows, or can compute, a good share of the proof that
answers it. ``CID2:`` leaves those bytes out and the desk puts them back before it verifies,
so the signed bytes are rebuilt exactly and any SD-JWT implementation verifies the result:

* the digests of the disclosed claims in ``_sd``: the SHA-256 of each disclosure, which
  the proof carries anyway (``0xFE k``: "the digest of disclosure k", in place);
* the key-binding JWT's ``sd_hash``, the SHA-256 of everything before it (``0xFD``);
* the request's ``nonce`` and ``aud`` (``0xFC`` / ``0xFB``, each with a two-byte tag of the
  value, so that a proof made for another request is told apart from a forged one);
* the holder key's ``y``, from ``x`` and one parity bit (``0xFA p`` + the 32 bytes of ``x``);
* the credential type's ``vct#integrity``, which every desk that trusts the issuer holds in
  its trust bundle (``0xF9`` + a three-byte tag that names it among the desk's strings).

Everything else is ``CID1:``'s layout (segment headers, random bytes after the skeleton,
``0xFF n`` for them) with its own preset dictionary, ``DICTIONARY_V2``, which is frozen. The
bytes ``0xF5``-``0xFF`` never occur in UTF-8, so no marker is ever confused with JSON text.
"""

from __future__ import annotations

import hashlib
import operator
import re
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from ._base45 import b45encode
from ._encoding import b64url_encode
from ._errors import KeyBindingError, MalformedError, Reason
from ._keys import remember_p256_point
from ._limits import DEFAULT_LIMITS, Limits
from ._qrtext import (
    _BLOB,
    _EMBEDDED_B64,
    _END,
    _JSON,
    _SEPARATOR_CODE,
    _SEPARATORS,
    _TOKENS,
    IDENTITY_FRAGMENTS,
    RESIDENCY_FRAGMENTS,
    Segments,
    _canonical_bytes,
    _random_parts,
    _varint,
    b64url_bytes,
)
from ._qrtext import _long_header as long_header
from ._qrtext import decode_qr_text as decode_qr_text_v1
from ._qrtext import encode_qr_text as encode_qr_text_v1
from ._qrtext import inflate as inflate_with

QR_PREFIX_V2 = "CID2:"
_P256 = ec.SECP256R1()

BLOB, DIGEST, SD_HASH, NONCE, AUDIENCE, POINT, KNOWN = 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0xFA, 0xF9
_TAG_BYTES = {NONCE: 2, AUDIENCE: 2, KNOWN: 3}
"""How many bytes of a value's SHA-256 name it after its marker (``_TOKEN_SPLIT`` spells the same)."""
_NOT_TEXT = re.compile(rb"[\xf5-\xff]")
_POINT = re.compile(rb'"x":"([A-Za-z0-9_-]{43})","y":"([A-Za-z0-9_-]{43})"')
_INTEGRITY = re.compile(rb'"vct#integrity":("[^"\\]{1,200}")')
_KB_STRING = re.compile(rb'"(nonce|aud|sd_hash)":("[^"\\]{1,300}")')

# Preset dictionary, version 2, for https vcts with integrity. Nearer the end is cheaper, so the
# most common fragments come last. FROZEN: a change needs "CID3:".
DICTIONARY_V2 = b"".join(
    (
        b'{"alg":"EdDSA","typ":"kb+jwt"}',
        b'{"alg":"EdDSA","typ":"dc+sd-jwt","kid":"',
        b'"kty":"OKP","crv":"Ed25519","x":\xff ',
        b'"address",{"_sd":[\xfe\x00,\xfe\x01,\xff ,\xff ,\xff ]}]',
        *IDENTITY_FRAGMENTS,
        b'/types/identity/1","vct#integrity":\xf9',
        *RESIDENCY_FRAGMENTS,
        b'","iat":1700000000,"exp":1700000000,"vct":"https://id.',
        b'/types/residency/1","vct#integrity":\xf9',
        b',"status":{"status_list":{"idx":100000,"uri":"https://id.',
        b'/status/1"}},"cnf":{"jwk":{"kty":"EC","crv":"P-256",\xfa\x02',
        b'}},"_sd":[\xfe\x00,\xfe\x01,\xff ,\xff ],"_sd_alg":"sha-256"}',
        b'[\xff\x10,"resident_of","',
        b'"]',
        b'[\xff\x10,"age_over_18",true]',
        b'{"alg":"ES256","typ":"kb+jwt"}',
        b'{"iat":1700000000,"aud":\xfb,"nonce":\xfc,"sd_hash":\xfd}',
    )
)


def tag(value: str, size: int) -> bytes:
    """The first ``size`` bytes of the SHA-256 of ``value``: how a marker names a value the desk holds."""
    return hashlib.sha256(value.encode("utf-8")).digest()[:size]


@dataclass(frozen=True, slots=True)
class QrContext:
    """What a desk holds that a ``CID2:`` proof may leave out: the nonce and audience of the
    request it shows, and strings from its trust bundle (each type's ``vct#integrity``).
    Build one with :func:`qr_context`."""

    nonce: str | None = None
    audience: str | None = None
    known: Mapping[bytes, str | None] = field(default_factory=dict)
    """Known strings by their three-byte tag; ``None`` where two strings share a tag (neither
    can be named then: a proof that names that tag is refused, never rebuilt with a guess)."""


def qr_context(*, nonce: str | None = None, audience: str | None = None, known: Collection[str] = ()) -> QrContext:
    """The :class:`QrContext` of a desk's request and the strings of its trust bundle."""
    by_tag: dict[bytes, str | None] = {}
    for value in known:
        key = tag(value, _TAG_BYTES[KNOWN])
        by_tag[key] = value if by_tag.get(key, value) == value else None
    return QrContext(nonce, audience, by_tag)


NO_CONTEXT = QrContext()
MAX_KNOWN_STRINGS = 64


def type_integrity_strings(named: object) -> frozenset[str]:
    """The values of a ``type_integrity`` member (``{vct: vct#integrity}``, in the desk's trust
    bundle and the issuer's metadata): what a verifier puts back into ``CID2:`` proofs."""
    if named is None:
        return frozenset()
    if not isinstance(named, dict) or len(named) > MAX_KNOWN_STRINGS:
        raise MalformedError(Reason.MALFORMED, f"type_integrity is not a map of at most {MAX_KNOWN_STRINGS} types")
    if not all(isinstance(value, str) and 0 < len(value) <= 200 for value in named.values()):
        raise MalformedError(Reason.MALFORMED, "type_integrity values are not short strings")
    return frozenset(named.values())


# ---- encoding ----------------------------------------------------------------------------------


def _quoted(value: bytes) -> str | None:
    """The string a JSON literal spells when it is written exactly as the decoder writes it back."""
    try:
        text = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return text if isinstance(text, str) and orjson.dumps(text) == value else None


class _Packer:
    """The skeleton and the random bytes of one presentation, segment by segment."""

    def __init__(self) -> None:
        self.skeleton, self.blobs = bytearray(), bytearray()

    def segment(self, body: bytes, kind: int, separator: int) -> None:
        self.skeleton += _varint(len(body) << 4 | kind << 2 | separator) + (body if kind == _JSON else b"")
        if kind == _BLOB:
            self.blobs += body

    def json(self, text: bytes, separator: int, replace: list[tuple[re.Pattern[bytes], object]]) -> None:
        """A JSON segment: each replacement turns matches into markers (bytes in the skeleton,
        and random bytes here, in order); what is left of base64url goes to ``0xFF n``."""
        pieces: list[tuple[int, int, bytes, bytes]] = []  # start, end, marker, random bytes
        for pattern, make in replace:
            for match in pattern.finditer(text):
                made = make(match)  # type: ignore[operator]
                if made is not None and not any(s < match.end() and match.start() < e for s, e, *_ in pieces):
                    pieces.append((match.start(), match.end(), *made))
        pieces.sort()
        body, cursor = bytearray(), 0
        for start, end, marker, random in pieces:
            body += self._random_to_blobs(text[cursor:start]) + marker
            self.blobs += random
            cursor = end
        body += self._random_to_blobs(text[cursor:])
        self.skeleton += _varint(len(body) << 4 | _JSON << 2 | separator) + body

    def _random_to_blobs(self, text: bytes) -> bytes:
        def to_marker(match: re.Match[bytes]) -> bytes:
            raw = _canonical_bytes(match.group(1).decode("ascii"))
            if raw is None:
                return match.group(0)
            self.blobs.extend(raw)
            return bytes((BLOB, len(raw)))

        return _EMBEDDED_B64.sub(to_marker, text)


def _point(match: re.Match[bytes]) -> tuple[bytes, bytes] | None:
    x, y = _canonical_bytes(match.group(1).decode()), _canonical_bytes(match.group(2).decode())
    if x is None or y is None or len(x) != 32 or len(y) != 32 or _y_of(x, 2 + (y[-1] & 1)) != y:
        return None
    return bytes((POINT, 2 + (y[-1] & 1))), x


def _point_key(x: bytes, parity: int) -> ec.EllipticCurvePublicKey | None:
    """The P-256 key with this ``x`` and SEC 1 parity byte (2 even, 3 odd); None off the curve."""
    if parity not in (2, 3):
        return None
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_P256, bytes((parity,)) + x)
    except ValueError:
        return None


def _y_of(x: bytes, parity: int) -> bytes | None:
    """The P-256 ``y`` for ``x`` and the SEC 1 parity byte; None off the curve."""
    key = _point_key(x, parity)
    return None if key is None else key.public_numbers().y.to_bytes(32, "big")


def point_text(x: bytes, x_text: bytes, parity: int) -> bytes | None:
    """``"x":"…","y":"…"`` of the P-256 point with this ``x`` (and its base64url) and SEC 1
    parity byte; None off the curve. The key is kept for the verifier, which is about to load
    the same point from the JWK."""
    key = _point_key(x, parity)
    if key is None:
        return None
    y_text = b64url_bytes(key.public_numbers().y.to_bytes(32, "big"))[:43]
    remember_p256_point(x_text.decode("ascii"), y_text.decode("ascii"), key)
    return b'"x":"' + x_text + b'","y":"' + y_text + b'"'


def _standard_shape(separators: list[str]) -> int | None:
    """Where the key-binding JWT starts in ``h.p.s~d~...~`` + ``h.p.s`` or nothing; None otherwise."""
    key_bound = separators[-2:] == [".", ""] if len(separators) >= 2 else False
    cut = len(separators) - 3 if key_bound else len(separators) - 1
    shape = "..~" + "~" * (cut - 3) + (".." if key_bound else "")
    return cut if cut >= 3 and "".join(separators) == shape else None


def encode_qr_text_v2(compact: str, *, answers_request: bool) -> str | None:
    """``CID2:`` text for a presentation, or None when it does not have the usual SD-JWT shape.

    With ``answers_request``, the key-binding JWT's ``nonce`` and ``aud`` are left out too: the
    desk whose request it answers puts its own back (anyone else cannot read the proof).
    """
    if not compact.isascii():
        raise MalformedError(Reason.BAD_ENCODING, "a compact SD-JWT is ASCII")
    pieces = _TOKENS.split(compact)
    texts, separators = pieces[0::2], [*pieces[1::2], ""]
    cut = _standard_shape(separators)
    decoded = [_canonical_bytes(text) for text in texts]
    raws = [raw for raw in decoded if raw is not None]
    if cut is None or len(raws) != len(texts) or "" in texts[3:cut]:
        return None
    digests = {b64url_encode(hashlib.sha256(text.encode()).digest()): k for k, text in enumerate(texts[3:cut])}
    covered = "".join(text + separator for text, separator in zip(texts[:cut], separators[:cut], strict=True))
    sd_hash = b64url_encode(hashlib.sha256(covered.encode()).digest())

    def digest(match: re.Match[bytes]) -> tuple[bytes, bytes] | None:
        k = digests.get(match.group(1).decode())
        return None if k is None or k > 255 else (bytes((DIGEST, k)), b"")

    def integrity(match: re.Match[bytes]) -> tuple[bytes, bytes] | None:
        value = _quoted(match.group(1))
        prefix = match.group(0)[: -len(match.group(1))]
        return None if value is None else (prefix + bytes((KNOWN,)) + tag(value, _TAG_BYTES[KNOWN]), b"")

    def key_binding(match: re.Match[bytes]) -> tuple[bytes, bytes] | None:
        name, value = match.group(1), _quoted(match.group(2))
        prefix = match.group(0)[: -len(match.group(2))]
        if value is None:
            return None
        if name == b"sd_hash":
            return (prefix + bytes((SD_HASH,)), b"") if value == sd_hash else None
        if not answers_request:
            return None
        marker = NONCE if name == b"nonce" else AUDIENCE
        return prefix + bytes((marker,)) + tag(value, _TAG_BYTES[marker]), b""

    sd_alg_ok = b'"_sd_alg"' not in raws[1] or b'"_sd_alg":"sha-256"' in raws[1]
    packer = _Packer()
    for index, (raw, separator) in enumerate(zip(raws, separators, strict=True)):
        code = _SEPARATOR_CODE[separator]
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            packer.segment(raw, _BLOB, code)
            continue
        replace: list[tuple[re.Pattern[bytes], object]] = [(_POINT, _point), (_INTEGRITY, integrity)]
        if index == 1 and sd_alg_ok:
            replace.append((_EMBEDDED_B64, digest))
        if index == cut + 1:
            replace.append((_KB_STRING, key_binding))
        packer.json(raw, code, replace)
    compressor = zlib.compressobj(level=9, wbits=15, memLevel=9, zdict=DICTIONARY_V2)
    compressed = compressor.compress(bytes(packer.skeleton)) + compressor.flush(zlib.Z_BLOCK)
    compressed += compressor.compress(bytes(packer.blobs)) + compressor.flush()
    return QR_PREFIX_V2 + b45encode(compressed)


# ---- decoding ----------------------------------------------------------------------------------


def _broken(problem: str) -> MalformedError:
    return MalformedError(Reason.MALFORMED, f"QR payload {problem}")


_TOKEN_SPLIT = re.compile(rb"(\xff.|\xfe.|\xfd|[\xfc\xfb]..|\xfa.|\xf9...)", re.DOTALL)
_SELF_CONTAINED = frozenset({BLOB, POINT, KNOWN})
_IN_PAYLOAD = _SELF_CONTAINED | {DIGEST}
_IN_KEY_BINDING = _SELF_CONTAINED | {SD_HASH, NONCE, AUDIENCE}


def _read_segments(data: bytes) -> tuple[list[tuple[int, bytes | int, int]], int]:
    """Each segment's header, body (JSON bytes with markers, or a random run's length) and where
    the body starts, and where the random bytes start."""
    segments: list[tuple[int, bytes | int, int]] = []
    position, size = 0, len(data)
    while True:
        if position >= size:
            raise _broken("has a broken segment header")
        header, position = data[position], position + 1
        if header & 0x80:
            header, position = long_header(data, header, position)
        kind = header >> 2 & 3
        if kind not in (_JSON, _BLOB) or header & 3 > _END:
            raise _broken("has an unknown segment kind")
        if kind == _BLOB:
            segments.append((header, header >> 4, position))
        else:
            end = position + (header >> 4)
            if end > size:
                raise _broken("ends inside a segment")
            segments.append((header, data[position:end], position))
            position = end
        if header & 3 == _END:
            return segments, position


_VARIABLE = {**_TAG_BYTES, POINT: 1}
"""The bytes after these markers differ from proof to proof of one shape (tags, the parity)."""


class _Shape(NamedTuple):
    """Where everything sits in one shape of proof. A desk sees one shape again and again: the
    same segments and markers at the same places, with other random bytes, tags, parity and
    text between the markers (a status index, the times). So a skeleton is parsed once, and a
    later one is cut by its shape after two checks in C calls: the header and marker bytes are
    the shape's, and the text between the markers holds no marker byte; then parsing it would
    find exactly these pieces."""

    start: int
    """Where the random bytes start."""
    probe: Callable[[bytes], tuple[int, ...]]
    """Picks every header and marker byte (not the variable ones)..."""
    expected: tuple[int, ...]
    """...which must be exactly these."""
    layout: list[list[slice] | None]
    """Per segment, its text and markers as slices of the skeleton (``[text, marker, text, ...]``),
    or None for a random run."""
    texts: Callable[[bytes], tuple[bytes, ...]]
    """Every text between markers, to check that none holds a marker byte."""
    digests: Callable[[bytes], tuple[bytes, ...]]
    """The payload's two-byte digest markers: each is a disclosed digest (``0xFE k``) or a
    carried one (``0xFF 32``), in any order (the ``_sd`` array is sorted: where the disclosed
    ones fall differs from credential to credential)..."""
    carried: int
    """...and this many are carried."""
    separators: list[str]
    cut: int
    lengths: tuple[int, ...]


def _parse_shape(data: bytes) -> _Shape:
    """The shape of ``data``'s skeleton, every marker checked for where it stands."""
    parsed, start = _read_segments(data)
    separators = [_SEPARATORS[header & 3] for header, _body, _at in parsed]
    cut = _standard_shape(separators)
    if cut is None:
        raise _broken("does not have the shape of an SD-JWT presentation")
    layout: list[list[slice] | None] = []
    lengths: list[int] = []
    fixed: list[int] = []  # positions of the header and marker bytes
    texts: list[slice] = [slice(0, 0)]
    digests: list[slice] = [slice(0, 0)]
    carried, cursor = 0, 0
    fixed_digests = _digests_interleaved(parsed[1][1])
    for index, (_header, body, at) in enumerate(parsed):
        fixed += range(cursor, at)  # this segment's header bytes
        if isinstance(body, int):
            layout.append(None)
            lengths.append(body)
            cursor = at
            continue
        allowed = _IN_PAYLOAD if index == 1 else _IN_KEY_BINDING if index == cut + 1 else _SELF_CONTAINED
        slices, position = [], at
        for number, piece in enumerate(_TOKEN_SPLIT.split(body)):
            where = slice(position, position + len(piece))
            if number % 2:
                if piece[0] not in allowed:
                    raise _broken(f"has marker 0x{piece[0]:02X} where it cannot stand")
                if piece[0] in (BLOB, POINT):
                    lengths.append(piece[1] if piece[0] == BLOB else 32)
                if index == 1 and (piece[0] == DIGEST or piece == _CARRIED_DIGEST) and not fixed_digests:
                    digests.append(where)
                    carried += piece == _CARRIED_DIGEST
                else:
                    fixed += range(position, position + len(piece) - _VARIABLE.get(piece[0], 0))
            else:
                texts.append(where)
            slices.append(where)
            position += len(piece)
        layout.append(slices)
        cursor = position
    fixed.append(0)  # one more, so that itemgetter always returns a tuple
    probe = operator.itemgetter(*fixed)
    shape = _Shape(start, probe, probe(data), layout, operator.itemgetter(*texts), operator.itemgetter(*digests),
                   carried, separators, cut, tuple(lengths))  # fmt: skip
    if _NOT_TEXT.search(b"".join(shape.texts(data))):
        raise _broken("has a cut-off or unknown marker")
    return shape


_CARRIED_DIGEST = bytes((BLOB, 32))


def is_text(between_markers: bytes) -> bool:
    """No marker byte (``0xF5``-``0xFF``) in the text between a skeleton's markers; ASCII, the
    usual case, is told in one quick pass."""
    return between_markers.isascii() or not _NOT_TEXT.search(between_markers)


def _digests_interleaved(payload: bytes | int) -> bool:
    """Whether another marker stands between the payload's digest markers. Then which ones are
    carried decides which random run each later marker takes, and a proof whose digests fall in
    another order may have runs of other lengths: such a shape keeps its digest markers fixed."""
    if isinstance(payload, int):
        return False
    kinds = [piece[0] == DIGEST or piece == _CARRIED_DIGEST for piece in _TOKEN_SPLIT.split(payload)[1::2]]
    return True in kinds and False in kinds[kinds.index(True) : len(kinds) - kinds[::-1].index(True)]


def _digests_fit(markers: tuple[bytes, ...], carried: int) -> bool:
    """The payload's digest markers are all ``0xFE k`` or ``0xFF 32``, this many of them the latter."""
    return markers.count(_CARRIED_DIGEST) == carried and all(
        marker[0] == DIGEST or marker == _CARRIED_DIGEST for marker in markers[1:]
    )


_SHAPES: dict[int, list[_Shape]] = {}
_SHAPES_PER_SIZE, _SIZES_KEPT = 4, 64


def _shape_of(data: bytes) -> _Shape:
    """The shape of ``data``: one seen before (its checks pass), or parsed now and kept
    (bounded: whoever crafts many shapes only keeps the parser busy)."""
    for shape in _SHAPES.get(len(data), ()):
        if (
            shape.probe(data) == shape.expected
            and is_text(b"".join(shape.texts(data)))
            and _digests_fit(shape.digests(data), shape.carried)
        ):
            return shape
    shape = _parse_shape(data)
    if len(data) not in _SHAPES and len(_SHAPES) >= _SIZES_KEPT:
        _SHAPES.clear()
    kept = _SHAPES.setdefault(len(data), [])
    if len(kept) >= _SHAPES_PER_SIZE:
        kept.pop(0)
    kept.append(shape)  # (lists are only appended to and cut at the front: safe for the desk's threads)
    return shape


def _point_text(x: bytes, x_text: bytes, parity: int) -> bytes:
    text = point_text(x, x_text, parity)
    if text is None:
        raise KeyBindingError(Reason.HOLDER_KEY_INVALID, "the holder key in the proof is not a P-256 point")
    return text


def _request_value(context: QrContext, marker: int, want: bytes) -> bytes:
    value = context.nonce if marker == NONCE else context.audience
    if value is None or tag(value, _TAG_BYTES[marker]) != want:
        if marker == NONCE:
            raise KeyBindingError(Reason.NONCE_MISMATCH, "the proof answers another request (its nonce differs)")
        raise KeyBindingError(Reason.AUDIENCE_MISMATCH, "the proof answers another desk (its audience differs)")
    return orjson.dumps(value)


def _known(context: QrContext, want: bytes) -> bytes:
    value = context.known.get(want)
    if value is None:
        raise MalformedError(Reason.UNSUPPORTED_CREDENTIAL_TYPE, "the proof leaves out its type's integrity "
                             "(vct#integrity), which this verifier does not hold: a desk has it from its "
                             "trust bundle (sync the desk)")  # fmt: skip
    return orjson.dumps(value)


def _sha256_b64(text: str) -> bytes:
    return b64url_encode(hashlib.sha256(text.encode("ascii")).digest()).encode()


def _expand(
    pieces: list[bytes],
    runs: tuple[bytes, ...],
    encoded: tuple[bytes, ...],
    taken: int,
    context: QrContext,
    covered: str,
) -> int:
    """Put each marker's text in its place (digests excepted: they wait); returns the random runs used so far."""
    for at in range(1, len(pieces), 2):
        token = pieces[at]
        marker = token[0]
        if marker == BLOB:
            pieces[at] = b'"' + encoded[taken] + b'"'
            taken += 1
        elif marker == POINT:
            pieces[at] = _point_text(runs[taken], encoded[taken], token[1])
            taken += 1
        elif marker == SD_HASH:
            pieces[at] = b'"' + _sha256_b64(covered) + b'"'
        elif marker in (NONCE, AUDIENCE):
            pieces[at] = _request_value(context, marker, token[1:])
        elif marker == KNOWN:
            pieces[at] = _known(context, token[1:])
    return taken


def unpack_v2(data: bytes, context: QrContext) -> Segments:
    """Rebuild every segment of the presentation from the inflated ``skeleton + blobs``.

    Random bytes are stored in segment order and are cut out and base64url-encoded in one go
    (as for ``CID1:``); the payload's digests wait for the disclosures after it, and the
    key-binding JWT's ``sd_hash`` is computed from everything before it.
    """
    shape = _shape_of(data)
    bodies = [None if slices is None else [data[where] for where in slices] for slices in shape.layout]
    runs, encoded = _random_parts(data, shape.start, shape.lengths)
    separators, cut = shape.separators, shape.cut
    raws: list[bytes] = []
    texts: list[str] = []
    taken, covered = 0, ""
    for index, pieces in enumerate(bodies):
        if index == cut:  # the issuer-signed part is whole: the payload's digests, then what sd_hash covers
            if (payload := bodies[1]) is not None:  # (a payload of random bytes fails its signature later)
                raws[1] = _with_digests(payload, texts, cut)
                texts[1] = b64url_encode(raws[1])
            covered = "".join(map(str.__add__, texts, separators[:cut]))
        if pieces is None:
            raw = runs[taken]
            taken += 1
        else:
            taken = _expand(pieces, runs, encoded, taken, context, covered)
            raw = b"" if index == 1 else b"".join(pieces)  # the payload is joined once its digests are known
        raws.append(raw)
        texts.append(b64url_encode(raw))
    return Segments(texts, list(raws), separators)


def _with_digests(payload: list[bytes], texts: list[str], cut: int) -> bytes:
    """The payload, each ``0xFE k`` replaced by the digest of disclosure k."""
    for at in range(1, len(payload), 2):
        if payload[at][0] == DIGEST:
            if payload[at][1] >= cut - 3:
                raise _broken("names a disclosure it does not hold")
            payload[at] = b'"' + _sha256_b64(texts[3 + payload[at][1]]) + b'"'
    return b"".join(payload)


def inflate_v2(text: str, limits: Limits) -> bytes:
    return inflate_with(text, limits, prefix=QR_PREFIX_V2, dictionary=DICTIONARY_V2)


def decode_qr_text_v2(text: str, context: QrContext = NO_CONTEXT, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """The exact compact presentation a ``CID2:`` text was made from, rebuilt with ``context``."""
    segments = unpack_v2(inflate_v2(text, limits), context)
    compact = segments.compact()
    if len(compact) > limits.max_presentation_chars:
        raise MalformedError(Reason.TOO_LARGE, "QR payload expands beyond the presentation limit")
    return compact


# ---- either version ----------------------------------------------------------------------------


def encode_qr_text(compact: str, *, version: int = 1, answers_request: bool = False) -> str:
    """QR text for a presentation: ``CID2:`` when ``version`` is 2 or more and the proof has the
    usual SD-JWT shape, else ``CID1:`` (which every desk reads)."""
    if version >= 2 and (text := encode_qr_text_v2(compact, answers_request=answers_request)) is not None:
        return text
    return encode_qr_text_v1(compact)


def decode_qr_text(text: str, *, limits: Limits = DEFAULT_LIMITS, context: QrContext = NO_CONTEXT) -> str:
    """The exact compact SD-JWT behind cityid QR text of any version this code reads; a ``CID2:``
    proof is rebuilt with ``context`` (the request it answers, the desk's trust)."""
    if text.startswith(QR_PREFIX_V2):
        return decode_qr_text_v2(text, context, limits=limits)
    return decode_qr_text_v1(text, limits=limits)

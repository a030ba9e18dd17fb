"""QR text straight to a :class:`Presentation`: the desk's hot path.

:func:`parse_qr_text` gives what ``parse_presentation(decode_qr_text(text))`` gives, errors
included, without decoding again what the codec has just encoded, and usually without a
Python loop over the segments at all.

Proofs shown at one desk nearly all have the same *shape*: the same segments, markers and
lengths, only different bytes. So the first proof of a shape is decoded the general way
(:func:`~credential._qrtext.unpack_segments`) and, if it is an ordinary SD-JWT, compiled into
a :class:`_Plan`: where every header, marker and random run sits, and ``struct`` formats
that cut, pad and reassemble them. A later proof uses the plan only after checking, in two C
calls, that its header bytes, markers and marker lengths are exactly the plan's and that its
skeleton holds no other marker byte; then the general decoder would walk the same path, so
the plan's result is the same bytes. Anything else takes the general path.

``CID2:`` proofs have plans too (:class:`_PlanV2`), behind the guards of their shape
(:func:`~credential._qrtext2._shape_of`): they rebuild what the proof leaves out (digests,
``sd_hash``, the desk's nonce, audience and strings, the holder key's y) in three steps of a few
C calls, and step aside for the general path whenever it would refuse, so that it says why.
"""

from __future__ import annotations

import hashlib
import operator
import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple, cast

import orjson

from ._limits import DEFAULT_LIMITS, Limits
from ._qrtext import (
    _BLOB,
    _END,
    _MARKER,
    _MARKERS,
    _URLSAFE,
    Segments,
    _b2a,
    _inflate,
    _long_header,
    b64url_bytes,
    base64_formats,
    check_expanded_size,
    compact_text,
    unpack_segments,
)
from ._qrtext2 import (
    _CARRIED_DIGEST,
    BLOB,
    DIGEST,
    KNOWN,
    NO_CONTEXT,
    NONCE,
    POINT,
    QR_PREFIX_V2,
    SD_HASH,
    QrContext,
    _digests_fit,
    _Shape,
    _shape_of,
    inflate_v2,
    is_text,
    point_text,
    unpack_v2,
)
from ._sdjwt import Presentation, check_disclosure_count, parse_presentation


def parse_qr_text(text: str, *, limits: Limits = DEFAULT_LIMITS, context: QrContext = NO_CONTEXT) -> Presentation:
    """Decode cityid QR text straight into a :class:`Presentation`, ready to verify.

    The same as ``parse_presentation(decode_qr_text(text, context=context))``, errors included,
    but faster: this is how a desk reads a proof.
    """
    if text.startswith(QR_PREFIX_V2):
        return _parse_v2(inflate_v2(text, limits), context, limits)
    data = _inflate(text, limits)
    plan = _plan_for(data)
    if plan is not None:
        return plan.run(data, limits)
    segments = unpack_segments(data)
    parts = _split_segments(segments, limits)
    if parts is None:
        return parse_presentation(compact_text(segments, limits), limits)
    _remember(_compile(data, segments))
    return parts


def _split_segments(segments: Segments, limits: Limits) -> Presentation | None:
    """A :class:`Presentation` when the segments are ``h.p.s~d~...~`` then ``h.p.s`` or
    nothing, every one of them canonical base64url; None for any other shape."""
    cut = _standard_cut(segments)
    if cut is None:
        return None
    texts, raws = segments.texts, cast(list[bytes], segments.raws)
    covered = f"{texts[0]}.{texts[1]}.{texts[2]}~" + "".join([disclosure + "~" for disclosure in texts[3:cut]])
    parts = _presentation(texts, raws, cut, covered)
    _check_limits(len(covered) + len(parts.key_binding), cut - 3, limits)
    return parts


def _presentation(texts: Sequence[str], raws: Sequence[bytes], cut: int, covered: str) -> Presentation:
    """The presentation of ordinary segments whose key-binding JWT starts at ``cut``."""
    key_bound = cut < len(texts) - 1
    return Presentation(
        texts[0], texts[1], raws[2], texts[3:cut], ".".join(texts[cut:]), covered, raws[1], raws[3:cut],
        (texts[cut], texts[cut + 1], raws[cut + 2], raws[cut + 1]) if key_bound else None,
    )  # fmt: skip


def _standard_cut(segments: Segments) -> int | None:
    """Where the key-binding JWT starts when the segments have the ordinary shape, else None."""
    texts, raws, separators = segments
    key_bound = texts[-1] != ""
    cut = len(texts) - 3 if key_bound else len(texts) - 1
    shape = "..~" + "~" * (cut - 3) + (".." if key_bound else "")
    if cut < 3 or "".join(separators) != shape or None in raws or "" in texts[3:cut]:
        return None
    return cut


def _check_limits(chars: int, disclosures: int, limits: Limits) -> None:
    check_expanded_size(chars, limits)
    check_disclosure_count(disclosures, limits)


class _Plan(NamedTuple):
    """How to decode every inflated payload of one shape, in a few C calls."""

    size: int
    probe: Callable[[bytes], tuple[int, ...]]
    """Picks the bytes at every header, marker and marker length of the skeleton..."""
    expected: tuple[int, ...]
    """...which must be exactly these."""
    markers: int
    """How many 0xFF bytes the skeleton holds: no more may appear."""
    start: int
    """Where the random runs start."""
    cut_runs: struct.Struct
    pad_runs: struct.Struct
    split_encoded_runs: struct.Struct
    literals: Callable[[bytes], tuple[bytes, ...]]
    """The skeleton's JSON text between markers, in order."""
    order: Callable[[tuple[bytes, ...]], tuple[bytes, ...]]
    """Each segment's pieces in order, from ``literals + encoded runs + runs + ('"',)``."""
    split_segments: struct.Struct
    pad_segments: struct.Struct
    split_texts: struct.Struct
    cut: int
    """Where the key-binding JWT starts (its three segments), or the last, empty, segment."""
    covered: str
    """A ``%`` format that joins the segments before ``cut`` with their separators."""
    chars: int
    disclosures: int

    def run(self, data: bytes, limits: Limits) -> Presentation:
        (_, _, _, _, start, cut_runs, pad_runs, split_encoded_runs, literals, order, split_segments, pad_segments,
         split_texts, cut, covered, chars, disclosures) = self  # fmt: skip
        _check_limits(chars, disclosures, limits)
        runs = cut_runs.unpack_from(data, start)
        encoded = split_encoded_runs.unpack(b64url_bytes(pad_runs.pack(*runs)))
        raws = split_segments.unpack(b"".join(order(literals(data) + encoded + runs + (b'"',))))
        texts = tuple(map(bytes.decode, split_texts.unpack(b64url_bytes(pad_segments.pack(*raws)))))
        return _presentation(texts, raws, cut, covered % texts[:cut])


_PLANS: dict[int, list[_Plan]] = {}
_PLANS_PER_SIZE = 4
_SIZES_KEPT = 64


def _plan_for(data: bytes) -> _Plan | None:
    for plan in _PLANS.get(len(data), ()):
        if plan.probe(data) == plan.expected and data.count(_MARKER, 0, plan.start) == plan.markers:
            return plan
    return None


def _remember(plan: _Plan | None) -> None:
    """Keep ``plan`` (bounded: whoever crafts many shapes only keeps the general path busy)."""
    if plan is None:
        return
    if plan.size not in _PLANS and len(_PLANS) >= _SIZES_KEPT:
        _PLANS.clear()
    kept = _PLANS.setdefault(plan.size, [])
    if len(kept) >= _PLANS_PER_SIZE:
        kept.pop(0)
    kept.append(plan)


def _compile(data: bytes, segments: Segments) -> _Plan | None:
    """The plan for ``data``'s shape, from a general decode that gave ``segments``; None
    unless the shape is an ordinary SD-JWT. Runs once per shape, so it is written plainly."""
    cut = _standard_cut(segments)
    if cut is None:
        return None
    positions: list[int] = []
    literal_slices: list[slice] = []
    run_lengths: list[int] = []
    # Per segment, its pieces: ("literal", i), ("encoded", run j), ("run", j), or None for a quote.
    segment_layouts: list[list[tuple[str, int] | None]] = []
    position = 0
    while True:
        first = position
        header = data[position]
        position += 1
        if header & 0x80:
            header, position = _long_header(data, header, position)
        positions += range(first, position)
        pieces: list[tuple[str, int] | None] = []
        if header >> 2 & 3 == _BLOB:
            pieces.append(("run", len(run_lengths)))
            run_lengths.append(header >> 4)
        else:  # JSON: the general decode refused any verbatim text before a plan is made
            end = position + (header >> 4)
            cursor = position
            for marker in _MARKERS.finditer(data, position, end):
                positions += (marker.start(), marker.start() + 1)
                literal_slices.append(slice(cursor, marker.start()))
                pieces += (("literal", len(literal_slices) - 1), None, ("encoded", len(run_lengths)), None)
                run_lengths.append(data[marker.start() + 1])
                cursor = marker.end()
            literal_slices.append(slice(cursor, end))
            pieces.append(("literal", len(literal_slices) - 1))
            position = end
        segment_layouts.append(pieces)
        if header & 3 == _END:
            break
    start = position
    literals, runs = len(literal_slices) + 1, len(run_lengths)  # + 1: the empty slice that keeps a tuple
    base = {"literal": 0, "encoded": literals, "run": literals + runs}
    order = [literals + 2 * runs if piece is None else base[piece[0]] + piece[1]
             for pieces in segment_layouts for piece in pieces]  # fmt: skip
    texts, raws, _separators = segments
    raw_lengths = [len(cast(bytes, raw)) for raw in raws]
    cut_runs, pad_runs, split_encoded_runs = base64_formats(run_lengths)
    split_segments, pad_segments, split_texts = base64_formats(raw_lengths)
    covered = "%s.%s.%s~" + "%s~" * (cut - 3)
    probe = (*positions, 0, 0)  # two more, so that itemgetter always returns a tuple
    return _Plan(
        size=len(data), probe=operator.itemgetter(*probe), expected=tuple(data[p] for p in probe),
        markers=data.count(_MARKER, 0, start), start=start, cut_runs=cut_runs, pad_runs=pad_runs,
        split_encoded_runs=split_encoded_runs, literals=operator.itemgetter(*literal_slices, slice(0, 0)),
        order=operator.itemgetter(*order), split_segments=split_segments, pad_segments=pad_segments,
        split_texts=split_texts, cut=cut, covered=covered,
        chars=len(covered % tuple(texts[:cut])) + len(".".join(texts[cut:])), disclosures=cut - 3,
    )  # fmt: skip


# ---- CID2: plans per proof shape ------------------------------------------------------------


def _parse_v2(data: bytes, context: QrContext, limits: Limits) -> Presentation:
    """A ``CID2:`` payload through its shape's plan, or the general way, which refuses with the
    reason, or decodes and makes the plan for the next proof of this shape."""
    found = _plan_v2_for(data)
    if found is not None and (parts := found[0].run(data, found[1], context, limits)) is not None:
        return parts
    segments = unpack_v2(data, context)
    parts = _split_segments(segments, limits)
    if parts is None:
        return parse_presentation(compact_text(segments, limits), limits)
    if found is None:
        _remember_v2(_compile_v2(data, _shape_of(data), cast(list[bytes], segments.raws)))
    return parts


_Pieces = Callable[[list[bytes]], tuple[bytes, ...]]
_Formats = tuple[struct.Struct, struct.Struct]
_CUT = b"\xff"  # no rebuilt JSON holds it: it never occurs in UTF-8, nor in base64
_digest = operator.methodcaller("digest")
_sha256 = hashlib.sha256


class _PlanV2(NamedTuple):
    """How to rebuild every ``CID2:`` proof of one shape that is an ordinary SD-JWT
    (``h.p.s~d~...~`` then ``h.p.s`` or nothing, the signatures random runs, every other
    segment JSON, no disclosure empty), in three steps of a few C calls each.

    A ``CID2:`` proof leaves out what the desk rebuilds, so its plan cannot be one ``struct``
    pass as for ``CID1:``: the payload's digests need the disclosures' text, and ``sd_hash`` the
    payload's. So: first every segment but the two payloads (one join, one split, one base64
    encoding); then the disclosures' digests and the payload; then ``sd_hash`` and the key
    binding's payload. Each piece comes from a *pool*: the skeleton's text between markers, the
    encoded random runs, the values made for this proof (the holder key's ``"x":…,"y":…``, the
    desk's nonce, audience and known strings, made as the general way makes them), ``"`` and
    ``0xFF``, then the digests or ``sd_hash``. When a value cannot be made (a tag the desk does
    not know, an x off the curve), the plan steps aside and the general way refuses."""

    size: int
    shape: _Shape
    """Its guards are the plan's: a proof is rebuilt only when it has exactly this shape."""
    runs: tuple[struct.Struct, struct.Struct, struct.Struct]
    """Cut the random runs, pad them, split their base64 (:func:`base64_formats`)."""
    literals: Callable[[bytes], tuple[bytes, ...]]
    """The skeleton's text between markers in every JSON segment, then an empty one."""
    dynamic: tuple[tuple[int, int, int], ...]
    """Each marker whose text is made per proof, in order: the marker, where its tag or parity
    byte is, and the random run it takes (a point's x; -1 for none)."""
    first: _Pieces
    """The pieces of the header, the disclosures and the segment at the cut (the key binding's
    header, or the empty end), with ``0xFF`` between segments."""
    first_formats: _Formats | None
    """Their base64 formats, or None when their lengths differ from proof to proof (a known
    string stands in them)."""
    payload: tuple[int | None, ...]
    """The payload's pieces; None where a digest marker stands, ``0xFE k`` or ``0xFF 32``..."""
    carried_at: tuple[int, ...]
    """...and, for each digest marker, where the pool has the run of a carried digest there,
    less the carried digests before it (runs are taken in the order of the markers)."""
    digests_at: int
    """Where the pool's digests start; ``sd_hash`` follows them."""
    orders: dict[bytes, _Pieces]
    """The payload's pieces for each order of digest markers seen (bounded)."""
    digest_formats: _Formats
    key_binding: _Pieces | None
    """The key binding's payload pieces (``sd_hash`` last in the pool); None on paper."""
    signatures: tuple[int, int]
    """The random runs of the two signatures (the second -1 on paper)."""
    covered: str
    """A ``%`` format that joins the segments before the cut with their separators."""
    disclosures: int

    def run(self, data: bytes, order: _Pieces, context: QrContext, limits: Limits) -> Presentation | None:
        """The presentation, or None where the general way must decide (it will refuse)."""
        (_, shape, (cut_runs, pad_runs, split_runs), literals, dynamic, first, first_formats, _, _, _, _,
         (pad_digests, split_digests), key_binding, (signature, kb_signature), covered_format, count) = self  # fmt: skip  # noqa: E501
        runs = cut_runs.unpack_from(data, shape.start)
        encoded = split_runs.unpack(_b2a(pad_runs.pack(*runs), newline=False).translate(_URLSAFE))
        values = _values(dynamic, data, runs, encoded, context) if dynamic else []
        if values is None:
            return None
        pool = [*literals(data), *encoded, *values, b'"', _CUT]
        raws = b"".join(first(pool)).split(_CUT)  # the header, the disclosures, the segment at the cut
        pad, split = first_formats or _formats_for(tuple(map(len, raws)))
        texts = split.unpack(_b2a(pad.pack(*raws), newline=False).translate(_URLSAFE))
        hashed = pad_digests.pack(*map(_digest, map(_sha256, texts[1 : 1 + count])))
        digests = split_digests.unpack(_b2a(hashed, newline=False).translate(_URLSAFE))
        pool += digests
        payload = b"".join(order(pool))
        header, *disclosures, at_cut = map(bytes.decode, texts)
        payload_text = _b2a(payload, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")
        covered = covered_format % (header, payload_text, encoded[signature].decode(), *disclosures)
        kb_parts = sd_hash_text = None
        if key_binding is not None:
            sd_hash = _b2a(_sha256(covered.encode("ascii")).digest(), newline=False).translate(_URLSAFE)[:43]
            sd_hash_text = sd_hash.decode("ascii")
            pool.append(sd_hash)
            kb_payload = b"".join(key_binding(pool))
            kb_text = _b2a(kb_payload, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")
            kb_parts = (at_cut, kb_text, runs[kb_signature], kb_payload)
            at_cut = f"{at_cut}.{kb_text}.{encoded[kb_signature].decode()}"
        if len(covered) + len(at_cut) > limits.max_presentation_chars or count > limits.max_disclosures:
            _check_limits(len(covered) + len(at_cut), count, limits)  # raises, as the general way would
        return Presentation(header, payload_text, runs[signature], disclosures, at_cut, covered, payload,
                            raws[1 : 1 + count], kb_parts, tuple(map(bytes.decode, digests)), sd_hash_text)  # fmt: skip

    def order_for(self, markers: bytes) -> _Pieces | None:
        """The payload's pieces for these digest markers, kept; None when they are not this
        shape's (``0xFE k`` or ``0xFF 32``, as many carried) or name a disclosure it lacks."""
        order = self.orders.get(markers)
        if order is not None:
            return order
        pairs = [markers[at : at + 2] for at in range(0, len(markers), 2)]
        if not _digests_fit((b"", *pairs), self.shape.carried):
            return None
        pieces: list[int] = []
        slots, carried = iter(range(len(pairs))), 0
        for piece in self.payload:
            if piece is not None:
                pieces.append(piece)
                continue
            slot = next(slots)
            if pairs[slot][0] != DIGEST:
                pieces.append(self.carried_at[slot] + carried)
                carried += 1
            elif pairs[slot][1] < self.disclosures:
                pieces.append(self.digests_at + pairs[slot][1])
            else:
                return None
        order = operator.itemgetter(*pieces)
        if len(self.orders) >= _ORDERS_KEPT:
            self.orders.clear()
        self.orders[markers] = order
        return order


def _values(
    dynamic: tuple[tuple[int, int, int], ...], data: bytes, runs: tuple[bytes, ...], encoded: tuple[bytes, ...],
    context: QrContext,
) -> list[bytes] | None:  # fmt: skip
    """The text of each marker made per proof, as the general way makes it; None where it refuses."""
    values = []
    for marker, at, run in dynamic:
        if marker == POINT:
            text = point_text(runs[run], encoded[run], data[at])
        elif marker == KNOWN:
            value = context.known.get(data[at : at + 3])
            text = None if value is None else orjson.dumps(value)
        else:
            value = context.nonce if marker == NONCE else context.audience
            text = None if value is None or _sha256(value.encode()).digest()[:2] != data[at : at + 2] else (
                orjson.dumps(value))  # fmt: skip
        if text is None:
            return None
        values.append(text)
    return values


_FORMATS: dict[tuple[int, ...], _Formats] = {}


def _formats_for(lengths: tuple[int, ...]) -> _Formats:
    """:func:`base64_formats` that pad and split byte strings of these lengths (kept, bounded)."""
    formats = _FORMATS.get(lengths)
    if formats is None:
        if len(_FORMATS) >= _SIZES_KEPT:
            _FORMATS.clear()
        formats = _FORMATS[lengths] = base64_formats(lengths)[1:]
    return formats


_PLANS_V2: dict[int, list[_PlanV2]] = {}
_ORDERS_KEPT = 32


def _plan_v2_for(data: bytes) -> tuple[_PlanV2, _Pieces] | None:
    """The plan whose shape ``data`` has, by the shape's own guards (its header and marker
    bytes, no marker byte in its text, its digest markers), and the payload's pieces."""
    for plan in _PLANS_V2.get(len(data), ()):
        shape = plan.shape
        if shape.probe(data) == shape.expected and is_text(b"".join(shape.texts(data))):
            order = plan.order_for(b"".join(shape.digests(data)))
            if order is not None:
                return plan, order
    return None


def _remember_v2(plan: _PlanV2 | None) -> None:
    """Keep ``plan`` (bounded, as :func:`_remember`)."""
    if plan is None:
        return
    if plan.size not in _PLANS_V2 and len(_PLANS_V2) >= _SIZES_KEPT:
        _PLANS_V2.clear()
    kept = _PLANS_V2.setdefault(plan.size, [])
    if len(kept) >= _PLANS_PER_SIZE:
        kept.pop(0)
    kept.append(plan)


_Piece = tuple[str, int]  # ("literal", i), ("encoded", run), ("value", i), ("quote", 0), ("slot", run), ("sd_hash", 0)


def _segment_pieces(
    data: bytes, slices: list[slice], payload: bool, literal_slices: list[slice], dynamic: list[tuple[int, int, int]],
    taken: int, carried: int,
) -> tuple[list[_Piece], int, int]:  # fmt: skip
    """One JSON segment's pieces, as the general way rebuilds it; the runs and carried digests
    taken up to its end. A digest marker is a slot: the run a carried digest there would take,
    less the carried digests before it."""
    pieces: list[_Piece] = []
    for number, where in enumerate(slices):
        if not number % 2:
            pieces.append(("literal", len(literal_slices)))
            literal_slices.append(where)
            continue
        token = data[where]
        if payload and (token[0] == DIGEST or token == _CARRIED_DIGEST):
            pieces += (("quote", 0), ("slot", taken - carried), ("quote", 0))
            taken, carried = taken + (token == _CARRIED_DIGEST), carried + (token == _CARRIED_DIGEST)
        elif token[0] == BLOB:
            pieces += (("quote", 0), ("encoded", taken), ("quote", 0))
            taken += 1
        elif token[0] == SD_HASH:
            pieces += (("quote", 0), ("sd_hash", 0), ("quote", 0))
        else:  # a point, a nonce, an audience or a known string
            pieces.append(("value", len(dynamic)))
            dynamic.append((token[0], where.start + 1, taken if token[0] == POINT else -1))
            taken += token[0] == POINT
    return pieces, taken, carried


def _compile_v2(data: bytes, shape: _Shape, raws: list[bytes]) -> _PlanV2 | None:
    """The plan for ``shape``, which ``data`` has and which the general way just decoded into
    ``raws``; None unless the shape is an ordinary SD-JWT. Runs once per shape: written plainly."""
    layout, cut = shape.layout, shape.cut
    key_bound = len(layout) == cut + 3
    random = {2, cut + 2} if key_bound else {2}
    if any((slices is None) != (index in random) for index, slices in enumerate(layout)) or b"" in raws[3:cut]:
        return None  # not an ordinary presentation
    literal_slices: list[slice] = []
    dynamic: list[tuple[int, int, int]] = []
    pieces_of: list[list[_Piece]] = []
    signatures: list[int] = []
    taken = carried = 0  # runs and carried digests so far, in this proof
    for index, slices in enumerate(layout):
        if slices is None:
            signatures.append(taken)
            pieces_of.append([])
            taken += 1
        else:
            pieces, taken, carried = _segment_pieces(data, slices, index == 1, literal_slices, dynamic, taken, carried)
            pieces_of.append(pieces)
    slots = [at for kind, at in pieces_of[1] if kind == "slot"]
    if len(slots) != len(shape.digests(data)) - 1:
        return None  # the shape keeps its digest markers fixed (another marker among them): the general way
    literals = len(literal_slices) + 1  # + 1: the empty slice that keeps a tuple
    values = literals + taken
    base = {"literal": 0, "encoded": literals, "value": values, "quote": values + len(dynamic),
            "sd_hash": values + len(dynamic) + 2 + cut - 3}  # fmt: skip
    empty = literals - 1

    def indexes(index: int) -> list[int]:
        return [base[kind] + at for kind, at in pieces_of[index]]

    first: list[int] = []
    for index in (0, *range(3, cut + 1)):
        first += [*indexes(index), base["quote"] + 1]  # then 0xFF
    first_raws = [raws[0], *raws[3 : cut + 1]]
    varies = any(dynamic[at][0] == KNOWN for index in (0, *range(3, cut + 1))
                 for kind, at in pieces_of[index] if kind == "value")  # fmt: skip
    count = cut - 3
    return _PlanV2(
        size=len(data), shape=shape, runs=base64_formats(shape.lengths),
        literals=operator.itemgetter(*literal_slices, slice(0, 0)), dynamic=tuple(dynamic),
        first=operator.itemgetter(*first[:-1], empty),
        first_formats=None if varies else base64_formats([len(raw) for raw in first_raws])[1:],
        payload=(*[None if kind == "slot" else base[kind] + at for kind, at in pieces_of[1]], empty),
        carried_at=tuple(literals + at for at in slots), digests_at=base["quote"] + 2, orders={},
        digest_formats=base64_formats([32] * count)[1:],
        key_binding=operator.itemgetter(*indexes(cut + 1), empty) if key_bound else None,
        signatures=(signatures[0], signatures[1] if key_bound else -1),
        covered="%s.%s.%s~" + "%s~" * count, disclosures=count,
    )  # fmt: skip

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
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple, cast

from ._limits import DEFAULT_LIMITS, Limits
from ._qrtext import (
    _BLOB,
    _END,
    _MARKER,
    _MARKERS,
    Segments,
    _inflate,
    _long_header,
    b64url_bytes,
    base64_formats,
    check_expanded_size,
    compact_text,
    unpack_segments,
)
from ._qrtext2 import NO_CONTEXT, QR_PREFIX_V2, QrContext, inflate_v2, unpack_v2
from ._sdjwt import Presentation, check_disclosure_count, parse_presentation


def parse_qr_text(text: str, *, limits: Limits = DEFAULT_LIMITS, context: QrContext = NO_CONTEXT) -> Presentation:
    """Decode cityid QR text straight into a :class:`Presentation`, ready to verify.

    The same as ``parse_presentation(decode_qr_text(text, context=context))``, errors included,
    but faster: this is how a desk reads a proof.
    """
    if text.startswith(QR_PREFIX_V2):
        segments = unpack_v2(inflate_v2(text, limits), context)
        return _split_segments(segments, limits) or parse_presentation(compact_text(segments, limits), limits)
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

"""The desk camera: how many camera frames the QR decode cascade reads, what a frame costs, and
how long a resident waits for an answer, for the previous cascade and today's side by side.

    python bench/scan.py [--frames N] [--first-seed S]

Frames come from edges.camerasim under several conditions, with seeds the tests do not use
(the tests use 0-139 and Unix times); today's cascade was ordered on these frames. Each frame
is decoded by both cascades in turn, from JPEG bytes, as the desk server receives it.

Expected time to an answer, once the code is held up: the loop is on average half-way through
a cycle on an empty desk (the wait after an answer plus an empty frame's decode), then frames
follow until one reads: read + (1 - p) / p x (wait + unread), with p the share of frames read.
The previous desk page waited 250 ms after every answer; today's takes the next frame at once.
Browser-side capture and upload are left out: they are the same for both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from credential import (
    RESIDENCY,
    SigningKey,
    StatusReference,
    encode_qr_text,
    issue_credential,
    present,
    residency_claims,
)
from edges.camerasim import PREVIOUS_PASSES, camera_frame
from edges.qrimage import DECODE_PASSES, DecodePass, QrSymbol, first_reading_pass, make_qr, read_image
from issuer.typemetadata import published_types

NOW = 1_764_000_000
CONDITIONS: dict[str, dict[str, Any]] = {
    "default (blur 1.5)": {},
    "more blur (2.0)": {"blur": 2.0},
    "low contrast (0.4)": {"contrast": 0.4},
    "tilt (skew 0.2)": {"skew": 0.2},
    "small symbol (45 %)": {"coverage": 0.45},
    "glare (0.9)": {"glare": 0.9},
    "grain (noise 0.3)": {"noise": 0.3},
}
OLD_WAIT_MS, NEW_WAIT_MS = 250.0, 0.0


def _proof_symbol() -> QrSymbol:
    """A residency proof's QR code (version 19, as a wallet shows it), the same on every run."""
    issuer = SigningKey("ES256", ec.derive_private_key(0x1D, ec.SECP256R1()), kid="k1")
    holder = SigningKey("ES256", ec.derive_private_key(0x2E, ec.SECP256R1()))
    counter = iter(range(1 << 30))
    issued = issue_credential(
        RESIDENCY,
        residency_claims("Riverton", dt.date(1991, 6, 14), dt.date(2026, 1, 1)),
        issuer_key=issuer,
        iss="https://id.riverton.example",
        holder_jwk=holder.public_jwk(),
        now=NOW,
        status=StatusReference(48_213, "https://id.riverton.example/status/1"),
        type_reference=published_types("https://id.riverton.example/types")[RESIDENCY.name].reference,
        random_bytes=lambda n: next(counter).to_bytes(n, "big"),
    )
    proof = present(
        issued, disclose=("resident_of", "age_over_18"), holder_key=holder, audience="desk:library",
        nonce="Xb3kP9qLm2Zt7Rw1", now=NOW,
    )  # fmt: skip
    return make_qr(encode_qr_text(proof))


def _empty_desk() -> bytes:
    """A frame with no code in view: grey desk and grain, as JPEG."""
    desk = Image.blend(Image.new("L", (1280, 720), 150), Image.effect_noise((1280, 720), 60), 0.15)
    buffer = io.BytesIO()
    desk.save(buffer, format="JPEG", quality=60)
    return buffer.getvalue()


def _decode_ms(frame: bytes, passes: tuple[DecodePass, ...]) -> tuple[int, float]:
    """The index of the pass that read ``frame`` (``len(passes)`` for none), and the milliseconds."""
    start = time.perf_counter()
    index, _ = first_reading_pass(read_image(frame), passes)
    return index, (time.perf_counter() - start) * 1e3


def _pass_ms(frames: list[bytes]) -> list[float]:
    """Each of today's passes alone: median milliseconds on ``frames``, whether it reads or not."""
    images = [read_image(frame) for frame in frames]
    costs = []
    for attempt in DECODE_PASSES:
        times = []
        for image in images:
            start = time.perf_counter()
            attempt.read(image)
            times.append((time.perf_counter() - start) * 1e3)
        costs.append(statistics.median(times))
    return costs


def _expected_ms(read: int, total: int, read_ms: float, unread_ms: float, empty_ms: float, wait_ms: float) -> str:
    if not read:
        return "never"
    share = read / total
    return f"{(wait_ms + empty_ms) / 2 + read_ms + (1 - share) / share * (wait_ms + unread_ms):.0f}"


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="frames per condition")
    parser.add_argument("--first-seed", type=int, default=1000)
    arguments = parser.parse_args()
    symbol = _proof_symbol()
    seeds = range(arguments.first_seed, arguments.first_seed + arguments.frames)
    cascades = {"previous": PREVIOUS_PASSES, "today": DECODE_PASSES}
    empty = _empty_desk()
    empty_ms = {
        name: statistics.median(_decode_ms(empty, passes)[1] for _ in range(5)) for name, passes in cascades.items()
    }
    waits = {"previous": OLD_WAIT_MS, "today": NEW_WAIT_MS}
    print(f"QR version {symbol.version}, {arguments.frames} frames a condition, seeds {seeds.start}-{seeds.stop - 1}")
    print(f"empty desk frame: previous {empty_ms['previous']:.1f} ms, today {empty_ms['today']:.1f} ms")
    print(f"{'condition':21} {'cascade':9} {'read':>6} {'ms read':>8} {'ms unread':>10} {'ms to answer':>13}")
    first_reads = [0] * (len(DECODE_PASSES) + 1)
    samples: list[bytes] = []
    for condition, settings in CONDITIONS.items():
        frames = [camera_frame(symbol, seed=seed, **settings) for seed in seeds]
        samples += frames[:3]
        timings: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cascades}
        lost = 0
        for frame in frames:  # both cascades on each frame in turn, so machine load hits both alike
            read_by = {}
            for name, passes in cascades.items():
                index, ms = _decode_ms(frame, passes)
                read_by[name] = index < len(passes)
                timings[name][0 if read_by[name] else 1].append(ms)
                if name == "today":
                    first_reads[index] += 1
            lost += read_by["previous"] and not read_by["today"]
        for name, (read_times, unread_times) in timings.items():
            answer = _expected_ms(
                len(read_times), len(frames),
                statistics.median(read_times) if read_times else 0.0,
                statistics.median(unread_times) if unread_times else 0.0,
                empty_ms[name], waits[name],
            )  # fmt: skip
            print(
                f"{condition:21} {name:9} {len(read_times):>3}/{len(frames):<2} {_median(read_times):>8} "
                f"{_median(unread_times):>10} {answer:>13}"
            )
        if lost:
            print(f"{'':21} {lost} frames read by the previous cascade only")
    print("\ntoday's passes: frames each read first (all conditions), and its median ms alone")
    for attempt, reads, ms in zip(DECODE_PASSES, first_reads, _pass_ms(samples), strict=False):
        print(f"  {attempt.name:28} {reads:>4} {ms:6.1f}")
    print(f"  {'(none)':28} {first_reads[-1]:>4}")


if __name__ == "__main__":
    main()

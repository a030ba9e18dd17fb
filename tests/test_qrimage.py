"""QR images: the residency proof fits a small QR code, and real decoding gets it back from a
clean PNG, an SVG, the terminal rendering, and a camera-like photo.

The proof here is fully deterministic (fixed keys, salts and clock), so every pixel of every
image, and so every decoding result, is the same on every run.
"""

from __future__ import annotations

import functools
import io
import re
from xml.etree import ElementTree

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image, ImageOps
from support import Keys, counter_bytes, issue_residency, present_to_desk

from credential import KeySet, SigningKey, encode_qr_text
from edges.camerasim import PREVIOUS_PASSES, camera_frame
from edges.qrimage import (
    QrImageError,
    QrSymbol,
    decode_qr_image,
    decode_qr_images,
    first_reading_pass,
    make_qr,
    read_image,
    to_image,
    to_png,
    to_svg,
    to_terminal,
)


def _fixed_keys() -> Keys:
    issuer = SigningKey("ES256", ec.derive_private_key(0x1D, ec.SECP256R1()), kid="k1")
    holder = SigningKey("ES256", ec.derive_private_key(0x2E, ec.SECP256R1()))
    return Keys(issuer, holder, KeySet([issuer.verifying_key()]))


KEYS = _fixed_keys()
PROOF = present_to_desk(KEYS, issue_residency(KEYS, random_bytes=counter_bytes()))
QR_TEXT = encode_qr_text(PROOF)
SYMBOL = make_qr(QR_TEXT)


def test_the_proof_is_deterministic() -> None:
    again = present_to_desk(KEYS, issue_residency(KEYS, random_bytes=counter_bytes()))
    assert again == PROOF


def test_a_residency_proof_fits_qr_version_20_at_error_correction_m() -> None:
    assert SYMBOL.ec_level == "M"
    assert SYMBOL.version <= 20
    assert SYMBOL.size == 17 + 4 * SYMBOL.version


def test_the_plain_compact_proof_would_need_a_much_denser_code() -> None:
    assert make_qr(PROOF).version >= SYMBOL.version + 8


def test_png_round_trip() -> None:
    png = to_png(SYMBOL)
    assert png.startswith(b"\x89PNG")
    assert decode_qr_image(png) == QR_TEXT


def test_jpeg_round_trip() -> None:
    buffer = io.BytesIO()
    to_image(SYMBOL, scale=4).convert("L").save(buffer, format="JPEG", quality=50)
    assert decode_qr_image(buffer.getvalue()) == QR_TEXT


def _modules_from_svg(svg: str) -> tuple[int, set[tuple[int, int]]]:
    root = ElementTree.fromstring(svg)  # well-formed XML
    side = int(root.attrib["viewBox"].split()[2])
    dark = set()
    for path in root.iter("{http://www.w3.org/2000/svg}path"):
        for x, y, run in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\d+z", path.attrib["d"]):
            dark.update((int(x) + dx, int(y)) for dx in range(int(run)))
    return side, dark


def _dark_modules(symbol: QrSymbol, border: int) -> set[tuple[int, int]]:
    return {(x + border, y + border) for y, row in enumerate(symbol.rows) for x, value in enumerate(row) if value}


def test_svg_draws_exactly_the_modules() -> None:
    side, dark = _modules_from_svg(to_svg(SYMBOL, border=4, title="Proof <for> the desk & you"))
    assert side == SYMBOL.size + 8
    assert dark == _dark_modules(SYMBOL, 4)


def test_terminal_rendering_draws_exactly_the_modules() -> None:
    lines = to_terminal(SYMBOL, border=2).split("\n")
    assert {len(line) for line in lines} == {SYMBOL.size + 4}
    top = {"▀": 1, "█": 1, "▄": 0, " ": 0}
    bottom = {"▄": 1, "█": 1, "▀": 0, " ": 0}
    dark = set()
    for row, line in enumerate(lines):
        for x, char in enumerate(line):
            if top[char]:
                dark.add((x, 2 * row))
            if bottom[char]:
                dark.add((x, 2 * row + 1))
    assert dark == _dark_modules(SYMBOL, 2)


def test_terminal_rendering_decodes_as_an_image() -> None:
    """Draw the half blocks as pixels, as a terminal would, and scan the result."""
    lines = to_terminal(SYMBOL).split("\n")
    image = Image.new("L", (len(lines[0]) * 4, len(lines) * 8), 255)
    for row, line in enumerate(lines):
        for x, char in enumerate(line):
            for half, shade in ((0, char in "▀█"), (1, char in "▄█")):
                if shade:
                    image.paste(0, (x * 4, row * 8 + half * 4, x * 4 + 4, row * 8 + half * 4 + 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert decode_qr_image(buffer.getvalue()) == QR_TEXT


@pytest.mark.parametrize("seed", range(8))
def test_a_camera_like_frame_decodes(seed: int) -> None:
    """Tilted in perspective, blurred, noisy, unevenly lit and JPEG-compressed."""
    frame = camera_frame(SYMBOL, seed=seed)
    assert frame.startswith(b"\xff\xd8")
    assert decode_qr_image(frame) == QR_TEXT


@functools.cache
def _camera_frames(blur: float) -> tuple[bytes, ...]:
    return tuple(camera_frame(SYMBOL, seed=seed, blur=blur) for seed in range(100, 140))


@pytest.mark.parametrize(("blur", "at_least"), [(1.5, 38), (1.8, 34)])
def test_nearly_every_single_frame_decodes(blur: float, at_least: int) -> None:
    """A desk camera gives several frames a second; nearly every one must read on its own."""
    assert sum(QR_TEXT in decode_qr_images(frame) for frame in _camera_frames(blur)) >= at_least


def test_the_cascade_reads_every_test_frame_the_previous_one_read() -> None:
    """Today's cascade was ordered on other frames (bench/scan.py); these are the check."""
    frames = [camera_frame(SYMBOL, seed=seed) for seed in range(8)] + list(_camera_frames(1.8))
    inverted = io.BytesIO()
    ImageOps.invert(to_image(SYMBOL, scale=4).convert("L")).save(inverted, format="PNG")
    for frame in [*frames, inverted.getvalue()]:
        image = read_image(frame)
        previous = first_reading_pass(image, PREVIOUS_PASSES)[1]
        assert QR_TEXT in first_reading_pass(image)[1] or not previous


def test_a_clean_frame_is_read_by_the_first_pass() -> None:
    """A screenshot, or a phone held still in good light, costs one plain read."""
    assert first_reading_pass(to_image(SYMBOL).convert("L")) == (0, [QR_TEXT])
    assert first_reading_pass(read_image(camera_frame(SYMBOL, seed=2))) == (0, [QR_TEXT])


def test_garbage_is_an_unreadable_image() -> None:
    with pytest.raises(QrImageError) as caught:
        decode_qr_image(b"\x89PNG\r\n\x1a\n not really")
    assert caught.value.reason == "unreadable_image"


def test_an_image_without_a_qr_code() -> None:
    buffer = io.BytesIO()
    Image.new("L", (200, 200), 128).save(buffer, format="PNG")
    with pytest.raises(QrImageError) as caught:
        decode_qr_image(buffer.getvalue())
    assert caught.value.reason == "no_qr_code"


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000), 1).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 200_000
    with pytest.raises(QrImageError) as caught:
        decode_qr_image(buffer.getvalue())
    assert caught.value.reason == "too_large"


def test_other_barcodes_in_the_picture_do_not_confuse_the_reader() -> None:
    other = to_image(make_qr("HELLO DESK"), scale=4)
    proof = to_image(SYMBOL, scale=4)
    canvas = Image.new("1", (other.width + proof.width + 40, max(other.height, proof.height)), 1)
    canvas.paste(other, (0, 0))
    canvas.paste(proof, (other.width + 40, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    assert set(decode_qr_images(buffer.getvalue())) == {"HELLO DESK", QR_TEXT}

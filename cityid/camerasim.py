"""A camera-like photo of a QR code, for tests, benchmarks and the demo.

A desk webcam does not see a clean PNG: the code is tilted and in perspective, a little out
of focus, lit unevenly, noisy, and JPEG-compressed. :func:`camera_frame` makes such a frame
deterministically from a seed, so decoding can be tested against it without a camera.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageChops, ImageFilter

from .qrimage import QrSymbol, to_image


def _perspective_coefficients(source: list[tuple[float, float]], target: list[tuple[float, float]]) -> list[float]:
    """Coefficients for Pillow's PERSPECTIVE transform mapping ``target`` corners to ``source``."""
    matrix: list[list[float]] = []
    vector: list[float] = []
    for (x, y), (u, v) in zip(target, source, strict=True):
        matrix.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        matrix.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        vector += [u, v]
    return _solve(matrix, vector)


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting for the 8x8 system above."""
    size = len(vector)
    rows = [[*row, value] for row, value in zip(matrix, vector, strict=True)]
    for column in range(size):
        pivot = max(range(column, size), key=lambda r: abs(rows[r][column]))
        rows[column], rows[pivot] = rows[pivot], rows[column]
        for r in range(size):
            if r != column:
                factor = rows[r][column] / rows[column][column]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[column], strict=True)]
    return [rows[i][size] / rows[i][i] for i in range(size)]


def camera_frame(
    symbol: QrSymbol,
    *,
    seed: int = 0,
    frame: tuple[int, int] = (1280, 720),
    coverage: float = 0.6,
    skew: float = 0.1,
    blur: float = 1.5,
    noise: float = 0.15,
    jpeg_quality: int = 60,
) -> bytes:
    """A JPEG 'photo' of ``symbol`` filling ``coverage`` of the frame's height: each corner
    moved by up to ``skew`` of its size, blurred by ``blur`` pixels, with ``noise`` (0-1)
    grain, a lighting gradient and JPEG artefacts."""
    rng = random.Random(seed)  # noqa: S311  (a reproducible picture, not a secret)
    width, height = frame
    side = int(height * coverage)
    code = to_image(symbol, scale=max(1, side // (symbol.size + 8)), border=4).convert("L")
    code = code.resize((side, side), Image.Resampling.BILINEAR)
    left, top = (width - side) // 2 + rng.randint(-40, 40), (height - side) // 2 + rng.randint(-20, 20)
    corners = [(left, top), (left + side, top), (left + side, top + side), (left, top + side)]
    moved = [(x + rng.uniform(-skew, skew) * side, y + rng.uniform(-skew, skew) * side) for x, y in corners]
    square = [(0.0, 0.0), (float(side), 0.0), (float(side), float(side)), (0.0, float(side))]
    desk = Image.new("L", frame, 150)
    warped = code.transform(
        frame,
        Image.Transform.PERSPECTIVE,
        _perspective_coefficients(square, moved),
        Image.Resampling.BILINEAR,
        fillcolor=150,
    )
    mask = Image.new("L", (side, side), 255).transform(
        frame,
        Image.Transform.PERSPECTIVE,
        _perspective_coefficients(square, moved),
        Image.Resampling.BILINEAR,
        fillcolor=0,
    )
    photo = Image.composite(warped, desk, mask)
    lighting = Image.linear_gradient("L").resize(frame).point(lambda v: 200 + v * 55 // 255)
    photo = ImageChops.multiply(photo, lighting).filter(ImageFilter.GaussianBlur(blur))
    grain = Image.frombytes("L", frame, rng.randbytes(width * height))
    photo = Image.blend(photo, grain, noise)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=jpeg_quality)
    return buffer.getvalue()

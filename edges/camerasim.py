"""A camera-like photo of a QR code, for tests, benchmarks and the demo.

A desk webcam does not see a clean PNG: the code is tilted and in perspective, a little out
of focus, lit unevenly, noisy, and JPEG-compressed. :func:`camera_frame` makes such a frame
deterministically from a seed, so decoding can be tested against it without a camera.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageChops, ImageFilter

from .qrimage import DecodePass, QrSymbol, to_image


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


def _with_glare(code: Image.Image, strength: float, rng: random.Random) -> Image.Image:
    """``code`` with a bright soft ellipse, a third of its side, somewhere over it."""
    spot_width, spot_height = code.width // 3, code.height // 4
    spot = ImageChops.invert(Image.radial_gradient("L")).resize((spot_width, spot_height))
    spot = spot.point(lambda v: round(v * strength))
    light = Image.new("L", code.size, 0)
    light.paste(spot, (rng.randint(0, code.width - spot_width), rng.randint(0, code.height - spot_height)))
    return ImageChops.add(code, light)


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
    contrast: float = 1.0,
    glare: float = 0.0,
) -> bytes:
    """A JPEG 'photo' of ``symbol`` filling ``coverage`` of the frame's height: each corner
    moved by up to ``skew`` of its size, blurred by ``blur`` pixels, with ``noise`` (0-1)
    grain, a lighting gradient and JPEG artefacts.

    ``contrast`` below 1 greys the dark modules (a dim phone screen: at 0.4 they are 60 % white);
    ``glare`` above 0 washes out a soft spot over part of the code (a reflection on the screen,
    at 1 its centre is white). At their defaults the frame is the same as without them."""
    rng = random.Random(seed)  # noqa: S311  (a reproducible picture, not a secret)
    width, height = frame
    side = int(height * coverage)
    code = to_image(symbol, scale=max(1, side // (symbol.size + 8)), border=4).convert("L")
    code = code.resize((side, side), Image.Resampling.BILINEAR)
    if contrast != 1.0:
        code = code.point(lambda v: round(255 - (255 - v) * contrast))
    if glare:
        code = _with_glare(code, glare, random.Random(f"glare {seed}"))  # noqa: S311  (own stream: other frames stay)
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


def _enlarged(image: Image.Image) -> Image.Image:
    return image.resize((image.width * 3 // 2, image.height * 3 // 2), Image.Resampling.LANCZOS)


def _halved(image: Image.Image) -> Image.Image:
    return image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.LANCZOS)


_ALL_TRIES = {"try_invert": True, "try_downscale": True, "try_rotate": True}
PREVIOUS_PASSES = (
    DecodePass("plain", lambda image: image, **_ALL_TRIES),
    DecodePass("1.5x larger", _enlarged, **_ALL_TRIES),
    DecodePass("unsharp", lambda image: image.filter(ImageFilter.UnsharpMask(2, 150, 3)), **_ALL_TRIES),
    DecodePass("median 3", lambda image: image.filter(ImageFilter.MedianFilter(3)), **_ALL_TRIES),
    DecodePass("half size", _halved, **_ALL_TRIES),
)
"""The desk's decode cascade until 2026-12-02 (slower: every pass with all of zxing-cpp's own
retries), kept so that the bench and the tests can hold today's cascade against it."""

"""QR images at the edge: render text to PNG, SVG or the terminal, and read it back from photos.

The credential core produces and consumes QR *text*; this module is the only place that
deals in pixels. Encoding and decoding both use zxing-cpp (C++), which keeps a proof QR
well under 30 ms to render; Pillow reads and writes the image files.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import zxingcpp
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

EcLevel = Literal["L", "M", "Q", "H"]
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000


class QrImageError(Exception):
    """An image could not be read, or holds no QR code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class QrSymbol:
    """A QR code as modules: ``rows[y][x]`` is 1 for a dark module. No quiet zone."""

    rows: tuple[bytes, ...]
    version: int
    ec_level: EcLevel

    @property
    def size(self) -> int:
        return len(self.rows)


def make_qr(text: str, *, ec_level: EcLevel = "M") -> QrSymbol:
    """Encode ``text`` in the smallest QR code at ``ec_level`` (alphanumeric mode when it fits)."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level=ec_level)
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    size: int = image.shape[0]
    # zxingcpp.Image has the buffer protocol; its type stub does not say so.
    dark = bytes(memoryview(image)).translate(_DARK)  # type: ignore[arg-type]
    rows = tuple(dark[y * size : (y + 1) * size] for y in range(size))
    return QrSymbol(rows=rows, version=(size - 17) // 4, ec_level=ec_level)


# zxing-cpp renders dark modules as 0 and light as 255.
_DARK = bytes([1] + [0] * 255)
# The same modules as 8-bit grey for Pillow.
_GREY = bytes([255, 0]) + bytes(254)


def to_image(symbol: QrSymbol, *, scale: int = 8, border: int = 4) -> Image.Image:
    """A black-on-white Pillow image, ``scale`` pixels a module, ``border`` modules of quiet zone."""
    modules = Image.frombytes("L", (symbol.size, symbol.size), b"".join(symbol.rows).translate(_GREY))
    framed = ImageOps.expand(modules, border=border, fill=255)
    return framed.resize((framed.width * scale, framed.height * scale), Image.Resampling.NEAREST).convert("1")


def to_png(symbol: QrSymbol, *, scale: int = 8, border: int = 4) -> bytes:
    """PNG bytes of :func:`to_image`."""
    buffer = io.BytesIO()
    to_image(symbol, scale=scale, border=border).save(buffer, format="PNG")
    return buffer.getvalue()


def to_svg(symbol: QrSymbol, *, border: int = 4, title: str = "QR code") -> str:
    """A small, scalable SVG: one path of horizontal runs, one unit per module."""
    runs = []
    for y, row in enumerate(symbol.rows):
        x = 0
        while x < symbol.size:
            if row[x]:
                start = x
                while x < symbol.size and row[x]:
                    x += 1
                runs.append(f"M{start + border},{y + border}h{x - start}v1h{start - x}z")
            else:
                x += 1
    side = symbol.size + 2 * border
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" '
        f'shape-rendering="crispEdges" role="img"><title>{_xml_text(title)}</title>'
        f'<rect width="{side}" height="{side}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    )


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_HALF_BLOCKS = {(0, 0): " ", (1, 0): "\u2580", (0, 1): "\u2584", (1, 1): "\u2588"}


def to_terminal(symbol: QrSymbol, *, border: int = 2) -> str:
    """Text for a terminal: two module rows per line with half blocks; dark is ink.

    Print it dark-on-light (e.g. Rich style ``"black on white"``) so phones can scan it
    from a dark-themed terminal too.
    """
    width = symbol.size + 2 * border
    blank = bytes(width)
    rows = [blank] * border + [bytes(border) + row + bytes(border) for row in symbol.rows] + [blank] * border
    if len(rows) % 2:
        rows.append(blank)
    return "\n".join(
        "".join(_HALF_BLOCKS[top, bottom] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(rows[0::2], rows[1::2], strict=True)
    )


def read_image(data: bytes) -> Image.Image:
    """Open PNG, JPEG or any image Pillow knows, bounded in bytes and pixels."""
    if len(data) > MAX_IMAGE_BYTES:
        raise QrImageError("too_large", f"the image is larger than {MAX_IMAGE_BYTES // 1_000_000} MB")
    try:
        with warnings.catch_warnings():  # we apply our own, lower pixel limit just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise QrImageError("too_large", "the image has too many pixels")
        image.load()
    except QrImageError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise QrImageError("unreadable_image", "the file is not a readable image") from exc
    return ImageOps.exif_transpose(image).convert("L")


@dataclass(frozen=True, slots=True)
class DecodePass:
    """One attempt at a photo: ``prepare`` the picture, then one zxing-cpp read of it.

    zxing-cpp's own retries (rotated, inverted, downscaled) are off unless asked for: a QR code
    is found at any angle without ``try_rotate``, and the cascade downscales on its own.
    """

    name: str
    prepare: Callable[[Image.Image], Image.Image]
    try_invert: bool = False
    try_downscale: bool = False
    try_rotate: bool = False

    def read(self, image: Image.Image) -> list[str]:
        results = zxingcpp.read_barcodes(
            self.prepare(image),
            formats=_QR_ONLY,
            try_rotate=self.try_rotate,
            try_downscale=self.try_downscale,
            try_invert=self.try_invert,
        )
        return [result.text for result in results if result.valid and result.text]


def _unchanged(image: Image.Image) -> Image.Image:
    return image


def _half(image: Image.Image) -> Image.Image:
    return image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.LANCZOS)


def _half_sharpened(image: Image.Image) -> Image.Image:
    return _half(image).filter(ImageFilter.UnsharpMask(radius=1, percent=300, threshold=2))


def _box_blurred(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.BoxBlur(1))


def _sharpened(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.UnsharpMask(radius=3, percent=350, threshold=3))


def _sharpened_enlarged(image: Image.Image) -> Image.Image:
    sharp = image.filter(ImageFilter.UnsharpMask(radius=2, percent=150, threshold=3))
    return sharp.resize((image.width * 3 // 2, image.height * 3 // 2), Image.Resampling.LANCZOS)


# Full-size QR codes only: in zxing-cpp, ``QRCode`` also means Micro QR and rMQR, and the
# sharpening passes would now and then find a tiny Micro QR code in a noisy frame's grain (the
# desk would then say "not a city ID" with the proof in view). No cityid code is ever one.
_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCodeModel2)

# Tried in order until one reads a code, in order of frames read per millisecond, as measured
# by bench/scan.py on camera frames the tests do not use. A clean image never gets past the
# first pass. Halving then sharpening (7 ms on a 1280x720 frame) rescues most of the rest: it
# averages grain away and restores the edges that soft focus and a dim screen wash out. Then a
# light box blur, for grain at full size; a strong unsharp mask, for heavy blur; the half-size
# frame plain and inverted (a light-on-dark code); last, sharpening then enlarging 1.5x, for
# modules only 2-3 pixels wide (25 ms). A frame none of them reads costs about 60 ms.
DECODE_PASSES: tuple[DecodePass, ...] = (
    DecodePass("plain", _unchanged),
    DecodePass("half size, sharpened", _half_sharpened),
    DecodePass("box blur", _box_blurred),
    DecodePass("sharpened", _sharpened),
    DecodePass("half size, also inverted", _half, try_invert=True),
    DecodePass("sharpened, 1.5x larger", _sharpened_enlarged),
)


def first_reading_pass(image: Image.Image, passes: Sequence[DecodePass] = DECODE_PASSES) -> tuple[int, list[str]]:
    """The index of the first of ``passes`` that reads a QR code in ``image``, and its texts;
    ``(len(passes), [])`` when none does."""
    for index, attempt in enumerate(passes):
        texts = attempt.read(image)
        if texts:
            return index, texts
    return len(passes), []


def decode_qr_images(data: bytes) -> list[str]:
    """Every QR code's text in a photo or screenshot (may be empty)."""
    return first_reading_pass(read_image(data))[1]


def decode_qr_image(data: bytes) -> str:
    """The text of the one QR code in an image; raises :class:`QrImageError` if there is none."""
    texts = decode_qr_images(data)
    if not texts:
        raise QrImageError("no_qr_code", "no readable QR code was found in the image")
    return texts[0]

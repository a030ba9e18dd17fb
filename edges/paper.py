"""The paper fallback: one printable page with a QR proof and the facts it proves in plain words.

For residents without a smartphone, and only under policies that accept paper. The page is
an A4 image at 150 dpi (PNG, or PDF through Pillow) laid out for the reader's language, right
to left for Arabic. Text is shaped by Pillow's Raqm layout with the system's Noto fonts; when
a script has no font installed the page says so instead of printing boxes.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from edges.i18n import RIGHT_TO_LEFT, translator
from edges.qrimage import make_qr, to_image
from edges.words import claim_fact

WIDTH, HEIGHT, MARGIN = 1240, 1754, 110  # A4 at 150 dpi
_FONT_LANG = {"ar": "ar", "zh-Hans": "zh-cn"}
# Families that cover the language *and* Latin, best first (Noto Sans Arabic has no Latin letters).
_FONT_FAMILIES = {
    "ar": ("DejaVu Sans", "FreeSans", "Noto Sans Arabic"),
    "zh-Hans": ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "Noto Serif CJK SC"),
    "default": ("Noto Sans", "DejaVu Sans", "Liberation Sans", "FreeSans"),
}


class FontMissingError(Exception):
    """No font on this system can write the page's language."""


@dataclass(frozen=True, slots=True)
class PaperPage:
    language: str
    title: str
    policy_title: str
    facts: tuple[str, ...]
    warning: str
    footer: str
    qr_text: str


@cache
def font_file(language: str) -> tuple[str, int] | None:
    """A regular font that writes ``language`` and Latin too (names, digits), from fontconfig."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    lang = _FONT_LANG.get(language, "en")
    for family in _FONT_FAMILIES.get(language, _FONT_FAMILIES["default"]):
        result = subprocess.run(  # noqa: S603 - a fixed program with fixed arguments
            [fc_match, "-f", "%{family}|%{index}|%{file}", f"{family}:lang={lang}:style=Regular"],
            capture_output=True, text=True, check=False, timeout=10,
        )  # fmt: skip
        found_family, _, rest = result.stdout.partition("|")
        index, _, path = rest.partition("|")
        if family in found_family.split(",") and path:
            return path, int(index or 0)  # the face in a collection (.ttc): SC, not JP
    return None


def _font(language: str, size: int) -> ImageFont.FreeTypeFont:
    found = font_file(language)
    if found is None:
        raise FontMissingError(f"no font for {language}: install fonts-noto-core, fonts-noto-cjk or fonts-dejavu")
    path, index = found
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.RAQM)


def _wrapped(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int, language: str
) -> list[str]:
    """Lines of ``text`` that fit ``width``; CJK breaks anywhere, other scripts at spaces."""
    units = list(text) if language == "zh-Hans" else text.split(" ")
    joiner = "" if language == "zh-Hans" else " "
    lines, current = [], ""
    for unit in units:
        candidate = f"{current}{joiner}{unit}" if current else unit
        if draw.textlength(candidate, font=font, direction=_direction(language)) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = unit
    return [*lines, current] if current else lines


def isolate(text: str) -> str:
    """``text`` kept left to right inside any paragraph (dates and codes in Arabic)."""
    return f"\u2066{text}\u2069"


def _direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def render(page: PaperPage) -> Image.Image:
    """The page as a white A4 image."""
    image = Image.new("L", (WIDTH, HEIGHT), 255)
    draw = ImageDraw.Draw(image)
    rtl = page.language in RIGHT_TO_LEFT
    width = WIDTH - 2 * MARGIN
    y = MARGIN

    def write(text: str, size: int, gap: int = 18) -> None:
        nonlocal y
        font = _font(page.language, size)
        for line in _wrapped(draw, text, font, width, page.language):
            x = WIDTH - MARGIN if rtl else MARGIN
            draw.text(
                (x, y), line, font=font, fill=0, anchor="ra" if rtl else "la", direction=_direction(page.language)
            )
            y += int(size * 1.35)
        y += gap

    write(page.title, 58, 10)
    write(page.policy_title, 40, 30)
    qr = to_image(make_qr(page.qr_text, ec_level="M"), scale=1, border=4)
    side = min(width, 760)
    qr = qr.resize((side, side), Image.Resampling.NEAREST)
    image.paste(qr, ((WIDTH - side) // 2, y))
    y += side + 40
    for fact in page.facts:
        write(f"• {fact}", 40, 6)  # logical order: the bullet leads, on the right in Arabic
    y += 30
    write(page.warning, 30)
    write(page.footer, 26)
    return image


def to_bytes(image: Image.Image, kind: str) -> bytes:
    """PNG or PDF (one page, 150 dpi, so it prints at A4)."""
    out = io.BytesIO()
    if kind == "pdf":
        image.convert("RGB").save(out, format="PDF", resolution=150)
    else:
        image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def compose(
    language: str, policy_title: str, facts: Mapping[str, Any], qr_text: str, *, printed: int, until: int
) -> PaperPage:
    """The page's words, in ``language``, for a paper proof of ``facts`` under the policy titled
    ``policy_title`` (in that language)."""
    _ = translator(language)
    return PaperPage(
        language=language,
        title=_("City ID proof on paper"),
        policy_title=_("For: {title}", title=policy_title),
        facts=tuple(claim_fact(_, name, value) for name, value in facts.items()),
        warning=_("This paper is not tied to a phone: anyone holding it can show it. Keep it safe."),
        footer=_(
            "Printed {printed}. Valid until {until}.",
            printed=isolate(time.strftime("%Y-%m-%d", time.gmtime(printed))),
            until=isolate(time.strftime("%Y-%m-%d", time.gmtime(until))),
        ),
        qr_text=qr_text,
    )

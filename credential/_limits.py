"""Size and depth bounds applied before any input is trusted.

Every parser in the core takes a :class:`Limits`; the defaults fit the largest cityid
credential (an identity credential with every claim disclosed is about 2.5 kB) with room
to spare, and stay small enough that hostile input cannot cost much memory or time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds on untrusted input; exceeding one raises ``too_large`` or ``too_deep``."""

    max_presentation_chars: int = 16_384
    """Compact SD-JWT (+KB) string length."""
    max_qr_text_chars: int = 4_296
    """QR text length: the alphanumeric capacity of the largest QR code (version 40-L)."""
    max_decompressed_bytes: int = 16_384
    """Output of the QR codec's inflate step (no zip bombs)."""
    max_json_bytes: int = 8_192
    """One JSON document: a JWT header or payload, or one disclosure."""
    max_json_depth: int = 16
    """Nesting of one JSON document."""
    max_claims_depth: int = 32
    """Nesting of the claims after disclosures are resolved into their parents."""
    max_disclosures: int = 64
    """Disclosures in one presentation."""


DEFAULT_LIMITS = Limits()

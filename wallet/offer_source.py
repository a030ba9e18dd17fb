"""The clerk's offer from whatever the resident has of it: a photo or screenshot of the QR code
on the clerk's page (PNG, JPEG), a text file holding the ``openid-credential-offer://`` link,
or standard input.

Pure apart from reading the file, which is bounded (``edges.inputs``). A picture without a
QR code is refused as ``no_qr_code``; a QR code or text that is something else (a resident's
proof, a desk's request, any other text) as ``invalid_offer``, before anything is sent.
"""

from __future__ import annotations

from edges.inputs import InputError, read_text_or_qr

OFFER_PREFIX = "openid-credential-offer://"
_NOT_OFFERS = (
    ("CIDR2:", "this is a desk's request, not a credential offer: scan the QR code on the clerk's page"),
    ("CIDR1:", "this is a desk's request, not a credential offer: scan the QR code on the clerk's page"),
    ("CID2:", "this is a proof for a desk, not a credential offer: scan the QR code on the clerk's page"),
    ("CID1:", "this is a proof for a desk, not a credential offer: scan the QR code on the clerk's page"),
)


def offer_text(text: str) -> str:
    """``text`` without surrounding space if it is a credential offer; ``invalid_offer`` if not."""
    text = text.strip()
    if text.startswith(OFFER_PREFIX):
        return text
    for prefix, message in _NOT_OFFERS:
        if text.startswith(prefix):
            raise InputError("invalid_offer", message)
    raise InputError("invalid_offer", f"this is not a credential offer ({OFFER_PREFIX}...)")


def read_offer(source: str) -> str:
    """The offer text in the file ``source`` names (an image of its QR code, or text), or in
    standard input for ``-``."""
    return offer_text(read_text_or_qr(source, what="a credential offer", prefix=OFFER_PREFIX))

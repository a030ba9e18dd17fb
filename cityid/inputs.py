"""Reading a proof from whatever a person hands the CLI: QR text, a compact SD-JWT, a file, an
image of a QR code, or standard input. Everything is bounded and every failure is an
:class:`InputError` with a stable reason, so no input can produce a traceback.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from credential import DEFAULT_LIMITS, KeySet, MalformedError, Reason, decode_qr_text, is_qr_text

from .qrimage import MAX_IMAGE_BYTES, QrImageError, decode_qr_image

MAX_JWKS_BYTES = 1_000_000
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")

Source = Literal["text", "file", "image", "stdin"]


class InputError(Exception):
    """The input could not be read at all (CLI exit code 2)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class ProofInput:
    """A proof as text, and where it came from."""

    compact: str
    """The compact SD-JWT (+KB), decoded from QR text if that is what was given."""
    qr_text: str | None
    source: Source


def _read_bounded(path: Path | None) -> bytes:
    try:
        if path is None:
            data = sys.stdin.buffer.read(MAX_IMAGE_BYTES + 1)
        else:
            with path.open("rb") as file:
                data = file.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise InputError("unreadable_input", f"cannot read {path or 'standard input'}: {exc.strerror}") from exc
    if len(data) > MAX_IMAGE_BYTES:
        raise InputError("too_large", "the input is larger than 20 MB")
    return data


def proof_text(data: bytes) -> tuple[str, bool]:
    """Text from input bytes (a decoded QR code for an image); the flag says it was an image."""
    looks_like_image = data.startswith(_IMAGE_MAGIC)
    if not looks_like_image:
        try:
            return data.decode("utf-8-sig"), False
        except UnicodeDecodeError:
            pass  # perhaps an image format whose magic number we do not list
    try:
        return decode_qr_image(data), True
    except QrImageError as exc:
        if exc.reason == "unreadable_image" and not looks_like_image:
            raise InputError("unreadable_input", "the input is neither text nor an image") from exc
        raise InputError(exc.reason, exc.message) from exc


def classify(text: str, source: Source) -> ProofInput:
    """Decode QR text or accept a compact SD-JWT; raises MalformedError for a broken proof."""
    text = text.lstrip()
    if is_qr_text(text):
        qr_text = text.rstrip("\r\n")  # a trailing space is a base45 digit: keep it
        return ProofInput(decode_qr_text(qr_text, limits=DEFAULT_LIMITS), qr_text, source)
    text = text.rstrip()
    if "~" in text:
        return ProofInput(text, None, source)
    raise MalformedError(Reason.UNSUPPORTED_FORMAT, "this is not cityid QR text (CID1:...) or an SD-JWT")


def load_proof(argument: str) -> ProofInput:
    """Interpret a CLI argument: ``-`` (stdin), QR text, a compact SD-JWT, or a file path."""
    if argument == "-":
        text, from_image = proof_text(_read_bounded(None))
        return classify(text, "image" if from_image else "stdin")
    if is_qr_text(argument.lstrip()) or "~" in argument:
        return classify(argument, "text")
    path = Path(argument)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte
        is_file = False
    if not is_file:
        raise InputError(
            "unreadable_input",
            f"{argument[:60]!r} is not a file, cityid QR text (CID1:...) or a compact SD-JWT",
        )
    text, from_image = proof_text(_read_bounded(path))
    return classify(text, "image" if from_image else "file")


def load_key_set(path: Path) -> KeySet:
    """Trusted issuer keys from a JWKS file or SD-JWT VC issuer metadata."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_JWKS_BYTES + 1)
    except OSError as exc:
        raise InputError("unreadable_input", f"cannot read issuer keys from {path}: {exc.strerror}") from exc
    if len(data) > MAX_JWKS_BYTES:
        raise InputError("too_large", "the issuer key file is larger than 1 MB")
    try:
        document: Any = json.loads(data)
    except (ValueError, RecursionError):
        raise InputError("invalid_key", f"{path} is not JSON") from None
    try:
        return KeySet.from_jwks(document)
    except MalformedError as exc:
        raise InputError("invalid_key", f"{path}: {exc.message}") from exc

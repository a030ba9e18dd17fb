"""Reading a proof from whatever a person hands the CLI: QR text, a compact SD-JWT, a file, an
image of a QR code, or standard input. Everything is bounded and every failure is an
:class:`InputError` with a stable reason, so no input can produce a traceback.
"""

from __future__ import annotations

import codecs
import json
import sys
from pathlib import Path
from typing import Any

from credential import (
    DEFAULT_LIMITS,
    NO_CONTEXT,
    KeySet,
    MalformedError,
    QrContext,
    Reason,
    decode_qr_text,
    is_qr_text,
    type_integrity_strings,
)

MAX_INPUT_BYTES = 20 * 1024 * 1024
"""The most read from a file or standard input: enough for a photo of a QR code, which
``edges.qrimage`` (Pillow and zxing, loaded only when the input is an image) bounds alike."""

_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")


class InputError(Exception):
    """The input could not be read at all (CLI exit code 2)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _read_bounded(path: Path | None) -> bytes:
    try:
        if path is None:
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with path.open("rb") as file:
                data = file.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError("unreadable_input", f"cannot read {path or 'standard input'}: {exc.strerror}") from exc
    if len(data) > MAX_INPUT_BYTES:
        raise InputError("too_large", "the input is larger than 20 MB")
    return data


def proof_text(data: bytes) -> str:
    """Text from input bytes: the bytes as UTF-8, or the QR code in them if they are an image.
    Empty input (an empty file, nothing on stdin) is unreadable, not a proof that fails."""
    if not data.strip():
        raise InputError("unreadable_input", "the input is empty")
    looks_like_image = data.startswith(_IMAGE_MAGIC)
    if not looks_like_image:
        try:  # UTF-8 without a byte order mark, if there is one: "utf-8-sig", without loading its codec
            return (data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data).decode("utf-8")
        except UnicodeDecodeError:
            pass  # perhaps an image format whose magic number we do not list
    from .qrimage import QrImageError, decode_qr_image  # noqa: PLC0415 - only an image needs Pillow and zxing

    try:
        return decode_qr_image(data)
    except QrImageError as exc:
        if exc.reason == "unreadable_image" and not looks_like_image:
            raise InputError("unreadable_input", "the input is neither text nor an image") from exc
        raise InputError(exc.reason, exc.message) from exc


def compact_from_text(text: str, context: QrContext = NO_CONTEXT) -> str:
    """The compact SD-JWT in ``text``, decoding QR text (a ``CID2:`` proof with what ``context``
    puts back); raises MalformedError for a broken proof."""
    text = text.lstrip()
    if is_qr_text(text):
        return decode_qr_text(text.rstrip("\r\n"), limits=DEFAULT_LIMITS, context=context)  # a trailing space is base45
    text = text.rstrip()
    if "~" in text:
        return text
    raise MalformedError(Reason.UNSUPPORTED_FORMAT, "this is not cityid QR text (CID1:...) or an SD-JWT")


def load_proof(argument: str, context: QrContext = NO_CONTEXT) -> str:
    """The compact SD-JWT a CLI argument names: ``-`` (stdin), QR text, a compact SD-JWT, or a
    file holding text or an image of the QR code; ``context`` is what the desk puts back into a
    ``CID2:`` proof (its request, its trust)."""
    if argument == "-":
        return compact_from_text(proof_text(_read_bounded(None)), context)
    if is_qr_text(argument.lstrip()) or "~" in argument:
        return compact_from_text(argument, context)
    path = _existing_file(argument, "cityid QR text (CID1:...) or a compact SD-JWT")
    return compact_from_text(proof_text(_read_bounded(path)), context)


def _existing_file(argument: str, otherwise: str) -> Path:
    """``argument`` as the path of an existing file, or ``unreadable_input`` saying what else it could be."""
    path = Path(argument)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte
        is_file = False
    if not is_file:
        raise InputError("unreadable_input", f"{argument[:60]!r} is not a file, {otherwise}")
    return path


def read_text_or_qr(argument: str, *, what: str, prefix: str | tuple[str, ...]) -> str:
    """The text a CLI argument names: itself when it starts with ``prefix`` (or one of them),
    ``-`` for stdin, or a file holding the text or an image of its QR code."""
    if argument == "-":
        return proof_text(_read_bounded(None))
    if argument.lstrip().startswith(prefix):
        return argument
    first = prefix if isinstance(prefix, str) else prefix[0]
    return proof_text(_read_bounded(_existing_file(argument, f"or {what} text ({first}...)")))


MAX_DOCUMENT_BYTES = 1024 * 1024


def _read_document(path: Path, what: str) -> bytes:
    """A file of at most 1 MB (keys, registries, bundles), or an ``InputError`` naming it."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise InputError("unreadable_input", f"cannot read {what} from {path}: {exc.strerror}") from exc
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InputError("too_large", f"{what} is larger than 1 MB")
    return data


def read_bounded_text(path: Path, *, what: str) -> str:
    """A text document (a signed registry or bundle) of at most 1 MB, as ASCII-safe text."""
    return _read_document(path, what).decode("utf-8", errors="replace").strip()


def load_json(path: Path, *, what: str) -> Any:
    """A JSON document of at most 1 MB."""
    try:
        return json.loads(read_bounded_text(path, what=what))
    except (ValueError, RecursionError):
        raise InputError("unreadable_input", f"{what} in {path} is not JSON") from None


def load_issuer(path: Path) -> tuple[KeySet, frozenset[str]]:
    """Trusted issuer keys from a JWKS file or SD-JWT VC issuer metadata, and the metadata's
    ``type_integrity`` values (none in a bare JWKS), which ``cityid verify`` puts back into a
    ``CID2:`` proof: one read of the file for both."""
    document = _issuer_document(path)
    try:
        named = document.get("type_integrity") if isinstance(document, dict) else None
        return KeySet.from_jwks(document), type_integrity_strings(named)
    except MalformedError as exc:
        raise InputError("invalid_key", f"{path}: {exc.message}") from exc


def load_key_set(path: Path) -> KeySet:
    """Trusted keys (the issuer's, the policy board's) from a JWKS file or SD-JWT VC issuer metadata."""
    document = _issuer_document(path)
    try:
        return KeySet.from_jwks(document)
    except MalformedError as exc:
        raise InputError("invalid_key", f"{path}: {exc.message}") from exc


def _issuer_document(path: Path) -> Any:
    try:
        return json.loads(_read_document(path, "the issuer keys"))
    except (ValueError, RecursionError):
        raise InputError("invalid_key", f"{path} is not JSON") from None

"""Published SD-JWT VC presentations (IETF draft examples) verify exactly, directly and via our QR codec.

Each vector directory has an ORIGIN.md naming the document, section and commit it came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credential import (
    CredentialError,
    KeySet,
    Reason,
    VerifyingKey,
    VerifyOptions,
    decode_qr_text,
    encode_qr_text,
    verify_presentation,
)

VECTORS = sorted(path for path in (Path(__file__).parent / "vectors").glob("sdjwtvc-*") if path.is_dir())


def _load(folder: Path) -> tuple[str, KeySet, dict[str, object]]:
    presentation = (folder / "presentation.txt").read_text().strip()
    keys = KeySet([VerifyingKey.from_jwk(json.loads((folder / "issuer-jwk.json").read_text()))])
    return presentation, keys, json.loads((folder / "expected.json").read_text())


def test_there_are_published_vectors() -> None:
    assert len(VECTORS) >= 1
    assert all((folder / "ORIGIN.md").is_file() for folder in VECTORS)


@pytest.mark.parametrize("folder", VECTORS, ids=lambda folder: folder.name)
def test_published_presentation_verifies(folder: Path) -> None:
    presentation, keys, expected = _load(folder)
    for text in (presentation, decode_qr_text(encode_qr_text(presentation))):
        verified = verify_presentation(
            text,
            issuer_keys=keys,
            audience=str(expected["audience"]),
            nonce=str(expected["nonce"]),
            now=int(expected["now"]),  # type: ignore[call-overload]
            options=VerifyOptions(typ=str(expected["typ"])),
        )
        assert verified.claims == expected["claims"]
        assert verified.key_bound


@pytest.mark.parametrize("folder", VECTORS, ids=lambda folder: folder.name)
def test_published_presentation_is_refused_for_another_request(folder: Path) -> None:
    presentation, keys, expected = _load(folder)
    with pytest.raises(CredentialError) as caught:
        verify_presentation(
            presentation,
            issuer_keys=keys,
            audience=str(expected["audience"]),
            nonce="another nonce",
            now=int(expected["now"]),  # type: ignore[call-overload]
            options=VerifyOptions(typ=str(expected["typ"])),
        )
    assert caught.value.reason is Reason.NONCE_MISMATCH

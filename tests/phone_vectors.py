"""Golden vectors for the phone wallet's JS core, written by the Python core.

Run ``.venv/bin/python tests/phone_vectors.py`` from the repository root: it rewrites
``wallet/app/src/core/dictionary.js`` (the CID1 preset dictionary, which must equal Python's)
and ``wallet/app/test/vectors/cid1.json``. Keys come from fixed scalars and ECDSA signing is
deterministic (RFC 6979), so the output is the same on every run.
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import ISS, NOW, RESIDENCY_CLAIMS, STATUS, counter_bytes

from credential import (
    IDENTITY,
    RESIDENCY,
    CredentialError,
    SigningKey,
    decode_qr_text,
    decode_request_text,
    encode_qr_text,
    encode_request_text,
    issue_credential,
    new_request,
    offline_audience,
    present,
    present_on_paper,
)
from credential._base45 import b45encode
from credential._qrtext import DICTIONARY_V1

ROOT = Path(__file__).resolve().parent.parent
DICTIONARY_JS = ROOT / "wallet" / "app" / "src" / "core" / "dictionary.js"
VECTORS = ROOT / "wallet" / "app" / "test" / "vectors"
IDENTITY_CLAIMS = {
    "given_name": "Ana",
    "family_name": "Okafor",
    "birthdate": "1990-05-17",
    "address": {"street_address": "12 Elm Street", "locality": "Riverton", "region": "NY",
                "postal_code": "10001", "country": "US"},
    "resident_of": "Riverton",
}  # fmt: skip


def fixed_key(scalar: int, kid: str | None = None) -> SigningKey:
    """A P-256 key from a fixed scalar: test material only."""
    return SigningKey("ES256", ec.derive_private_key(scalar, ec.SECP256R1()), kid)


def dictionary_js() -> str:
    """The text of dictionary.js: DICTIONARY_V1 as a byte list (FROZEN, like Python's)."""
    numbers = ",".join(str(byte) for byte in DICTIONARY_V1)
    return (
        "/** The CID1 preset dictionary, generated from credential._qrtext.DICTIONARY_V1 by\n"
        " * tests/phone_vectors.py: do not edit. FROZEN: a change needs a new prefix. */\n"
        f"export const DICTIONARY_V1 = new Uint8Array([{numbers}]);\n"
    )


def _reason(text: str) -> str:
    try:
        decode_qr_text(text)
    except CredentialError as exc:
        return exc.reason.value
    raise AssertionError(f"{text[:40]!r} decodes")


def cid1_vectors() -> dict[str, Any]:
    """Issued credentials and presentations with their CID1 text, and malformed CID1 texts."""
    issuer, holder = fixed_key(0x1D15_5BE4, "k1"), fixed_key(0x40_1DE4)
    residency = issue_credential(
        RESIDENCY,
        RESIDENCY_CLAIMS,
        issuer_key=issuer,
        iss=ISS,
        holder_jwk=holder.public_jwk(),
        now=NOW,
        status=STATUS,
        random_bytes=counter_bytes(),
    )
    identity = issue_credential(
        IDENTITY,
        IDENTITY_CLAIMS,
        issuer_key=issuer,
        iss=ISS,
        holder_jwk=holder.public_jwk(),
        now=NOW,
        status=STATUS,
        random_bytes=counter_bytes(),
    )

    def shown(issued: str, claims: list[str], audience: str) -> str:
        return present(
            issued, disclose=claims, holder_key=holder, audience=audience, nonce="n0nce-for-the-desk", now=NOW
        )

    compacts = {
        "issued-residency": residency,
        "issued-identity": identity,
        "residency-desk": shown(residency, ["resident_of", "age_over_18"], "desk:library"),
        "residency-one-claim": shown(residency, ["resident_of"], "desk:recreation-centre"),
        "identity-name": shown(identity, ["given_name", "family_name", "birthdate"], "desk:clinic"),
        "identity-address": shown(identity, ["address"], "desk:clinic"),
        "residency-offline": shown(residency, ["age_over_65"], offline_audience("senior-discount")),
        "residency-paper": present_on_paper(residency, disclose=["resident_of"]),
    }  # fmt: skip
    good = encode_qr_text(compacts["residency-desk"])
    bomb = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zdict=DICTIONARY_V1)
    malformed = [
        "CID2:ABC", "HELLO", "CID1:ab", "CID1:A", "CID1:" + "0" * 5000, good[:-6], good + "00",
        "CID1:" + b45encode(bomb.compress(b"\x00" * 40_000) + bomb.flush()),
        "CID1:" + b45encode(zlib.compress(b"\x3f")),
    ]  # fmt: skip
    return {
        "proofs": [{"name": name, "compact": compact, "qr_text": encode_qr_text(compact)}
                   for name, compact in compacts.items()],
        "malformed": [{"qr_text": text, "reason": _reason(text)} for text in malformed],
    }  # fmt: skip


def _request_reason(text: str) -> str:
    try:
        decode_request_text(text)
    except CredentialError as exc:
        return exc.reason.value
    raise AssertionError(f"{text!r} decodes")


def request_vectors() -> dict[str, Any]:
    """Desk requests with their CIDR1 text, and malformed CIDR1 texts with Python's reason."""
    requests = [
        new_request(policy="library-card", claims=("resident_of",), audience="desk:library", now=NOW,
                    lifetime=300, random_bytes=bytes(range(16))),
        new_request(policy="clinic-registration", claims=("given_name", "family_name", "birthdate"),
                    audience="desk:clinic-ü", now=NOW, lifetime=600, random_bytes=bytes(range(32))),
        new_request(policy="youth-programme", claims=("age_over_18", "pet_name"), audience="desk:y",
                    now=NOW, lifetime=60, random_bytes=b"\xff" * 20),
    ]  # fmt: skip
    texts = [encode_request_text(request) for request in requests]
    malformed = ["CID1:ABC", "CIDR1:" + "0" * 200, "CIDR1:ab", "CIDR1:A", "CIDR1:" + b45encode(b"\0\0\0\1"),
                 "CIDR1:" + b45encode(b"\0\0\0\1\x03abc"), texts[0] + "00", texts[0][:-3]]  # fmt: skip
    return {
        "requests": [{"policy": r.policy, "claims": list(r.claims), "nonce": r.nonce, "audience": r.audience,
                      "expiresAt": r.expires_at, "text": text} for r, text in zip(requests, texts, strict=True)],
        "malformed": [{"text": text, "reason": _request_reason(text)} for text in malformed],
    }  # fmt: skip


def main() -> None:
    DICTIONARY_JS.write_text(dictionary_js(), encoding="utf-8")
    VECTORS.mkdir(parents=True, exist_ok=True)
    (VECTORS / "requests.json").write_text(json.dumps(request_vectors(), indent=1) + "\n", encoding="utf-8")
    (VECTORS / "cid1.json").write_text(json.dumps(cid1_vectors(), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

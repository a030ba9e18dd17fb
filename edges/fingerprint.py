"""The trust-anchor fingerprint: one short code that names the city's keys.

City IT prints it once (``cityid issuer fingerprint``) and gives it to each desk; the desk types
it at its first ``cityid verifier sync URL --fingerprint F``, which then trusts the keys it
downloads only when they hash to that code. So no key file is ever copied by hand, and a
network that swaps the keys on the way is caught. Recipe (docs/operations.md):

1. the RFC 7638 SHA-256 thumbprint (base64url) of every key in the issuer's published JWKS and
   in the policy board's JWKS;
2. those thumbprints sorted, one per line (``\\n`` after each), as ASCII;
3. SHA-256 of that text; its first 15 bytes (120 bits) in RFC 4648 base32 (24 letters and
   digits 2-7), in six groups of four joined by ``-``.

Pure: keys in, text out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from credential import KeySet, jwk_thumbprint

FINGERPRINT_BYTES = 15
GROUP = 4
_LOOK_ALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})
"""Digits a person may type for the base32 letters they resemble (base32 has no 0, 1 or 8)."""


class FingerprintError(ValueError):
    """Text that cannot be a fingerprint (wrong length or characters)."""

    reason = "invalid_fingerprint"


def trust_fingerprint(issuer_jwks: Mapping[str, Any], board_jwks: Mapping[str, Any]) -> str:
    """The fingerprint of the issuer's keys together with the board's; raises
    :class:`~credential.CredentialError` (``invalid_key``) for a key set that is not usable."""
    key_sets = [_plain(jwks) for jwks in (issuer_jwks, board_jwks)]
    for jwks in key_sets:
        KeySet.from_jwks(jwks)  # the same keys a desk would accept, or a refusal
    thumbprints = sorted(jwk_thumbprint(jwk) for jwks in key_sets for jwk in jwks["keys"])
    digest = hashlib.sha256("".join(f"{thumbprint}\n" for thumbprint in thumbprints).encode("ascii")).digest()
    letters = base64.b32encode(digest[:FINGERPRINT_BYTES]).decode("ascii")
    return "-".join(letters[start : start + GROUP] for start in range(0, len(letters), GROUP))


def _plain(jwks: Mapping[str, Any]) -> Mapping[str, Any]:
    """The JWKS itself, also when given as SD-JWT VC issuer metadata (``{"issuer", "jwks"}``)."""
    inner = jwks.get("jwks")
    return inner if isinstance(inner, Mapping) and isinstance(jwks.get("issuer"), str) else jwks


def normalise_fingerprint(typed: str) -> str:
    """A fingerprint as a person may type it (any case, spaces or dashes anywhere, 0/1/8 for
    O/I/B), in its printed form."""
    letters = "".join(typed.split()).replace("-", "").upper().translate(_LOOK_ALIKES)
    length = len(base64.b32encode(bytes(FINGERPRINT_BYTES)))
    if len(letters) != length or not all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in letters):
        raise FingerprintError(f"a fingerprint is {length} letters and digits 2 to 7, in groups of four, like the "
                               "one city IT printed")  # fmt: skip
    return "-".join(letters[start : start + GROUP] for start in range(0, len(letters), GROUP))


def shortened(fingerprint: str) -> str:
    """The first and last groups, enough to tell two fingerprints apart in a message."""
    groups = fingerprint.split("-")
    return f"{groups[0]}-…-{groups[-1]}" if len(groups) > 2 else fingerprint

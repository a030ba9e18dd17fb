"""cityid's credential format: pure functions over strings, bytes and small typed objects.

Recipes:

* **issue** - :func:`issue_credential` (a cityid type) or :func:`issue_sd_jwt` (any claims)
* **present** - :func:`parse_issued`, then :func:`present` with the claims to disclose
* **verify** - :func:`verify_presentation` against a :class:`KeySet`
* **carry in a QR code** - :func:`encode_qr_text` / :func:`decode_qr_text`

Nothing here reads files, the network, the clock, or the environment: time (``now``) and
randomness (``random_bytes``) are arguments, so every result is reproducible in tests.
Errors are :class:`CredentialError` subclasses carrying a stable :class:`Reason`.
"""

from ._errors import (
    ClaimsError,
    CredentialError,
    DisclosureError,
    KeyBindingError,
    MalformedError,
    Reason,
    SignatureError,
    UsageError,
)
from ._issue import VC_TYP, StatusReference, day_start, issue_credential, issue_sd_jwt
from ._keys import SUPPORTED_ALGORITHMS, Algorithm, InvalidKeyError, KeySet, SigningKey, VerifyingKey, jwk_thumbprint
from ._limits import DEFAULT_LIMITS, Limits
from ._present import KB_TYP, HeldCredential, parse_issued, present
from ._qrtext import QR_PREFIX, decode_qr_text, encode_qr_text, is_qr_text
from ._sdjwt import ClaimPath
from ._types import (
    ADDRESS_FIELDS,
    CREDENTIAL_TYPES,
    IDENTITY,
    RESIDENCY,
    ClaimKind,
    CredentialType,
    is_age_over,
    residency_claims,
)
from ._verify import DEFAULT_OPTIONS, VerifiedPresentation, VerifyOptions, verify_presentation

__all__ = [
    "ADDRESS_FIELDS",
    "CREDENTIAL_TYPES",
    "DEFAULT_LIMITS",
    "DEFAULT_OPTIONS",
    "IDENTITY",
    "KB_TYP",
    "QR_PREFIX",
    "RESIDENCY",
    "SUPPORTED_ALGORITHMS",
    "VC_TYP",
    "Algorithm",
    "ClaimKind",
    "ClaimPath",
    "ClaimsError",
    "CredentialError",
    "CredentialType",
    "DisclosureError",
    "HeldCredential",
    "InvalidKeyError",
    "KeyBindingError",
    "KeySet",
    "Limits",
    "MalformedError",
    "Reason",
    "SignatureError",
    "SigningKey",
    "StatusReference",
    "UsageError",
    "VerifiedPresentation",
    "VerifyOptions",
    "VerifyingKey",
    "day_start",
    "decode_qr_text",
    "encode_qr_text",
    "is_age_over",
    "is_qr_text",
    "issue_credential",
    "issue_sd_jwt",
    "jwk_thumbprint",
    "parse_issued",
    "present",
    "residency_claims",
    "verify_presentation",
]

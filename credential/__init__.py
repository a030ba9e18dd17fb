"""cityid's credential format: pure functions over strings, bytes and small typed objects.

Recipes:

* **issue** - :func:`issue_credential` (a cityid type) or :func:`issue_sd_jwt` (any claims)
* **present** - :func:`parse_issued`, then :func:`present` with the claims to disclose
* **verify** - :func:`verify_presentation` against a :class:`KeySet`
* **paper** - :func:`present_on_paper`: chosen disclosures, no key binding
* **carry in a QR code** - :func:`encode_qr_text` / :func:`decode_qr_text`; a desk verifies
  straight from :func:`parse_qr_text`, which hands the codec's decoded bytes on
* **ask for a proof** - :func:`new_request`, then :func:`encode_request_text` /
  :func:`decode_request_text` for the desk's request QR code

Nothing here reads files, the network, the clock, or the environment: time (``now``) and
randomness (``random_bytes``) are arguments, so every result is reproducible in tests.
Errors are :class:`CredentialError` subclasses carrying a stable :class:`Reason`.

The package loads lazily (PEP 562): ``import credential`` runs none of the submodules, and the
first use of a name imports only the submodule that defines it. A desk's ``cityid verify`` then
loads verification and the QR codec, not issuance's status lists or desk requests; the names,
``__all__`` and ``from credential import X`` are the same as when everything was imported up
front. ``dir(credential)`` lists every public name; ``vars(credential)`` holds those used so far.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from ._errors import (
        ClaimsError,
        CredentialError,
        DisclosureError,
        KeyBindingError,
        MalformedError,
        PolicyError,
        Reason,
        SignatureError,
        StatusError,
        UsageError,
    )
    from ._issue import TypeReference, day_start, issue_credential, issue_sd_jwt
    from ._jws import sign_jwt, time_window_problem, verify_jwt, verify_jwt_with_header_key
    from ._keys import (
        SUPPORTED_ALGORITHMS,
        Algorithm,
        InvalidKeyError,
        KeySet,
        SigningKey,
        VerifyingKey,
        jwk_thumbprint,
    )
    from ._limits import DEFAULT_LIMITS, Limits
    from ._present import HeldCredential, parse_issued, present, present_on_paper
    from ._qrparse import parse_qr_text
    from ._qrtext import QR_PREFIX, is_qr_text
    from ._qrtext2 import (
        NO_CONTEXT,
        QR_PREFIX_V2,
        QrContext,
        decode_qr_text,
        encode_qr_text,
        qr_context,
        type_integrity_strings,
    )
    from ._request import (
        CLAIM_CODES_V1,
        NEWEST_PROOF_CODEC,
        OFFLINE_AUDIENCE_PREFIX,
        REQUEST_MAX_CHARS,
        REQUEST_PREFIX,
        REQUEST_PREFIX_V2,
        REQUEST_PREFIXES,
        DeskRequest,
        decode_request_text,
        encode_request_text,
        is_request_text,
        new_request,
        offline_audience,
    )
    from ._sdjwt import KB_TYP, VC_TYP, ClaimPath, Presentation, StatusReference, parse_presentation
    from ._status import (
        STATUS_LIST_TYP,
        StatusList,
        StatusListToken,
        check_status,
        parse_status_list,
        set_status,
        sign_status_list,
        status_list_subject,
        verify_status_list_token,
    )
    from ._types import (
        ADDRESS_FIELDS,
        CREDENTIAL_TYPES,
        IDENTITY,
        RESIDENCY,
        ClaimKind,
        CredentialType,
        credential_type_of,
        is_age_over,
        residency_claims,
    )
    from ._verify import DEFAULT_OPTIONS, VerifiedPresentation, VerifyOptions, verify_presentation

__all__ = [
    "ADDRESS_FIELDS",
    "CLAIM_CODES_V1",
    "CREDENTIAL_TYPES",
    "DEFAULT_LIMITS",
    "DEFAULT_OPTIONS",
    "IDENTITY",
    "KB_TYP",
    "NEWEST_PROOF_CODEC",
    "NO_CONTEXT",
    "OFFLINE_AUDIENCE_PREFIX",
    "QR_PREFIX",
    "QR_PREFIX_V2",
    "REQUEST_MAX_CHARS",
    "REQUEST_PREFIX",
    "REQUEST_PREFIXES",
    "REQUEST_PREFIX_V2",
    "RESIDENCY",
    "STATUS_LIST_TYP",
    "SUPPORTED_ALGORITHMS",
    "VC_TYP",
    "Algorithm",
    "ClaimKind",
    "ClaimPath",
    "ClaimsError",
    "CredentialError",
    "CredentialType",
    "DeskRequest",
    "DisclosureError",
    "HeldCredential",
    "InvalidKeyError",
    "KeyBindingError",
    "KeySet",
    "Limits",
    "MalformedError",
    "PolicyError",
    "Presentation",
    "QrContext",
    "Reason",
    "SignatureError",
    "SigningKey",
    "StatusError",
    "StatusList",
    "StatusListToken",
    "StatusReference",
    "TypeReference",
    "UsageError",
    "VerifiedPresentation",
    "VerifyOptions",
    "VerifyingKey",
    "check_status",
    "credential_type_of",
    "day_start",
    "decode_qr_text",
    "decode_request_text",
    "encode_qr_text",
    "encode_request_text",
    "is_age_over",
    "is_qr_text",
    "is_request_text",
    "issue_credential",
    "issue_sd_jwt",
    "jwk_thumbprint",
    "new_request",
    "offline_audience",
    "parse_issued",
    "parse_presentation",
    "parse_qr_text",
    "parse_status_list",
    "present",
    "present_on_paper",
    "qr_context",
    "residency_claims",
    "set_status",
    "sign_jwt",
    "sign_status_list",
    "status_list_subject",
    "time_window_problem",
    "type_integrity_strings",
    "verify_jwt",
    "verify_jwt_with_header_key",
    "verify_presentation",
    "verify_status_list_token",
]

_DEFINED_IN: dict[str, tuple[str, ...]] = {
    "_errors": (
        "ClaimsError",
        "CredentialError",
        "DisclosureError",
        "KeyBindingError",
        "MalformedError",
        "PolicyError",
        "Reason",
        "SignatureError",
        "StatusError",
        "UsageError",
    ),
    "_issue": ("TypeReference", "day_start", "issue_credential", "issue_sd_jwt"),
    "_jws": ("sign_jwt", "time_window_problem", "verify_jwt", "verify_jwt_with_header_key"),
    "_keys": (
        "SUPPORTED_ALGORITHMS",
        "Algorithm",
        "InvalidKeyError",
        "KeySet",
        "SigningKey",
        "VerifyingKey",
        "jwk_thumbprint",
    ),
    "_limits": ("DEFAULT_LIMITS", "Limits"),
    "_present": ("HeldCredential", "parse_issued", "present", "present_on_paper"),
    "_qrparse": ("parse_qr_text",),
    "_qrtext": ("QR_PREFIX", "is_qr_text"),
    "_qrtext2": (
        "NO_CONTEXT",
        "QR_PREFIX_V2",
        "QrContext",
        "decode_qr_text",
        "encode_qr_text",
        "qr_context",
        "type_integrity_strings",
    ),
    "_request": (
        "CLAIM_CODES_V1",
        "NEWEST_PROOF_CODEC",
        "OFFLINE_AUDIENCE_PREFIX",
        "REQUEST_MAX_CHARS",
        "REQUEST_PREFIX",
        "REQUEST_PREFIX_V2",
        "REQUEST_PREFIXES",
        "DeskRequest",
        "decode_request_text",
        "encode_request_text",
        "is_request_text",
        "new_request",
        "offline_audience",
    ),
    "_sdjwt": ("KB_TYP", "VC_TYP", "ClaimPath", "Presentation", "StatusReference", "parse_presentation"),
    "_status": (
        "STATUS_LIST_TYP",
        "StatusList",
        "StatusListToken",
        "check_status",
        "parse_status_list",
        "set_status",
        "sign_status_list",
        "status_list_subject",
        "verify_status_list_token",
    ),
    "_types": (
        "ADDRESS_FIELDS",
        "CREDENTIAL_TYPES",
        "IDENTITY",
        "RESIDENCY",
        "ClaimKind",
        "CredentialType",
        "credential_type_of",
        "is_age_over",
        "residency_claims",
    ),
    "_verify": ("DEFAULT_OPTIONS", "VerifiedPresentation", "VerifyOptions", "verify_presentation"),
}
"""Each public name under the private submodule that defines it (tests check that this, the
imports above and ``__all__`` list the same names)."""
_HOME = {name: module for module, names in _DEFINED_IN.items() for name in names}


def __getattr__(name: str) -> typing.Any:
    """A public name, imported from its submodule on first use and then kept in the package."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

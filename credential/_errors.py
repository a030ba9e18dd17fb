"""Typed errors with stable reason codes.

Every failure in the credential core raises one of these. Callers (and tests) branch on
``error.reason``, a member of :class:`Reason` whose string value never changes; the
message is for humans and may be reworded at any time.

    CredentialError                      base: .reason, .message
    ├── MalformedError                   not readable as a cityid / SD-JWT object
    ├── SignatureError                   issuer header, key or signature refused
    ├── ClaimsError                      registered claims missing, wrong or out of date
    ├── DisclosureError                  a disclosure does not fit the signed digests
    ├── KeyBindingError                  the holder's proof of possession is missing or wrong
    ├── StatusError                      revoked or suspended, or no fresh status list to tell
    ├── PolicyError                      a desk request, policy or policy registry refused
    └── UsageError                       the caller asked for something impossible
                                         (bad claims to issue, unknown claim to disclose)
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Stable reason codes. Values are part of the public contract: never rename one."""

    # MalformedError
    MALFORMED = "malformed"
    BAD_ENCODING = "bad_encoding"
    BAD_JSON = "bad_json"
    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNSUPPORTED_DIGEST_ALGORITHM = "unsupported_digest_algorithm"
    INVALID_KEY = "invalid_key"
    # SignatureError
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    WRONG_TYPE = "wrong_type"
    UNSUPPORTED_CRITICAL_HEADER = "unsupported_critical_header"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    # ClaimsError
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIM = "invalid_claim"
    ISSUER_MISMATCH = "issuer_mismatch"
    UNSUPPORTED_CREDENTIAL_TYPE = "unsupported_credential_type"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    # DisclosureError
    MALFORMED_DISCLOSURE = "malformed_disclosure"
    DIGEST_MISMATCH = "digest_mismatch"
    DUPLICATE_DISCLOSURE = "duplicate_disclosure"
    DUPLICATE_DIGEST = "duplicate_digest"
    RESERVED_CLAIM_NAME = "reserved_claim_name"
    CLAIM_CONFLICT = "claim_conflict"
    # KeyBindingError
    KB_MISSING = "kb_missing"
    NO_HOLDER_KEY = "no_holder_key"
    HOLDER_KEY_INVALID = "holder_key_invalid"
    KB_BAD_SIGNATURE = "kb_bad_signature"
    SD_HASH_MISMATCH = "sd_hash_mismatch"
    NONCE_MISMATCH = "nonce_mismatch"
    AUDIENCE_MISMATCH = "audience_mismatch"
    KB_NOT_FRESH = "kb_not_fresh"
    REPLAYED = "replayed"
    INVALID_STATUS_LIST = "invalid_status_list"
    # StatusError
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    STATUS_STALE = "status_stale"
    STATUS_UNAVAILABLE = "status_unavailable"
    # PolicyError
    REQUEST_EXPIRED = "request_expired"
    UNKNOWN_POLICY = "unknown_policy"
    POLICY_EXPIRED = "policy_expired"
    CLAIMS_EXCEED_POLICY = "claims_exceed_policy"
    INVALID_REGISTRY = "invalid_registry"
    REGISTRY_EXPIRED = "registry_expired"
    REGISTRY_ROLLBACK = "registry_rollback"
    PAPER_NOT_ACCEPTED = "paper_not_accepted"
    # UsageError
    INVALID_CLAIMS = "invalid_claims"
    UNKNOWN_CLAIM = "unknown_claim"
    INVALID_REQUEST = "invalid_request"
    # The desk (verifier/): trust sync and the replay guard
    STATUS_ROLLBACK = "status_rollback"
    MADE_BEFORE_START = "made_before_start"
    REPLAY_MEMORY_FULL = "replay_memory_full"


class CredentialError(Exception):
    """Base of every error the credential core raises on purpose."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{message} [{reason.value}]")
        self.reason = reason
        self.message = message


class MalformedError(CredentialError):
    """The input is not a well-formed, bounded cityid or SD-JWT object."""


class SignatureError(CredentialError):
    """The issuer JWT's header, key or signature is not acceptable."""


class ClaimsError(CredentialError):
    """A registered claim (iss, vct, iat, exp, nbf, cnf) is missing, malformed or out of date."""


class DisclosureError(CredentialError):
    """A disclosure is malformed, unreferenced, duplicated or collides with another claim."""


class KeyBindingError(CredentialError):
    """The key-binding JWT is missing or does not prove a fresh, bound presentation."""


class StatusError(CredentialError):
    """The credential is revoked or suspended, or its status cannot be known from fresh data."""


class PolicyError(CredentialError):
    """A desk request does not fit a valid, signed policy: unknown, expired, or asking too much."""


class UsageError(CredentialError):
    """The caller asked the core for something it cannot do (invalid claims, unknown claim)."""

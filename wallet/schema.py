"""What a wallet document may hold, checked field by field: one check for the store and for backups.

A sealed file shows only that someone who knew its passphrase wrote it, not that a cityid wallet
did: a backup may come from anywhere. So a document is checked before a single field of it is
used, and again before the store is written (so the wallet never saves what it would refuse to
open): only known fields, of the right JSON type and length; bounded counts; each credential an
issued SD-JWT of a known type with that type's claims, bound (``cnf``) to its own device key;
each device key a valid EC P-256 private JWK, no two credentials sharing one.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from credential import CREDENTIAL_TYPES, DEFAULT_LIMITS, CredentialError, KeySet, SigningKey, parse_issued
from edges.keyfile import signing_key_from_jwk

FORMAT_VERSION = 1
MAX_CREDENTIALS = 4096
MAX_HISTORY = 10_000
MAX_COUNT = 2**63 - 1
"""Save counters and registry versions."""
MAX_TIME = 253_402_300_799  # 9999-12-31 23:59:59 UTC: a later moment cannot be printed
MAX_TEXT = 256
MAX_CLAIMS = 64
MAX_REGISTRY_CHARS = 1024 * 1024

_TOP = frozenset({"version", "credentials", "history", "trust"})
_CREDENTIAL = frozenset({"type", "credential", "device_key", "used"})
_CREDENTIAL_OPTIONAL = frozenset({"issuer", "received_at"})
_DEVICE_KEY = frozenset({"kty", "crv", "x", "y", "d"})
_DEVICE_KEY_OPTIONAL = frozenset({"alg", "kid"})
_HISTORY = frozenset({"at", "policy", "audience", "claims", "credential_type"})
_TRUST_SHAPES: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"version"}),
    frozenset({"board_jwks", "registry", "version"}),
    frozenset({"board_jwks", "registry", "version", "checked_at"}),
)
"""No trust yet; only the registry version high-water mark (a new wallet beside a counter file);
or the pinned board key with the newest registry and its version (and, once fetched from the
issuer, when the wallet last asked it for a newer one)."""


class DocumentError(ValueError):
    """A document that is not a wallet as this version writes it; the message says where."""


def check_document(document: object) -> None:
    """Raise :class:`DocumentError` unless ``document`` is a wallet document this version writes.

    ``counter`` may be absent: a wallet written before the rollback counter existed.
    """
    top = _object(document, "the wallet", _TOP, frozenset({"counter", "pending"}))
    if type(top["version"]) is not int or top["version"] != FORMAT_VERSION:
        raise DocumentError(f"the wallet's format version is not {FORMAT_VERSION}")
    if "counter" in top:
        _integer(top["counter"], "counter", MAX_COUNT)
    device_keys: set[tuple[str, str]] = set()
    for index, entry in enumerate(_list(top["credentials"], "credentials", MAX_CREDENTIALS)):
        key = _credential(entry, f"credentials[{index}]")
        if key in device_keys:
            raise DocumentError(f"credentials[{index}] shares its device key with another credential")
        device_keys.add(key)
    for index, entry in enumerate(_list(top["history"], "history", MAX_HISTORY)):
        _history(entry, f"history[{index}]")
    _trust(top["trust"])
    for index, entry in enumerate(_list(top.get("pending", []), "pending", MAX_PENDING)):
        _pending(entry, f"pending[{index}]")


MAX_PENDING = 8
"""Unfinished receives a wallet keeps (each is one clerk's offer, for the issuer's resume window)."""
MAX_OFFER_CHARS = 4096
_PENDING = frozenset({"offer", "count", "started_at"})
_PENDING_OPTIONAL = frozenset({"access_token", "expires_at", "device_keys", "done"})


def _pending(entry: object, where: str) -> None:
    """An unfinished receive (``wallet/receive.py``'s ``Progress``): the offer, the access token
    once the issuer gave it, device keys whose proofs may be on their way, and the types held."""
    fields = _object(entry, where, _PENDING, _PENDING_OPTIONAL)
    if not _text(fields["offer"], f"{where}.offer", MAX_OFFER_CHARS).startswith("openid-credential-offer://"):
        raise DocumentError(f"{where}.offer is not a credential offer")
    if _integer(fields["count"], f"{where}.count", MAX_CREDENTIALS) < 1:
        raise DocumentError(f"{where}.count is not a whole number from 1 to {MAX_CREDENTIALS}")
    _integer(fields["started_at"], f"{where}.started_at", MAX_TIME)
    if "access_token" in fields:
        _text(fields["access_token"], f"{where}.access_token", MAX_TEXT)
    if "expires_at" in fields:
        _integer(fields["expires_at"], f"{where}.expires_at", MAX_TIME)
    for name, keys in _types(fields.get("device_keys", {}), f"{where}.device_keys").items():
        for number, jwk in enumerate(_list(keys, f"{where}.device_keys.{name}", MAX_CREDENTIALS)):
            _device_key(jwk, f"{where}.device_keys.{name}[{number}]")
    for name, notification_id in _types(fields.get("done", {}), f"{where}.done").items():
        _text(notification_id, f"{where}.done.{name}", MAX_TEXT)


def _types(value: object, where: str) -> dict[str, Any]:
    """An object whose members are named by credential types this wallet knows."""
    members = _object(value, where, frozenset(), frozenset(CREDENTIAL_TYPES))
    return members


def _credential(entry: object, where: str) -> tuple[str, str]:
    """Check one stored credential; returns its device key's public point, to spot a shared key."""
    fields = _object(entry, where, _CREDENTIAL, _CREDENTIAL_OPTIONAL)
    kind = CREDENTIAL_TYPES.get(fields["type"]) if type(fields["type"]) is str else None
    if kind is None:
        raise DocumentError(f"{where}.type is not a credential type this wallet knows")
    if type(fields["used"]) is not bool:
        raise DocumentError(f"{where}.used is not true or false")
    if "issuer" in fields:
        _text(fields["issuer"], f"{where}.issuer", 2048)
    if "received_at" in fields:
        _integer(fields["received_at"], f"{where}.received_at", MAX_TIME)
    text = _text(fields["credential"], f"{where}.credential", DEFAULT_LIMITS.max_presentation_chars)
    try:
        held = parse_issued(text)
        kind.check_claims({name: held.claims[name] for name in kind.claims if name in held.claims})
    except CredentialError as exc:
        raise DocumentError(f"{where}.credential is not a valid {kind.name} credential ({exc.message})") from None
    if held.vct is None or not kind.is_named_by(held.vct) or type(held.payload.get("exp")) is not int:
        raise DocumentError(f"{where}.credential is not a valid {kind.name} credential")
    key = _device_key(fields["device_key"], f"{where}.device_key")
    cnf = held.payload.get("cnf")
    if not isinstance(cnf, dict) or cnf.get("jwk") != key.public_jwk():
        raise DocumentError(f"{where}.credential is not bound to its device key")
    public = key.public_jwk()
    return public["x"], public["y"]


def _device_key(jwk: object, where: str) -> SigningKey:
    members = _object(jwk, where, _DEVICE_KEY, _DEVICE_KEY_OPTIONAL)
    for name, value in members.items():
        _text(value, f"{where}.{name}", MAX_TEXT)
    if members["kty"] != "EC" or members["crv"] != "P-256" or members.get("alg", "ES256") != "ES256":
        raise DocumentError(f"{where} is not an ES256 (EC P-256) key")
    try:
        return signing_key_from_jwk(members)
    except (ValueError, CredentialError):
        raise DocumentError(f"{where} is not a valid EC P-256 private key") from None


def _history(entry: object, where: str) -> None:
    fields = _object(entry, where, _HISTORY, frozenset())
    _integer(fields["at"], f"{where}.at", MAX_TIME)
    _text(fields["policy"], f"{where}.policy", MAX_TEXT)
    _text(fields["audience"], f"{where}.audience", MAX_TEXT)
    for index, claim in enumerate(_list(fields["claims"], f"{where}.claims", MAX_CLAIMS)):
        _text(claim, f"{where}.claims[{index}]", MAX_TEXT)
    if type(fields["credential_type"]) is not str or fields["credential_type"] not in CREDENTIAL_TYPES:
        raise DocumentError(f"{where}.credential_type is not a credential type this wallet knows")


def _trust(trust: object) -> None:
    fields = _object(trust, "trust", frozenset(), _TRUST_SHAPES[-1])
    if fields.keys() not in _TRUST_SHAPES:
        raise DocumentError("trust needs the board key, the registry and its version together")
    if "version" in fields:
        _integer(fields["version"], "trust.version", MAX_COUNT)
    if "checked_at" in fields:
        _integer(fields["checked_at"], "trust.checked_at", MAX_TIME)
    if "registry" in fields:
        _text(fields["registry"], "trust.registry", MAX_REGISTRY_CHARS)
        try:  # any key set the wallet accepts when the board key is first given
            if type(fields["board_jwks"]) is not dict:
                raise TypeError
            KeySet.from_jwks(fields["board_jwks"])
        except (CredentialError, ValueError, TypeError):
            raise DocumentError("trust.board_jwks is not a policy board key set") from None


def _object(value: object, where: str, required: Set[str], optional: Set[str]) -> dict[str, Any]:
    if type(value) is not dict:
        raise DocumentError(f"{where} is not an object")
    missing = sorted(required - value.keys())
    if missing:
        raise DocumentError(f"{where} has no {missing[0]!r}")
    unknown = sorted(value.keys() - required - optional)
    if unknown:
        raise DocumentError(f"{where} has an unknown field {unknown[0][:40]!r}")
    return value


def _list(value: object, where: str, limit: int) -> list[Any]:
    if type(value) is not list:
        raise DocumentError(f"{where} is not a list")
    if len(value) > limit:
        raise DocumentError(f"{where} has more than {limit} entries")
    return value


def _text(value: object, where: str, limit: int) -> str:
    if type(value) is not str or len(value) > limit:
        raise DocumentError(f"{where} is not text of at most {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape: it could never be printed
        raise DocumentError(f"{where} is not valid text") from None
    return value


def _integer(value: object, where: str, limit: int) -> int:
    if type(value) is not int or not 0 <= value <= limit:
        raise DocumentError(f"{where} is not a whole number from 0 to {limit}")
    return value

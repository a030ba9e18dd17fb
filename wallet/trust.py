"""The policy registry as the wallet knows it: the board's key pinned on first use, and the
newest registry seen, so an older one can never be slipped back in (rollback).

The wallet gets both from the issuer it enrolled with (``GET /registry`` at the ``issuer`` URL
kept with each credential), the first time it needs them and again when what it holds is stale:
expired, or last checked more than ``REFRESH_AFTER`` seconds ago. Going online is the shell's
job (:func:`fetch_registry` takes the HTTP client); deciding is pure (:func:`is_stale`,
:func:`accept_published`, :func:`held_while_offline`). Offline, a registry that is still current
is used; with one that has expired (``registry_offline``) or none (``no_registry``) the wallet
refuses, saying to go online once. A key other than the pinned one, or an older version, is
refused even online (``board_key_changed``, ``registry_rollback``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from credential import CredentialError, KeySet
from policies import Registry, verify_registry

from .receive import secure_url
from .store import Wallet, WalletError

REFRESH_AFTER = 86_400
"""Seconds after which the wallet asks its issuer for a newer registry, when it can."""
MAX_RESPONSE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Published:
    """What an issuer serves at ``/registry``: the board's signed registry and the board's key,
    neither checked yet."""

    registry: str
    board_jwks: dict[str, Any]


class Getter(Protocol):
    """The one call :func:`fetch_registry` makes (``httpx.Client`` has it)."""

    def get(self, url: str) -> Any: ...


class IssuerUnreachable(WalletError):
    """The issuer could not be asked (no network, no answer, or an error page)."""


def home_issuer(wallet: Wallet) -> str | None:
    """The issuer the wallet enrolled with most recently: the ``issuer`` of its newest credential."""
    dated = [(entry.get("received_at", 0), index, entry["issuer"])
             for index, entry in enumerate(wallet.credentials) if isinstance(entry.get("issuer"), str)]  # fmt: skip
    return max(dated)[2] if dated else None


def is_stale(wallet: Wallet, *, now: int) -> bool:
    """Whether to ask the issuer for the registry: none held, last checked more than a day ago
    (or never, for one given as a file), or no longer valid."""
    if "registry" not in wallet.trust or now - wallet.trust.get("checked_at", 0) >= REFRESH_AFTER:
        return True
    try:
        current_registry(wallet, now=now)
    except WalletError:
        return True
    return False


def fetch_registry(issuer_url: str, client: Getter) -> Published:
    """GET ``issuer_url``/registry. Raises :class:`IssuerUnreachable` when the issuer cannot be
    asked or has published none, ``invalid_registry`` for an answer that is not one."""
    base = secure_url(issuer_url, "invalid_issuer_metadata", "the issuer's address", query_allowed=False)
    try:
        response = client.get(base.rstrip("/") + "/registry")
        body = response.content
    except Exception as exc:  # any transport failure: the wallet is offline as far as it can tell
        raise IssuerUnreachable("issuer_unreachable", f"cannot reach {base} ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise IssuerUnreachable("issuer_unreachable", f"{base}/registry answered {response.status_code}")
    try:
        published = json.loads(body) if len(body) <= MAX_RESPONSE_BYTES else None
    except ValueError:
        published = None
    if (not isinstance(published, dict) or not isinstance(published.get("registry"), str)
            or not isinstance(published.get("board_jwks"), dict)):  # fmt: skip
        raise WalletError("invalid_registry", f"{base}/registry is not a published policy registry")
    return Published(published["registry"], published["board_jwks"])


def accept_published(wallet: Wallet, published: Published, *, now: int) -> Registry:
    """Take what the issuer published (the board key pinned the first time; a changed key is
    ``board_key_changed``, an older version ``registry_rollback``), noting when it was checked."""
    registry = update_trust(wallet, published.registry, published.board_jwks, now=now)
    wallet.trust["checked_at"] = now
    return registry


def held_while_offline(wallet: Wallet, problem: WalletError, *, now: int) -> Registry:
    """The registry the wallet holds, when the issuer could not be asked for a newer one
    (``problem`` says why): used while it is current; refused when there is none
    (``no_registry``) or it has expired (``registry_offline``), with a message to go online once."""
    try:
        return current_registry(wallet, now=now)
    except WalletError as exc:
        if exc.reason == "no_registry":
            raise WalletError("no_registry", f"this wallet has no list of approved policies yet and could not fetch "
                              f"one ({problem.message}): go online once, then try again") from None  # fmt: skip
        if exc.reason == "registry_expired":
            raise WalletError("registry_offline", f"this wallet's list of approved policies has expired and a new "
                              f"one could not be fetched ({problem.message}): go online once, then try "
                              "again") from None  # fmt: skip
        raise


def update_trust(wallet: Wallet, registry_token: str, board_jwks: dict[str, Any], *, now: int) -> Registry:
    """Accept a registry (and, the first time, the board key) into the wallet."""
    pinned = wallet.trust.get("board_jwks")
    if pinned is not None and pinned != board_jwks:
        raise WalletError("board_key_changed", "this policy board key differs from the one this wallet trusts")
    try:
        registry = verify_registry(
            registry_token, KeySet.from_jwks(board_jwks), now=now, minimum_version=wallet.trust.get("version", 0)
        )
    except CredentialError as exc:
        raise WalletError(exc.reason.value, exc.message) from None
    wallet.trust.update(board_jwks=board_jwks, registry=registry_token, version=registry.version)
    return registry


def current_registry(wallet: Wallet, *, now: int) -> Registry:
    """The registry the wallet holds, checked again: it may have expired since, and it must not
    be older than the version the wallet records (a backup could pair an old one with a new number)."""
    if "registry" not in wallet.trust:
        raise WalletError("no_registry", "no policy registry in this wallet yet: it comes from the city's service "
                          "you received your credentials from (or pass --registry and --board-jwks)")  # fmt: skip
    try:
        return verify_registry(
            wallet.trust["registry"], KeySet.from_jwks(wallet.trust["board_jwks"]), now=now,
            minimum_version=wallet.trust["version"],
        )  # fmt: skip
    except CredentialError as exc:
        raise WalletError(exc.reason.value, exc.message) from None

"""The policy registry as the wallet knows it: the board's key pinned on first use, and the
newest registry seen, so an older one can never be slipped back in (rollback)."""

from __future__ import annotations

from typing import Any

from credential import CredentialError, KeySet
from policies import Registry, verify_registry

from .store import Wallet, WalletError


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
        raise WalletError("no_registry", "no policy registry in this wallet yet: pass --registry and --board-jwks once")
    try:
        return verify_registry(
            wallet.trust["registry"], KeySet.from_jwks(wallet.trust["board_jwks"]), now=now,
            minimum_version=wallet.trust["version"],
        )  # fmt: skip
    except CredentialError as exc:
        raise WalletError(exc.reason.value, exc.message) from None

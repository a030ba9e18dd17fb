"""The wallet's store: one file, sealed under the resident's passphrase, replaced atomically.

Nothing in the file is readable without the passphrase (AES-256-GCM under a scrypt key):
not a claim, not a key, not a token. A write goes to a temporary file that is flushed and
renamed over the old one, so a crash leaves the old store or the new one, never half.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityid.files import write_atomic
from cityid.sealing import SealError, open_with_passphrase, seal_with_passphrase

PURPOSE = "cityid wallet store v1"
MAX_STORE_BYTES = 16 * 1024 * 1024


class WalletError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cityid" / "wallet.cidw"


@dataclass
class Wallet:
    """What the store holds: credentials with their device keys, and the on-device history."""

    credentials: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    trust: dict[str, Any] = field(default_factory=dict)
    """The policy board's pinned key (``board_jwks``), its newest registry and version."""

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "credentials": self.credentials, "history": self.history, "trust": self.trust}


def load(path: Path, passphrase: str) -> Wallet:
    """The wallet at ``path``; an empty one if the file does not exist yet."""
    try:
        sealed = path.read_bytes()
    except FileNotFoundError:
        return Wallet()
    except OSError as exc:
        raise WalletError("unreadable_wallet", f"cannot read the wallet {path}: {exc.strerror}") from None
    if len(sealed) > MAX_STORE_BYTES:
        raise WalletError("unreadable_wallet", "the wallet file is too large to be a cityid wallet")
    try:
        document = json.loads(open_with_passphrase(sealed, passphrase, PURPOSE))
    except SealError:
        raise WalletError("wrong_passphrase", "wrong passphrase, or the wallet file is damaged") from None
    return Wallet(
        list(document.get("credentials", [])), list(document.get("history", [])), dict(document.get("trust", {}))
    )


def save(path: Path, passphrase: str, wallet: Wallet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    plaintext = json.dumps(wallet.to_json(), separators=(",", ":")).encode()
    write_atomic(path, seal_with_passphrase(plaintext, passphrase, PURPOSE), mode=0o600)

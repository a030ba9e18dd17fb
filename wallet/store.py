"""The wallet's store: one file, sealed under the resident's passphrase, replaced atomically.

Nothing in the file is readable without the passphrase (AES-256-GCM under a scrypt key):
not a claim, not a key, not a token. A write goes to a temporary file that is flushed and
renamed over the old one, so a crash leaves the old store or the new one, never half. What
opens is checked field by field before it is used (``schema.py``), and a counter beside the
file refuses an older copy of it (``rollback.py``).

Backups (``export``) are sealed for another purpose under their own passphrase, so a backup is
never opened as a wallet file, nor a wallet file imported as a backup.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityid.files import read_at_most, write_atomic
from cityid.sealing import SealError, open_with_passphrase, seal_with_passphrase

from .errors import WalletError
from .rollback import Mark, check_not_rolled_back, read_mark, write_mark
from .schema import DocumentError, check_document

__all__ = [
    "BACKUP_PURPOSE",
    "MAX_STORE_BYTES",
    "PURPOSE",
    "Wallet",
    "WalletError",
    "default_path",
    "export_backup",
    "load",
    "merge",
    "read_backup",
    "save",
]

PURPOSE = "cityid wallet store v1"
BACKUP_PURPOSE = "cityid wallet backup v1"
MAX_STORE_BYTES = 16 * 1024 * 1024


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
    counter: int = 0
    """How many times this wallet was saved (see ``rollback.py``); 0 before its first save."""

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "counter": self.counter, "credentials": self.credentials, "history": self.history,
                "trust": self.trust}  # fmt: skip


def load(path: Path, passphrase: str) -> Wallet:
    """The wallet at ``path``; an empty one if the file does not exist yet.

    Refused: a wrong passphrase, a file that is not a wallet this version writes, and a file
    older than the counter beside it (``wallet_rolled_back``).
    """
    mark = read_mark(path)
    sealed = _read_sealed(path, "the wallet")
    if sealed is None:  # a new wallet: it counts on from any earlier one at this path
        floor = {"version": mark.registry_version} if mark and mark.registry_version else {}
        return Wallet(trust=floor, counter=mark.counter if mark else 0)
    try:
        document = _decode(open_with_passphrase(sealed, passphrase, PURPOSE))
    except SealError:
        raise WalletError("wrong_passphrase", "wrong passphrase, or the wallet file is damaged") from None
    wallet = _wallet(document, "invalid_wallet", f"the wallet file {path}")
    check_not_rolled_back(path, wallet.counter, wallet.trust.get("version", 0), mark)
    return wallet


def save(path: Path, passphrase: str, wallet: Wallet) -> None:
    """Write ``wallet`` to ``path`` and count the save (the order is explained in ``rollback.py``)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    mark = read_mark(path)
    counter = max(wallet.counter, mark.counter if mark else 0) + 1
    plaintext = _encode({**wallet.to_json(), "counter": counter})
    if mark is None:
        mark = Mark(0, 0)
        write_mark(path, mark)
    write_atomic(path, seal_with_passphrase(plaintext, passphrase, PURPOSE), mode=0o600)
    wallet.counter = counter
    write_mark(path, Mark(counter, max(mark.registry_version, wallet.trust.get("version", 0))))


def export_backup(path: Path, passphrase: str, wallet: Wallet) -> None:
    """Write ``wallet`` to ``path`` as a backup sealed under its own ``passphrase``."""
    write_atomic(path, seal_with_passphrase(_encode(wallet.to_json()), passphrase, BACKUP_PURPOSE), mode=0o600)


def read_backup(path: Path, passphrase: str) -> Wallet:
    """The wallet in a backup made by :func:`export_backup`, checked as strictly as the store."""
    sealed = _read_sealed(path, "the backup")
    if sealed is None:
        raise WalletError("unreadable_input", f"{path} is not a file")
    try:
        document = _decode(open_with_passphrase(sealed, passphrase, BACKUP_PURPOSE))
    except SealError:
        try:
            open_with_passphrase(sealed, passphrase, PURPOSE)
        except SealError:
            raise WalletError("wrong_passphrase", "wrong backup passphrase, or the backup is damaged") from None
        raise WalletError(
            "not_a_backup",
            f"{path} is a wallet file, not a backup made by `cityid wallet export`: a copy of a wallet file "
            "could bring back credentials already used, so it is not imported. Make a backup with export.",
        ) from None
    return _wallet(document, "invalid_backup", f"the backup {path}")


def merge(store: Wallet, restored: Wallet) -> int:
    """Add a backup's credentials and history to ``store``; returns how many credentials were new.

    A credential in both stays used if either says so. The backup's trust is taken only when the
    store holds no registry yet and the backup's is not older than the store's version mark.
    An import is the resident's explicit choice, so it moves the save counter past the backup's
    (the next save counts from max(counter file, this wallet, the backup) + 1): a backup restores
    its credentials as they were when it was made, even into a wallet whose counter is ahead.
    """
    held = {entry["credential"]: entry for entry in store.credentials}
    added = 0
    for entry in restored.credentials:
        known = held.get(entry["credential"])
        if known is None:
            store.credentials.append(entry)
            held[entry["credential"]] = entry
            added += 1
        elif entry["used"]:
            known["used"] = True
    store.history.extend(restored.history)
    if "registry" not in store.trust and restored.trust.get("version", 0) >= store.trust.get("version", 0):
        store.trust = {**store.trust, **restored.trust}
    store.counter = max(store.counter, restored.counter)
    return added


def _read_sealed(path: Path, what: str) -> bytes | None:
    try:
        sealed = read_at_most(path, MAX_STORE_BYTES)
    except OSError as exc:
        raise WalletError("unreadable_wallet", f"cannot read {what} {path}: {exc.strerror}") from None
    if sealed is None:
        return None
    if len(sealed) > MAX_STORE_BYTES:
        raise WalletError("unreadable_wallet", f"{what} is too large to be a cityid wallet")
    return sealed


def _decode(plaintext: bytes) -> object:
    try:
        return json.loads(plaintext)
    except (ValueError, RecursionError):  # not UTF-8 or JSON; nested beyond the parser's depth
        return None  # refused by the check as "not an object"


def _wallet(document: object, reason: str, what: str) -> Wallet:
    try:
        check_document(document)
    except DocumentError as exc:
        raise WalletError(reason, f"{what} is not a cityid wallet this version can open: {exc}") from None
    assert isinstance(document, dict)
    return Wallet(document["credentials"], document["history"], document["trust"], document.get("counter", 0))


def _encode(document: dict[str, Any]) -> bytes:
    try:
        check_document(document)
    except DocumentError as exc:  # never write a file the wallet would refuse to open
        raise WalletError("invalid_wallet", f"the wallet was not saved: {exc}") from None
    return json.dumps(document, separators=(",", ":")).encode()

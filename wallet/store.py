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

from edges.files import read_at_most, write_atomic
from edges.sealing import NotSealedError, SealError, open_with_passphrase, seal_with_passphrase

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
    "load_existing",
    "merge",
    "read_backup",
    "require_wallet",
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
    pending: list[dict[str, Any]] = field(default_factory=list)
    """Unfinished receives, to resume (``receive.py``'s ``Progress``); written only when there are any."""

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "counter": self.counter, "credentials": self.credentials, "history": self.history,
                "trust": self.trust, **({"pending": self.pending} if self.pending else {})}  # fmt: skip


def load(path: Path, passphrase: str) -> Wallet:
    """The wallet at ``path``; an empty one if the file does not exist yet (for ``receive`` and
    ``import``, which make it). Every other command reads with :func:`load_existing`.

    Refused: a file that is empty or not a sealed wallet at all (``wallet_damaged``: restore a
    backup), a seal that does not open (``wrong_passphrase``), a file that is not a wallet this
    version writes, and a file older than the counter beside it (``wallet_rolled_back``).

    A seal shows damage only in its shape: AES-GCM cannot tell a wrong passphrase from a byte
    changed inside, so a file of the right shape that does not open is ``wrong_passphrase``.
    """
    mark = read_mark(path)
    sealed = _read_sealed(path, "the wallet")
    if sealed is None:  # a new wallet: it counts on from any earlier one at this path
        floor = {"version": mark.registry_version} if mark and mark.registry_version else {}
        return Wallet(trust=floor, counter=mark.counter if mark else 0)
    try:
        document = _decode(open_with_passphrase(sealed, passphrase, PURPOSE))
    except NotSealedError:
        raise WalletError(
            "wallet_damaged",
            f"the wallet file {path} is damaged (empty, cut short or not a wallet): restore it from a backup "
            "with `cityid wallet import`",
        ) from None
    except SealError:
        raise WalletError("wrong_passphrase", f"the passphrase does not open the wallet file {path}") from None
    wallet = _wallet(document, "invalid_wallet", f"the wallet file {path}")
    check_not_rolled_back(path, wallet.counter, wallet.trust.get("version", 0), mark)
    return wallet


def load_existing(path: Path, passphrase: str) -> Wallet:
    """The wallet at ``path``, as :func:`load`, for a command that needs one already there:
    no file is ``no_wallet`` (not a wrong passphrase, nor an empty wallet without a registry)."""
    require_wallet(path)
    return load(path, passphrase)


def require_wallet(path: Path) -> None:
    """Refuse (``no_wallet``) when there is no wallet file at ``path``."""
    if not _exists(path):
        raise WalletError("no_wallet", f"no wallet at {path}: receive your credentials first")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, or with a NUL byte: read_at_most says why
        return True


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
    """Write ``wallet`` to ``path`` as a backup sealed under its own ``passphrase``. Unfinished
    receives stay out: their access tokens are of use only on this device, for minutes."""
    document = {name: value for name, value in wallet.to_json().items() if name != "pending"}
    write_atomic(path, seal_with_passphrase(_encode(document), passphrase, BACKUP_PURPOSE), mode=0o600)


def read_backup(path: Path, passphrase: str) -> Wallet:
    """The wallet in a backup made by :func:`export_backup`, checked as strictly as the store."""
    sealed = _read_sealed(path, "the backup")
    if sealed is None:
        raise WalletError("unreadable_input", f"{path} is not a file")
    try:
        document = _decode(open_with_passphrase(sealed, passphrase, BACKUP_PURPOSE))
    except NotSealedError:
        raise WalletError("invalid_backup", f"{path} is damaged (empty, cut short or not a backup)") from None
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
    return Wallet(document["credentials"], document["history"], document["trust"], document.get("counter", 0),
                  document.get("pending", []))  # fmt: skip


def _encode(document: dict[str, Any]) -> bytes:
    try:
        check_document(document)
    except DocumentError as exc:  # never write a file the wallet would refuse to open
        raise WalletError("invalid_wallet", f"the wallet was not saved: {exc}") from None
    return json.dumps(document, separators=(",", ":")).encode()

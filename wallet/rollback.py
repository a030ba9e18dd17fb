"""Rollback protection: a save counter beside the wallet file, which an old copy cannot satisfy.

The sealed file shows who wrote it, not when. Copied aside and later put back, an old wallet
file opens under the same passphrase and would bring back one-time credentials already shown
(a second proof from the same credential lets two desks link them) and an older policy registry
(a policy the board has since withdrawn would be accepted again). So every save is counted: the
sealed file carries its count, and ``<wallet>.counter``, a small plain file beside it, carries
the highest count saved and the highest registry version accepted. A wallet file whose count or
registry version is below the counter file's is refused (``wallet_rolled_back``); a counted
wallet file without its counter file is refused too (``wallet_counter_missing``).

Crash ordering. A save writes, each atomically and each followed by an fsync of the directory
(``edges.files.write_atomic``) so that the renames reach the disk in this order:

1. the counter file with count 0, only when there is none yet, so that a counted wallet file
   never exists without one (a missing counter file is then never the result of a crash);
2. the wallet file, with count n = max(its own count, the counter file's) + 1;
3. the counter file, with n.

A wallet file is accepted when its count is at least the counter file's. A crash before step 2
leaves the old file (n-1) and the old counter (n-1 or lower); a crash between 2 and 3 leaves the
new file (n) and the old counter (n-1): both open, and the next save counts on from the higher
number, so a crash never locks the resident out. Any copy older than the file a save replaced
is refused at every moment. The one copy a crash can let back in is that replaced file (count
n-1), and only between a crash in that window and the next save, which moves the counter past
it; this cannot be closed without writing both files in one atomic step.

What it does not protect against: someone who puts back both files (a restore of the whole
folder or device), or edits the plain counter file; someone who knows the wallet passphrase (they
can read and use the wallet anyway); a backup imported on purpose (``cityid wallet import``
moves the counter forward, past the backup's count and the device's). A wallet file written
before this counter existed has no count: it opens when no counter file is there, and is counted
from its next save.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edges.files import read_at_most, write_atomic

from .errors import WalletError

MAX_COUNTER_FILE_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Mark:
    """What the counter file holds: the highest save count and registry version on this device."""

    counter: int
    registry_version: int


def counter_path(wallet: Path) -> Path:
    return wallet.with_name(wallet.name + ".counter")


def read_mark(wallet: Path) -> Mark | None:
    """The counter file beside ``wallet``; ``None`` when there is none."""
    path = counter_path(wallet)
    try:
        data = read_at_most(path, MAX_COUNTER_FILE_BYTES)
    except OSError as exc:
        raise _damaged(path, exc.strerror or "unreadable") from None
    if data is None:
        return None
    try:
        if len(data) > MAX_COUNTER_FILE_BYTES:
            raise ValueError("too large")
        document = json.loads(data)
        counter, version = document["counter"], document["registry_version"]
    except (ValueError, TypeError, KeyError):
        raise _damaged(path, "not a counter file") from None
    if not all(type(number) is int and number >= 0 for number in (counter, version)):
        raise _damaged(path, "not a counter file")
    return Mark(counter, version)


def write_mark(wallet: Path, mark: Mark) -> None:
    text = json.dumps({"counter": mark.counter, "registry_version": mark.registry_version}) + "\n"
    write_atomic(counter_path(wallet), text, mode=0o600)  # the rename is flushed before it returns


def check_not_rolled_back(wallet: Path, counter: int, registry_version: int, mark: Mark | None) -> None:
    """Refuse a wallet file (with ``counter`` and ``registry_version`` inside) that is older than
    the counter file ``mark`` beside it says the newest one is."""
    if mark is None:
        if counter > 0:
            raise WalletError(
                "wallet_counter_missing",
                f"the wallet's counter file {counter_path(wallet)} is missing, so this device cannot tell "
                "whether this wallet file is its newest copy. If you moved the wallet, move that file with "
                "it; otherwise put this wallet file aside and restore a backup (cityid wallet import).",
            )
        return  # written before the counter existed: counted from its next save
    if counter < mark.counter or registry_version < mark.registry_version:
        raise WalletError(
            "wallet_rolled_back",
            f"this wallet file is an older copy (save {counter}, policy registry version {registry_version}) "
            f"than the newest this device saved (save {mark.counter}, version {mark.registry_version}). "
            "It could show credentials you already used again, so it was not opened. Put the newest wallet "
            "file back; or put this one aside and restore a backup (cityid wallet import), or ask a city "
            "clerk for a new batch.",
        )


def _damaged(path: Path, why: str) -> WalletError:
    return WalletError(
        "wallet_counter_damaged",
        f"the wallet's counter file {path} cannot be read ({why}), so this device cannot tell whether the "
        "wallet file is its newest copy. Put back a good copy of that file, or put the wallet aside and "
        "restore a backup (cityid wallet import).",
    )

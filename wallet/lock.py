"""One wallet command at a time: an exclusive lock beside the wallet file.

Two commands that each read the wallet, change it and save it would otherwise both start from
the same file: two ``present`` runs at once picked the same unused one-time credential (two
desks could then link both proofs to one resident), and a ``receive`` beside a ``present``
brought a spent credential back or dropped the batch it had just received, whichever saved
last. So every read-modify-write holds ``fcntl.flock`` on ``<wallet>.lock`` (a plain empty
file, never removed, so that two processes never lock two different files) from the read to
the save, and reads the wallet again once it holds the lock. A command that cannot get the
lock within a bounded time stops with ``wallet_busy`` rather than wait forever. The kernel
lets go of the lock when the process ends, however it ends, so a crash never leaves it held.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import WalletError

DEFAULT_WAIT = 30.0
"""Seconds a command waits for another to finish with the wallet before it gives up."""
_POLL = 0.05


def lock_path(wallet: Path) -> Path:
    return wallet.with_name(wallet.name + ".lock")


@contextmanager
def locked(wallet: Path, *, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold the wallet's exclusive lock for the ``with`` block; ``wallet_busy`` after ``wait`` seconds."""
    wallet.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(lock_path(wallet), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WalletError(
                        "wallet_busy",
                        f"another cityid wallet command is using {wallet} (waited {wait:g} seconds): "
                        "let it finish, then try again",
                    ) from None
                time.sleep(_POLL)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)

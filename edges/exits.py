"""One rule for every ``cityid`` command's exit status, decided by the reason code alone.

* **0** valid, or the command did what it was asked (``ok``);
* **1** refused or invalid, with a reason: the input was read and something in it, or the
  situation, says no (a revoked ID, a wrong passphrase, a port in use);
* **2** the input could not be read or the command was used wrongly: a file that is missing,
  empty or damaged, not an image, a picture without a QR code, too large, an output that cannot
  be written, a missing or conflicting option;
* **130** interrupted (Ctrl-C), as shells report SIGINT.

Scripts branch on these numbers, so each command group asks :func:`exit_code` instead of
choosing its own: the same reason exits the same way from ``cityid verify``, ``verifier``,
``wallet``, ``issuer`` and ``policies``. docs/reason-codes.md lists every reason with its code
(tests/test_reason_table.py keeps the two in step).
"""

from __future__ import annotations

import signal
from types import FrameType

EXIT_OK, EXIT_REFUSED, EXIT_UNREADABLE, EXIT_INTERRUPTED = 0, 1, 2, 130

UNREADABLE_OR_USAGE = frozenset(
    {
        # the command line
        "usage_error",
        "invalid_settings",
        "issuer_url_mismatch",
        "invalid_fingerprint",
        # input that cannot be read
        "unreadable_input",
        "unreadable_image",
        "no_qr_code",
        "too_large",
        "invalid_key",
        "unreadable_trust",
        "unreadable_wallet",
        "wallet_damaged",
        "database_corrupt",
        "database_unusable",
        # a file that is not there yet
        "no_wallet",
        "not_synced",
        "not_initialised",
        "font_missing",
        # output
        "unwritable_output",
    }
)
"""Reasons that mean the input could not be read or the command was used wrongly (exit 2)."""


def exit_code(reason: str) -> int:
    """The exit status for a command that ended with ``reason`` (``ok`` for success)."""
    if reason == "ok":
        return EXIT_OK
    if reason == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_UNREADABLE if reason in UNREADABLE_OR_USAGE else EXIT_REFUSED


def exit_on_interrupt() -> None:
    """Make Ctrl-C end the command with :data:`EXIT_INTERRUPTED` (130), as shells expect, instead
    of click's "Aborted!" with 1, which scripts would read as a refusal. It ends the command by
    ``SystemExit``, so ``finally`` blocks and context managers still run: a wallet's lock is
    released, and a file being written is left whole or not at all (``edges.files``)."""

    def interrupted(_signal: int, _frame: FrameType | None) -> None:
        raise SystemExit(EXIT_INTERRUPTED)

    signal.signal(signal.SIGINT, interrupted)

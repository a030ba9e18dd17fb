"""The wallet's one error type: a stable ``reason`` code, and a message that says what to do."""

from __future__ import annotations


class WalletError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message

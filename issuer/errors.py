"""The issuer's one error type: a stable reason, a message, and how HTTP should say it."""

from __future__ import annotations


class IssuerError(Exception):
    """A refused request. ``status`` is the HTTP status, ``error`` the OAuth error code."""

    def __init__(self, reason: str, message: str, *, status: int = 400, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.reason, self.message, self.status, self.error = reason, message, status, error

"""Is the issuer ready to serve, and is a database error worth retrying?

``/livez`` says only that the process answers; ``/readyz`` (and its old name ``/healthz``)
says whether a request would succeed: the database answers and takes a write, the data
directory takes a file, the active signing key is there and opens. A load balancer stops
sending traffic on a 503 from ``/readyz`` without restarting a process that is merely waiting
for its database.

A database that is down, full, read-only or locked past its timeout is the city's problem,
not the client's: those errors are answered ``503 service_unavailable`` with ``Retry-After``.
What reaches the log is the error's type and one word, never its text, which carries the SQL
statement and sometimes the values of its parameters.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import (
    TimeoutError as PoolTimeoutError,
)

from edges.sealing import SealError

from .keys import NoKeyError
from .models import IssuerKey
from .runtime import Runtime

RETRY_AFTER = 2
"""Seconds a client is asked to wait before trying again after a 503."""

_KINDS = (
    ("disk or database is full", "disk_full"),
    ("database or disk is full", "disk_full"),
    ("no space", "disk_full"),
    ("locked", "locked"),
    ("busy", "locked"),
    ("disk i/o", "io"),
    ("unable to open", "io"),
    ("readonly", "read_only"),
    ("read-only", "read_only"),
    ("terminat", "connection"),
    ("connect", "connection"),
    ("closed", "connection"),
)


@dataclass(frozen=True, slots=True)
class NotReady:
    reason: str
    message: str


def unavailable(exc: SQLAlchemyError) -> bool:
    """The database could not be used (down, full, locked, read-only, connection lost): retry later.

    SQLite also calls a missing table an ``OperationalError``; that is a broken issuer (500), so
    for SQLite only the kinds in ``_KINDS`` count. PostgreSQL's are about the server or connection."""
    if isinstance(exc, InterfaceError | DisconnectionError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    return not isinstance(exc.orig, sqlite3.Error) or _kind(exc) != "other"


def _kind(exc: BaseException) -> str:
    text = str(exc.orig if isinstance(exc, DBAPIError) else "").lower()
    return next((word for needle, word in _KINDS if needle in text), "other")


def error_summary(exc: BaseException) -> str:
    """The exception's type, its driver's, and one word on its kind: nothing of its text."""
    original = exc.orig if isinstance(exc, DBAPIError) else None
    driver = f"/{type(original).__name__}" if original is not None else ""
    return f"{type(exc).__name__}{driver} kind={_kind(exc)}"


def readiness(runtime: Runtime) -> NotReady | None:
    """Why the issuer is not ready now, or None. Writes nothing: its one write is rolled back."""
    try:
        with tempfile.TemporaryFile(dir=runtime.settings.data, prefix=".readyz-"):
            pass
    except OSError as exc:
        return NotReady("data_dir_unwritable", f"the data directory does not take files ({exc.strerror})")
    session = runtime.sessions()
    try:
        # A write that is never committed: it needs the database reachable and writable (on SQLite,
        # the write lock and a writable file), and finds the active key at the same time.
        touched = session.execute(
            update(IssuerKey).where(IssuerKey.active.is_(True)).values(active=IssuerKey.active)
        ).rowcount  # type: ignore[attr-defined]
        if touched != 1:
            return NotReady("no_signing_key", "the issuer has no active signing key: run `cityid issuer init`")
        runtime.signing_key(session)
    except NoKeyError:
        return NotReady("no_signing_key", "the issuer has no active signing key: run `cityid issuer init`")
    except SealError:
        return NotReady("wrong_passphrase", "the passphrase does not open the issuer's signing key")
    except SQLAlchemyError as exc:
        return NotReady("database_unavailable", f"the database does not take writes ({error_summary(exc)})")
    finally:
        session.rollback()
        session.close()
    return None

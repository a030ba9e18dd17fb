"""Status lists on the issuer's side: random, never-reused indexes and the signed lists.

Every credential gets a random index in a large shared list (one list serves everybody, so
fetching it says nothing about whose credential is being checked). The unique constraint on
``(list_id, idx)`` makes allocation safe under concurrent requests and several issuer
processes on one PostgreSQL: a collision rolls back to a savepoint and draws again.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credential import SigningKey, StatusList, StatusReference, set_status, sign_status_list

from .models import StatusEntry, StatusListRow

FILL_LIMIT = 0.5
"""Open a new list when the current one is half full, so random draws rarely collide."""


def status_uri(issuer_url: str, list_id: int) -> str:
    return f"{issuer_url}/status/{list_id}"


def ensure_list(session: Session, size: int) -> None:
    if session.scalar(select(func.count()).select_from(StatusListRow)) == 0:
        session.add(StatusListRow(id=1, size=size, used=0))


def _current_list(session: Session, size: int) -> StatusListRow:
    row = session.scalars(select(StatusListRow).order_by(StatusListRow.id.desc()).limit(1)).first()
    if row is not None and row.used < row.size * FILL_LIMIT:
        return row
    new_id = (row.id + 1) if row is not None else 1
    try:
        with session.begin_nested():
            session.add(StatusListRow(id=new_id, size=size, used=0))
    except IntegrityError:  # another process opened it first
        pass
    found = session.get(StatusListRow, new_id)
    assert found is not None
    return found


def allocate(
    session: Session, *, batch_id: str, expires_at: int, count: int, size: int, issuer_url: str
) -> list[StatusReference]:
    """``count`` fresh random indexes for one batch, inside the caller's transaction."""
    status_list = _current_list(session, size)
    session.execute(
        update(StatusListRow).where(StatusListRow.id == status_list.id).values(used=StatusListRow.used + count)
    )
    references = []
    for _ in range(count):
        while True:
            idx = secrets.randbelow(status_list.size)
            try:
                with session.begin_nested():
                    session.add(StatusEntry(list_id=status_list.id, idx=idx, batch_id=batch_id, expires_at=expires_at))
                break
            except IntegrityError:
                continue
        references.append(StatusReference(idx, status_uri(issuer_url, status_list.id)))
    return references


@dataclass(frozen=True, slots=True)
class _Cached:
    token: str
    made_at: float
    """``time.monotonic()`` when it was signed: when to make it again."""
    expires_at: int
    """The token's own ``exp``: until when it may still be served if the database fails."""


class StatusListCache:
    """Signed lists, remade at most every ``ttl / 2`` seconds or when this process revokes.

    A list made earlier stays until its own ``exp`` for :meth:`usable`: while the database is
    down nothing can be revoked, so the last signed list is still the truth, and desks keep
    checking. A revocation in this process drops every list at once (:meth:`invalidate`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[int, _Cached] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._tokens.clear()

    def fresh(self, list_id: int, *, ttl: int) -> str | None:
        """The list made less than ``ttl / 2`` seconds ago, or None."""
        with self._lock:
            cached = self._tokens.get(list_id)
        return cached.token if cached is not None and time.monotonic() - cached.made_at < ttl / 2 else None

    def usable(self, list_id: int, *, now: int) -> str | None:
        """The last list made, however old, while its ``exp`` is after ``now``; or None."""
        with self._lock:
            cached = self._tokens.get(list_id)
        return cached.token if cached is not None and cached.expires_at > now else None

    def token(
        self, session: Session, list_id: int, *, key: SigningKey, issuer_url: str, ttl: int, lifetime: int, now: int
    ) -> str | None:
        """The fresh list, or one made now from the database (None: there is no such list)."""
        fresh = self.fresh(list_id, ttl=ttl)
        if fresh is not None:
            return fresh
        row = session.get(StatusListRow, list_id)
        if row is None:
            return None
        data = bytearray(row.size // 8)
        for idx in session.scalars(select(StatusEntry.idx).where(StatusEntry.list_id == list_id, StatusEntry.revoked)):
            set_status(data, idx, 1)
        token = sign_status_list(
            StatusList(1, bytes(data)), key, uri=status_uri(issuer_url, list_id), now=now, lifetime=lifetime, ttl=ttl
        )
        with self._lock:
            self._tokens[list_id] = _Cached(token, time.monotonic(), now + lifetime)
        return token


def list_ids(session: Session) -> list[int]:
    return list(session.scalars(select(StatusListRow.id).order_by(StatusListRow.id)))

"""Status lists on the issuer's side: random, never-reused indexes and the signed lists.

Every credential gets a random index in a large shared list (one list serves everybody, so
fetching it says nothing about whose credential is being checked). The unique constraint on
``(list_id, idx)`` makes allocation safe under concurrent requests and several issuer
processes on one PostgreSQL: a batch's indexes go in with one ``INSERT ... ON CONFLICT DO
NOTHING RETURNING``, and only the indexes that collided are drawn again. A savepoint per
credential cost about 40% of issuing on PostgreSQL.

A list is retired once every credential in it has expired (:func:`retire_expired`): the trust
bundle stops naming it, desks stop fetching it, and its rows are deleted a bounded batch at a
time. A retired list never takes a new entry, so an index is never given out twice even
though its row is gone.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import case, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
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
    if row is not None and not row.retired and row.used < row.size * FILL_LIMIT:
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


def _claim(session: Session, size: int, *, count: int, expires_at: int) -> tuple[int, int]:
    """The list this batch goes in (its id and size), its ``used`` and ``expires_at`` raised in
    this transaction. The row stays locked until commit, so :func:`retire_expired` cannot retire
    it meanwhile; one retired just before is skipped (the update matches no row), and the next
    one taken."""
    while True:
        status_list = _current_list(session, size)
        list_id, list_size = status_list.id, status_list.size
        claimed = session.execute(
            update(StatusListRow)
            .where(StatusListRow.id == list_id, StatusListRow.retired.is_(False))
            .values(
                used=StatusListRow.used + count,
                expires_at=case((StatusListRow.expires_at < expires_at, expires_at), else_=StatusListRow.expires_at),
            )
            .execution_options(synchronize_session=False)
        )
        session.expire(status_list)  # read again next time: its used, or that it was retired
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return list_id, list_size


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has ``on_conflict_do_nothing`` (PostgreSQL and SQLite only)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(StatusEntry)
    if dialect == "sqlite":
        return sqlite.insert(StatusEntry)
    raise NotImplementedError(f"status entries need PostgreSQL or SQLite, not {dialect}")


def allocate(
    session: Session, *, batch_id: str, expires_at: int, count: int, size: int, issuer_url: str
) -> list[StatusReference]:
    """``count`` fresh random indexes for one batch, inside the caller's transaction, in the
    order they were drawn (never sorted: the order says nothing)."""
    list_id, list_size = _claim(session, size, count=count, expires_at=expires_at)
    taken: dict[int, None] = {}  # in the order drawn
    while len(taken) < count:
        fresh = dict.fromkeys(secrets.randbelow(list_size) for _ in range(count - len(taken)))
        draws = [idx for idx in fresh if idx not in taken]
        if not draws:
            continue
        statement = (
            _insert(session)
            .values([{"list_id": list_id, "idx": idx, "batch_id": batch_id, "expires_at": expires_at}
                     for idx in draws])
            .on_conflict_do_nothing(index_elements=["list_id", "idx"])
            .returning(StatusEntry.idx)
        )  # fmt: skip
        inserted = set(session.scalars(statement))
        taken.update((idx, None) for idx in draws if idx in inserted)  # the rest collided: drawn again
    uri = status_uri(issuer_url, list_id)
    return [StatusReference(idx, uri) for idx in taken]


RETIRE_BATCH = 1_000
"""Status rows deleted by one :func:`retire_expired` call. The purge runs in most issuance
requests and must stay short (about 50 ms for 1,000 rows in a list of 2^23 on PostgreSQL), so
a retired list's rows go over many calls: the background purge alone, every 30 seconds,
deletes 2.9 M rows a day, where a city of 8 M residents sees about 440,000 expire."""


def retire_expired(session: Session, *, now: int, batch: int = RETIRE_BATCH) -> int:
    """Retire every list whose credentials have all expired, and delete up to ``batch`` rows of
    retired lists; returns the rows deleted. Rows locked by another purge are skipped (PostgreSQL
    ``SKIP LOCKED``), so two issuer processes purging at once neither wait nor deadlock.

    Each list's rows are found by ``list_id = ... ORDER BY idx``, which only the ``(list_id,
    idx)`` index answers well: a test of ``list_id IN (...)`` let PostgreSQL scan the whole
    table, which at city scale would make every purge take seconds. A list found empty is
    marked ``purged`` and not looked at again."""
    expired = (
        select(StatusListRow.id)
        .where(StatusListRow.retired.is_(False), StatusListRow.used > 0, StatusListRow.expires_at <= now)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        update(StatusListRow)
        .where(StatusListRow.id.in_(expired.scalar_subquery()))
        .values(retired=True)
        .execution_options(synchronize_session=False)
    )
    retired = select(StatusListRow.id).where(StatusListRow.retired.is_(True), StatusListRow.purged.is_(False))
    deleted = 0
    for list_id in session.scalars(retired.order_by(StatusListRow.id)).all():
        doomed = (
            select(StatusEntry.id)
            .where(StatusEntry.list_id == list_id)
            .order_by(StatusEntry.idx)
            .limit(batch - deleted)
            .with_for_update(skip_locked=True)
        )
        result = session.execute(
            delete(StatusEntry)
            .where(StatusEntry.id.in_(doomed.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )
        deleted += int(result.rowcount)  # type: ignore[attr-defined]
        if deleted >= batch:
            break
        if not session.scalar(select(exists().where(StatusEntry.list_id == list_id))):  # none left, none locked
            session.execute(update(StatusListRow).where(StatusListRow.id == list_id).values(purged=True))
    return deleted


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
        """The fresh list, or one made now from the database (None: there is no such list, or
        it is retired: every credential in it has expired)."""
        fresh = self.fresh(list_id, ttl=ttl)
        if fresh is not None:
            return fresh
        row = session.get(StatusListRow, list_id)
        if row is None or row.retired:
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
    """The lists still in use: those a desk can still meet a credential of. A retired list's
    credentials have all expired, so neither the trust bundle names it nor desks fetch it."""
    return list(
        session.scalars(select(StatusListRow.id).where(StatusListRow.retired.is_(False)).order_by(StatusListRow.id))
    )

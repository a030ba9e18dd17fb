"""What lets one issuer serve a whole city: status indexes allocated in bulk (random, never
reused, lists opened at half full), and lists retired once every credential in them has
expired: deleted batch by batch, no longer in the trust bundle, no longer fetched by desks.
On SQLite always, and on PostgreSQL when it is reachable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from issuer_support import postgres_database, running_issuer
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from credential import KeySet, StatusReference, verify_jwt
from issuer.db import make_engine, sessions, upgrade
from issuer.models import Batch, StatusEntry, StatusListRow
from issuer.service import purge_expired
from issuer.statuslists import allocate, ensure_list, list_ids, retire_expired
from verifier.sync import BUNDLE_LIMITS, TRUST_TYP, gather

URL = "https://id.riverton.example"
SIZE = 64
"""A tiny list, so that draws collide often and a list fills after 32 entries."""


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[Session]:
    """One open transaction on a migrated database, list 1 opened and one batch made."""
    with postgres_database() if kind == "postgresql" else _sqlite(tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        with sessions(engine).begin() as session:
            ensure_list(session, SIZE)
            session.add(Batch(id="b", revocation_hash="r", created_at=0, revoked=False))
            session.flush()
            yield session
        engine.dispose()


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'city.db'}"


def draw(session: Session, count: int, *, expires_at: int = 10_000) -> list[StatusReference]:
    return allocate(session, batch_id="b", expires_at=expires_at, count=count, size=SIZE, issuer_url=URL)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_bulk_allocation_draws_again_only_what_collided_and_never_reuses_an_index(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as session:
        held = session.get(StatusListRow, 1)  # loaded in the session: its count must not go stale
        batches = [draw(session, 8) for _ in range(8)]  # 64 entries: two lists of 32 (half of 64)
        assert held is not None and held.used == 32
        rows = session.execute(select(StatusEntry.list_id, StatusEntry.idx)).all()
        used = dict(session.execute(select(StatusListRow.id, StatusListRow.used)).all())
    references = [reference for batch in batches for reference in batch]
    assert len(rows) == len(set(rows)) == 64  # every entry stored once, none lost to a collision
    assert {(reference.uri, reference.idx) for reference in references} == {
        (f"{URL}/status/{list_id}", idx) for list_id, idx in rows
    }
    assert all(0 <= reference.idx < SIZE for reference in references)
    assert all(len({reference.uri for reference in batch}) == 1 for batch in batches)  # a batch shares one list
    assert used == {1: 32, 2: 32}  # a new list once the current one is half full
    assert any(batch != sorted(batch, key=lambda r: r.idx) for batch in batches)  # drawn order, not sorted


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_list_is_retired_once_all_its_credentials_expired_and_its_rows_go_in_batches(
    kind: str, tmp_path: Path
) -> None:
    with database(kind, tmp_path) as session:
        for _ in range(4):
            draw(session, 8, expires_at=1_000)  # list 1, full
        draw(session, 4, expires_at=1_000)  # list 2 ...
        draw(session, 4, expires_at=5_000)  # ... whose last credential expires later

        assert retire_expired(session, now=999) == 0
        assert list_ids(session) == [1, 2]
        deleted = [retire_expired(session, now=1_000, batch=10) for _ in range(5)]
        remaining = dict(session.execute(select(StatusEntry.list_id, func.count()).group_by(StatusEntry.list_id)).all())
        purged = dict(session.execute(select(StatusListRow.id, StatusListRow.purged)).all())
        assert deleted == [10, 10, 10, 2, 0]
        assert remaining == {2: 8}
        assert purged == {1: True, 2: False}  # emptied, so later purges no longer look at it
        assert list_ids(session) == [2]

        retire_expired(session, now=5_000)  # list 2 is the open one: retired all the same
        (reference,) = draw(session, 1, expires_at=9_000)
        assert list_ids(session) == [3] and reference.uri == f"{URL}/status/3"  # never into a retired list
        assert session.scalars(select(StatusEntry.list_id).distinct()).all() == [3]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_list_retired_after_it_was_read_takes_no_entry(kind: str, tmp_path: Path) -> None:
    """As when another process's purge retires the list between this one's read and its claim."""
    with database(kind, tmp_path) as session:
        draw(session, 1, expires_at=1_000)
        assert session.get(StatusListRow, 1) is not None  # this session believes list 1 open
        session.execute(update(StatusListRow).values(retired=True).execution_options(synchronize_session=False))
        (reference,) = draw(session, 1, expires_at=2_000)
        assert reference.uri == f"{URL}/status/2"
        assert session.execute(select(StatusListRow.id, StatusListRow.used).order_by(StatusListRow.id)).all() == [
            (1, 1),
            (2, 1),
        ]


def test_a_list_never_issued_into_is_not_retired(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as session:
        retire_expired(session, now=10**12)
        assert list_ids(session) == [1]


def test_the_trust_bundle_and_the_desk_leave_out_a_retired_list(tmp_path: Path) -> None:
    with running_issuer(tmp_path / "issuer") as issuer:
        issuer.receive(issuer.offer(), count=2)
        issuer.receive(issuer.offer(), count=2)
        client = issuer.client
        anchors = client.get("/.well-known/jwt-vc-issuer").json()["jwks"]

        def fetch(url: str) -> str:
            response = client.get(url)
            response.raise_for_status()
            return response.text

        def named() -> list[str]:
            payload = verify_jwt(
                fetch(f"{URL}/trust"),
                KeySet.from_jwks(anchors),
                typ=TRUST_TYP,
                what="the trust bundle",
                limits=BUNDLE_LIMITS,
            )
            return list(payload["status_lists"])

        assert named() == [f"{URL}/status/1"]
        with sessions(issuer.engine).begin() as session:  # a year and a day later, every credential expired
            purge_expired(session, now=int(time.time()) + 366 * 86_400)
            assert session.scalar(select(func.count()).select_from(StatusEntry)) == 0
        assert named() == []
        assert client.get("/status/1").status_code == 404

        issuer.receive(issuer.offer(), count=2)
        package = gather(URL, fetch, anchors)
        assert named() == [f"{URL}/status/2"]
        assert list(package["status_lists"]) == [f"{URL}/status/2"]  # what the desk fetches and holds


def test_the_migration_gives_each_list_the_latest_expiry_of_its_entries(tmp_path: Path) -> None:
    from test_issuer_migrations import upgrade_to  # noqa: PLC0415 - the same steps as the migration tests

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_to(engine, "0005")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO batch (id, revocation_hash, created_at, revoked) VALUES ('b', 'r', 0, 0)"))
        connection.execute(text("INSERT INTO status_list (id, size, used) VALUES (1, 64, 2), (2, 64, 0)"))
        connection.execute(text("INSERT INTO status_entry (list_id, idx, batch_id, expires_at, revoked) "
                                "VALUES (1, 5, 'b', 700, 0), (1, 9, 'b', 900, 0)"))  # fmt: skip
    upgrade(engine)
    with engine.connect() as connection:
        lists = connection.execute(text("SELECT id, expires_at, retired, purged FROM status_list ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in lists] == [(1, 900, False, False), (2, 0, False, False)]

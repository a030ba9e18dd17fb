"""Database engines and migrations: SQLite by default, PostgreSQL by URL.

SQLite runs with foreign keys on, write-ahead logging and ``secure_delete`` (deleted rows
are overwritten, so sealed claims leave no trace in free pages). Engines hide statement
parameters (offer ids, hashes) from error messages, which end up in logs. The schema is only
ever created or changed by Alembic (``issuer/migrations``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


POOL_TIMEOUT = 3.0
"""Seconds a request waits for a free connection before it is answered 503 ``service_unavailable``.

Short on purpose: the issuer admits only a few issuance requests at a time (``issuer/admission.py``),
so a longer wait means the database is slow or gone, and a wallet told to come back in two
seconds does better than one kept waiting for thirty and then given a 500."""

CONNECT_TIMEOUT = 5
"""Seconds to open a PostgreSQL connection: a server that does not answer is a 503, not a hang."""


def make_engine(url: str, *, pool_timeout: float = POOL_TIMEOUT) -> Engine:
    """An engine for ``url``; ``postgresql://`` URLs use psycopg 3."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        pooled = {} if url in {"sqlite://", "sqlite:///:memory:"} else {"pool_timeout": pool_timeout}
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **pooled)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=pool_timeout, hide_parameters=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT},
    )  # fmt: skip


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    for pragma in ("foreign_keys = ON", "journal_mode = WAL", "secure_delete = ON", "synchronous = FULL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (creating it on an empty database)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

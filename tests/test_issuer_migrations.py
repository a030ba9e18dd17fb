"""Alembic migrations: they build exactly the models' schema, and upgrading keeps the data.
On SQLite always, and on PostgreSQL when it is reachable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from issuer_support import postgres_database
from sqlalchemy import text

from issuer.db import MIGRATIONS, make_engine, upgrade
from issuer.models import Base


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_migrations_build_the_models_schema(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        engine.dispose()
    assert differences == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrading_keeps_the_data(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        engine = make_engine(url)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO clerk (username, password_hash, created_at) VALUES ('alice', 'x', 1)"))
        upgrade(engine)
        with engine.connect() as connection:
            row = connection.execute(text("SELECT username, failed_logins, locked_until FROM clerk")).one()
        engine.dispose()
    assert tuple(row) == ("alice", 0, 0)

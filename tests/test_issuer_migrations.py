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
from sqlalchemy import Engine, text

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


def upgrade_to(engine: Engine, revision: str) -> None:
    """The schema as it was at ``revision``, for data to be written before the later migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrading_keeps_the_data(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        engine = make_engine(url)
        upgrade_to(engine, "0001")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO clerk (username, password_hash, created_at) VALUES ('alice', 'x', 1)"))
        upgrade(engine)
        with engine.connect() as connection:
            row = connection.execute(text("SELECT username, failed_logins, locked_until FROM clerk")).one()
        engine.dispose()
    assert tuple(row) == ("alice", 0, 0)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_0004_keeps_pending_offers_and_grants(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        engine = make_engine(url)
        upgrade_to(engine, "0003")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO batch (id, revocation_hash, created_at, revoked) "
                                    "VALUES ('b1', 'r1', 0, false)"))  # fmt: skip
            connection.execute(text("INSERT INTO offer (id, code_hash, sealed_claims, pin_hash, pin_failures, "
                                    "batch_id, expires_at) VALUES ('o1', 'c1', 'x', 'p', 0, 'b1', 9)"))  # fmt: skip
            connection.execute(text('INSERT INTO "grant" (token_hash, sealed_claims, batch_id, c_nonce, issued_types, '
                                    "device_keys, expires_at) VALUES ('t1', 'x', 'b1', 'n', '', '', 9)"))  # fmt: skip
        upgrade(engine)
        with engine.connect() as connection:
            offer = connection.execute(text("SELECT id, sealed_token FROM offer")).one()
            grant = connection.execute(text('SELECT token_hash, issuance FROM "grant"')).one()
        engine.dispose()
    assert tuple(offer) == ("o1", None) and tuple(grant) == ("t1", "{}")

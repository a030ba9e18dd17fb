"""The canary test: after issuance, no claim value is anywhere the issuer keeps anything.

A resident with a unique random name and birthdate is enrolled and receives a batch; then the
SQLite file (with its WAL), or every row of every PostgreSQL table, and everything logged, are
searched for the name, the birthdate, the PIN, the pre-authorized code and the access token.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from issuer_support import enrolled, postgres_database, running_issuer
from sqlalchemy import inspect, text

from wallet.receive import parse_offer


def _canary() -> tuple[str, str]:
    year, month, day = 1930 + secrets.randbelow(60), 1 + secrets.randbelow(12), 1 + secrets.randbelow(28)
    return f"Canary{secrets.token_hex(8)}", f"{year:04d}-{month:02d}-{day:02d}"


def _secrets_of(issuer, caplog: pytest.LogCaptureFixture) -> tuple[list[str], str]:  # type: ignore[no-untyped-def]
    name, birthdate = _canary()
    caplog.set_level(logging.DEBUG)
    created = issuer.offer(enrolled(name, birthdate))
    issuer.receive(created, count=4)
    code = parse_offer(created.offer_uri).code
    return [name, birthdate, birthdate.replace("-", ""), created.pin, code, created.revocation_code], caplog.text


def test_sqlite_file_and_logs_hold_no_claim_value(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with running_issuer(tmp_path) as issuer:
        needles, logged = _secrets_of(issuer, caplog)
        issuer.engine.dispose()
        files = list(tmp_path.glob("issuer.db*"))
        assert files
        stored = b"".join(path.read_bytes() for path in files)
    assert len(stored) > 50_000
    for needle in needles[:4]:
        assert needle.encode() not in stored, needle
        assert needle not in logged
    for needle in needles[4:]:  # the code and revocation code: only their hashes are kept
        assert needle.encode() not in stored
        assert needle not in logged


def test_postgres_tables_and_logs_hold_no_claim_value(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    with postgres_database() as url, running_issuer(tmp_path, url) as issuer:
        needles, logged = _secrets_of(issuer, caplog)
        dumped = []
        with issuer.engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            assert {"offer", "grant", "batch", "status_entry", "issuer_key"} <= set(tables)
            for table in tables:
                dumped += [
                    str(row) for row in connection.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t'))
                ]
        everything = "\n".join(dumped)
        assert "status_entry" in tables and everything
        for needle in needles:
            assert needle not in everything, needle
            assert needle not in logged

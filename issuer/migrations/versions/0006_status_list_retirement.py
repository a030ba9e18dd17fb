"""City scale: a status list knows its latest credential expiry, and is retired after it

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    # plain ADD COLUMN, also on SQLite: rebuilding the table would break status_entry's foreign key
    op.add_column("status_list", sa.Column("expires_at", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("status_list", sa.Column("retired", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("status_list", sa.Column("purged", sa.Boolean(), server_default=sa.false(), nullable=False))
    # the lists issued into so far: their latest expiry, read once from their entries
    op.execute(
        "UPDATE status_list SET expires_at = COALESCE("
        "(SELECT MAX(status_entry.expires_at) FROM status_entry WHERE status_entry.list_id = status_list.id), 0)"
    )


def downgrade() -> None:
    op.drop_column("status_list", "purged")
    op.drop_column("status_list", "retired")
    op.drop_column("status_list", "expires_at")

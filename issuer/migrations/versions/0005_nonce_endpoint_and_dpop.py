"""OpenID4VCI 1.0: one-time values (nonce endpoint nonces, DPoP proof ids), DPoP-bound grants

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "one_time_value",
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("value_hash", name=op.f("pk_one_time_value")),
    )
    with op.batch_alter_table("one_time_value", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_one_time_value_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dpop_jkt", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.drop_column("dpop_jkt")
    with op.batch_alter_table("one_time_value", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_one_time_value_expires_at"))
    op.drop_table("one_time_value")

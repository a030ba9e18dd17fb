"""resumable issuance: the offer keeps its sealed access token, the grant what it issued

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_token", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issuance", sa.Text(), server_default="{}", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.drop_column("issuance")
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.drop_column("sealed_token")

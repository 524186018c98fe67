"""Sandbox bindings: which sandbox serves which session, owned by which manager, with
what a reaper needs to clean it up after a crash (roost.sandbox.bindings).

Revision ID: 0002_sandbox_bindings
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_sandbox_bindings"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_bindings",
        sa.Column("sandbox_id", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_used_at", sa.Float, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_sandbox_bindings_session", "sandbox_bindings", ["session_id", "type"])
    op.create_index("ix_sandbox_bindings_owner", "sandbox_bindings", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_sandbox_bindings_owner", table_name="sandbox_bindings")
    op.drop_index("ix_sandbox_bindings_session", table_name="sandbox_bindings")
    op.drop_table("sandbox_bindings")

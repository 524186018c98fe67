"""Secrets and data protection: the envelope-encrypted ``secrets`` table and the
per-tenant ``data_protection`` policy (encryption at rest, confidential, DLP).

Revision ID: 0008_govdata
Revises: 0007_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roost.store.schema import UTCDateTime

revision = "0008_govdata"
down_revision = "0007_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("tenant_id", sa.String(128), nullable=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("master_key_id", sa.String(64), nullable=False),
        sa.Column("wrapped_key", sa.Text, nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_secrets_master_key", "secrets", ["master_key_id"])
    op.create_table(
        "data_protection",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("encrypt", sa.Boolean, nullable=False),
        sa.Column("confidential", sa.Boolean, nullable=False),
        sa.Column("key_name", sa.String(200), nullable=True),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("data_protection")
    op.drop_index("ix_secrets_master_key", table_name="secrets")
    op.drop_table("secrets")

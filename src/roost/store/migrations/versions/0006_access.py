"""Tenants, quotas, and API keys with more roles, an expiry and a keyed hash (issue 21).

``api_keys.hash_scheme`` says how ``key_hash`` was made: rows already stored are
``sha256`` and are rewritten to the keyed hash at their first use (decision 0181).

Revision ID: 0006_access
Revises: 0005_evals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roost.store.schema import UTCDateTime

revision = "0006_access"
down_revision = "0005_evals"
branch_labels = None
depends_on = None

_OLD_ROLE_CHECK = "role IN ('admin', 'user')"
API_KEY_ROLE_CHECK = (
    "role IN ('admin', 'tenant_admin', 'developer', 'operator', 'viewer', 'user', 'metrics')"
)


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:  # SQLite: the table is rebuilt
        batch.add_column(sa.Column("expires_at", UTCDateTime, nullable=True))
        batch.add_column(
            sa.Column("hash_scheme", sa.String(32), nullable=False, server_default="sha256")
        )
        batch.drop_constraint("ck_api_keys_role", type_="check")
        batch.create_check_constraint("ck_api_keys_role", API_KEY_ROLE_CHECK)
        batch.create_index("ix_api_keys_tenant", ["tenant_id", "created_at"])
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("disabled_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "quotas",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("limits", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quotas")
    op.drop_table("tenants")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_tenant")
        batch.drop_constraint("ck_api_keys_role", type_="check")
        batch.create_check_constraint("ck_api_keys_role", _OLD_ROLE_CHECK)
        batch.drop_column("hash_scheme")
        batch.drop_column("expires_at")

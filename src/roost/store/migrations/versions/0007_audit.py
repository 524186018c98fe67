"""The audit trail (roost.govern.audit): hash-chained records, the chain's head, signed
checkpoints and legal holds. No foreign keys: a record outlives what it describes.

Revision ID: 0007_audit
Revises: 0006_access
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_audit"
down_revision = "0006_access"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_audit_records_at": ["at_us"],
    "ix_audit_records_user": ["user_id", "at_us"],
    "ix_audit_records_tenant": ["tenant_id", "at_us"],
    "ix_audit_records_action": ["action", "at_us"],
    "ix_audit_records_run": ["run_id"],
    "ix_audit_records_message": ["message_id"],
}


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("tenant_id", sa.String(128)),
        sa.Column("user_id", sa.String(128)),
        sa.Column("key_id", sa.String(64)),
        sa.Column("client", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(32)),
        sa.Column("resource_id", sa.String(256)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("session_id", sa.String(64)),
        sa.Column("message_id", sa.String(64)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    for name, columns in _INDEXES.items():
        op.create_index(name, "audit_records", columns)
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger, nullable=False),
        sa.Column("checkpoint_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
    )
    op.create_table(
        "audit_holds",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(128)),
        sa.Column("user_id", sa.String(128)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("released_at_us", sa.BigInteger),
    )


def downgrade() -> None:
    op.drop_table("audit_holds")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain")
    for name in reversed(list(_INDEXES)):
        op.drop_index(name, table_name="audit_records")
    op.drop_table("audit_records")

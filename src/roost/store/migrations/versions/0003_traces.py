"""Local trace store: the ``spans`` table written by roost.observe's span exporter.

Revision ID: 0003_traces
Revises: 0002_sandbox_bindings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_traces"
down_revision = "0002_sandbox_bindings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(32), primary_key=True),
        sa.Column("span_id", sa.String(16), primary_key=True),
        sa.Column("parent_span_id", sa.String(16), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("end_ns", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("status_message", sa.Text, nullable=True),
        sa.Column("operation", sa.String(64), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("tenant_id", sa.String(128), nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("input_tokens", sa.Integer, nullable=True),
        sa.Column("output_tokens", sa.Integer, nullable=True),
        sa.Column("cost", sa.Float, nullable=True),
        sa.Column("currency", sa.String(8), nullable=True),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("service", sa.String(128), nullable=True),
    )
    op.create_index("ix_spans_run_id", "spans", ["run_id"])
    op.create_index("ix_spans_session_id", "spans", ["session_id"])
    op.create_index("ix_spans_start_ns", "spans", ["start_ns"])


def downgrade() -> None:
    op.drop_index("ix_spans_start_ns", table_name="spans")
    op.drop_index("ix_spans_session_id", table_name="spans")
    op.drop_index("ix_spans_run_id", table_name="spans")
    op.drop_table("spans")

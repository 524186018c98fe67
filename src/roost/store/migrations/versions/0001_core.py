"""Core tables: sessions, messages, agent states, runs, run events, API keys.

Revision ID: 0001_core
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roost.store.schema import UTCDateTime

# Frozen copies: a later revision that adds a status must not rewrite this one.
RUN_STATUS_CHECK = (
    "status IN ('queued', 'running', 'waiting_approval', 'succeeded', 'failed', 'canceled')"
)
API_KEY_ROLE_CHECK = "role IN ('admin', 'user')"

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("app", sa.String(128), nullable=False),
        sa.Column("agent", sa.String(128)),
        sa.Column("user_id", sa.String(128)),
        sa.Column("tenant_id", sa.String(128)),
        sa.Column("title", sa.Text),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("msg_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_sessions_user", "sessions", ["tenant_id", "user_id", "created_at"])
    op.create_index("ix_sessions_created", "sessions", ["created_at", "id"])
    op.create_index("ix_sessions_updated", "sessions", ["updated_at", "id"])

    op.create_table(
        "messages",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(64)),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128)),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("partial", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("session_id", "seq", name="uq_messages_session_seq"),
    )
    op.create_index("ix_messages_run", "messages", ["run_id"])

    op.create_table(
        "agent_states",
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("agent_name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id", ondelete="CASCADE")),
        sa.Column("agent", sa.String(128)),
        sa.Column("user_id", sa.String(128)),
        sa.Column("tenant_id", sa.String(128)),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("input_message_id", sa.String(64)),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("model", sa.String(256)),
        sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cost", sa.Float),
        sa.Column("currency", sa.String(8)),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("owner", sa.String(128)),
        sa.Column("heartbeat_at", UTCDateTime),
        sa.CheckConstraint(RUN_STATUS_CHECK, name="ck_runs_status"),
    )
    op.create_index("ix_runs_session", "runs", ["session_id", "created_at"])
    op.create_index("ix_runs_status", "runs", ["status", "owner"])
    op.create_index("ix_runs_created", "runs", ["created_at"])

    op.create_table(
        "run_events",
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tenant_id", sa.String(128)),
        sa.Column("user_id", sa.String(128)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("last_used_at", UTCDateTime),
        sa.CheckConstraint(API_KEY_ROLE_CHECK, name="ck_api_keys_role"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("run_events")
    op.drop_table("runs")
    op.drop_table("agent_states")
    op.drop_table("messages")
    op.drop_table("sessions")

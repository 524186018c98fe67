"""Table definitions (SQLAlchemy Core): what the Alembic migrations build, as data.

The migrations are the source of truth for the DDL; these tables describe it for
Alembic's autogenerate and, through :data:`HEAD_TABLES`, create a fresh database without
Alembic (decision 0096; tests/store/test_fresh_schema.py proves both ways give the same
schema). Queries do not use them: they are literal SQL (:mod:`roost.store.statements`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

RUN_STATUS_CHECK = (
    "status IN ('queued', 'running', 'waiting_approval', 'succeeded', 'failed', 'canceled')"
)
API_KEY_ROLE_CHECK = (
    "role IN ('admin', 'tenant_admin', 'developer', 'operator', 'viewer', 'user', 'metrics')"
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and returned timezone-aware on every dialect.

    SQLite has no timezone type: values are stored as naive UTC ISO strings (which sort
    correctly) and made aware again on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - defensive, SQLAlchemy parses it
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


metadata = sa.MetaData()

sessions = sa.Table(
    "sessions",
    metadata,
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
    sa.Index("ix_sessions_user", "tenant_id", "user_id", "created_at"),
    sa.Index("ix_sessions_created", "created_at", "id"),
    sa.Index("ix_sessions_updated", "updated_at", "id"),
)

messages = sa.Table(
    "messages",
    metadata,
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
    sa.Index("ix_messages_run", "run_id"),
)

agent_states = sa.Table(
    "agent_states",
    metadata,
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

runs = sa.Table(
    "runs",
    metadata,
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
    sa.Index("ix_runs_session", "session_id", "created_at"),
    sa.Index("ix_runs_status", "status", "owner"),
    sa.Index("ix_runs_created", "created_at"),
    sa.Index("ix_runs_finished", "finished_at", "id"),
)

run_events = sa.Table(
    "run_events",
    metadata,
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

api_keys = sa.Table(
    "api_keys",
    metadata,
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
    sa.Column("expires_at", UTCDateTime),
    sa.Column("hash_scheme", sa.String(32), nullable=False, server_default="sha256"),
    sa.CheckConstraint(API_KEY_ROLE_CHECK, name="ck_api_keys_role"),
    sa.Index("ix_api_keys_tenant", "tenant_id", "created_at"),
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled_at", UTCDateTime),
)

quotas = sa.Table(
    "quotas",
    metadata,
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("limits", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)


sandbox_bindings = sa.Table(
    "sandbox_bindings",
    metadata,
    sa.Column("sandbox_id", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.String(128), nullable=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("backend", sa.String(32), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_used_at", sa.Float, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index("ix_sandbox_bindings_session", "session_id", "type"),
    sa.Index("ix_sandbox_bindings_owner", "owner"),
)

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("span_id", sa.String(16), primary_key=True),
    sa.Column("parent_span_id", sa.String(16), nullable=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, default="internal"),
    sa.Column("start_ns", sa.BigInteger, nullable=False),
    sa.Column("end_ns", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(8), nullable=False, default="unset"),
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
    sa.Column("attributes", sa.Text, nullable=False, default="{}"),
    sa.Column("events", sa.Text, nullable=False, default="[]"),
    sa.Column("service", sa.String(128), nullable=True),
    sa.Index("ix_spans_run_id", "run_id"),
    sa.Index("ix_spans_session_id", "session_id"),
    sa.Index("ix_spans_start_ns", "start_ns"),
)

# -- roost.evals (migration 0005_evals) ------------------------------------------------
eval_datasets = sa.Table(
    "eval_datasets",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("user_id", sa.String(128), nullable=True),
    sa.Column("tenant_id", sa.String(128), nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_eval_datasets_owner", "tenant_id", "user_id"),
)

eval_cases = sa.Table(
    "eval_cases",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "dataset_id",
        sa.String(64),
        sa.ForeignKey("eval_datasets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_eval_cases_dataset", "dataset_id", "seq"),
)

eval_experiments = sa.Table(
    "eval_experiments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("agent", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("user_id", sa.String(128), nullable=True),
    sa.Column("tenant_id", sa.String(128), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Index("ix_eval_experiments_owner", "tenant_id", "user_id"),
)

eval_results = sa.Table(
    "eval_results",
    metadata,
    sa.Column(
        "experiment_id",
        sa.String(64),
        sa.ForeignKey("eval_experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("repetition", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
)

release_policies = sa.Table(
    "release_policies",
    metadata,
    sa.Column("agent", sa.String(128), primary_key=True),
    sa.Column("policy", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

release_events = sa.Table(
    "release_events",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("agent", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=True),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_release_events_agent", "agent", "created_at"),
)

audit_records = sa.Table(
    "audit_records",
    metadata,
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
    sa.Index("ix_audit_records_at", "at_us"),
    sa.Index("ix_audit_records_user", "user_id", "at_us"),
    sa.Index("ix_audit_records_tenant", "tenant_id", "at_us"),
    sa.Index("ix_audit_records_action", "action", "at_us"),
    sa.Index("ix_audit_records_run", "run_id"),
    sa.Index("ix_audit_records_message", "message_id"),
)

audit_chain = sa.Table(
    "audit_chain",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("checkpoint_seq", sa.BigInteger, nullable=False),
    sa.Column("checkpoint_at_us", sa.BigInteger, nullable=False),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
)

audit_holds = sa.Table(
    "audit_holds",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(128)),
    sa.Column("user_id", sa.String(128)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(64)),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("released_at_us", sa.BigInteger),
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("tenant_id", sa.String(128), nullable=True),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("master_key_id", sa.String(64), nullable=False),
    sa.Column("wrapped_key", sa.Text, nullable=False),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_secrets_master_key", "master_key_id"),
)

data_protection = sa.Table(
    "data_protection",
    metadata,
    sa.Column("tenant_id", sa.String(128), primary_key=True),
    sa.Column("encrypt", sa.Boolean, nullable=False),
    sa.Column("confidential", sa.Boolean, nullable=False),
    sa.Column("key_name", sa.String(200), nullable=True),
    sa.Column("policy", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

HEAD_TABLES: tuple[sa.Table, ...] = (
    sessions,
    messages,
    agent_states,
    runs,
    run_events,
    api_keys,
    sandbox_bindings,
    spans,
    eval_datasets,
    eval_cases,
    eval_experiments,
    eval_results,
    release_policies,
    release_events,
    tenants,
    quotas,
    audit_records,
    audit_chain,
    audit_checkpoints,
    audit_holds,
    secrets,
    data_protection,
)
"""Every table the packaged migrations create, referenced tables first: what a fresh
database gets in one transaction (``_migrate.create_if_empty``)."""

"""Evaluation and gray release (roost.evals): datasets and their cases, experiments and
their per-case results, release policies per agent and the history of their changes.

Revision ID: 0005_evals
Revises: 0004_runs_finished
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roost.store.schema import UTCDateTime

revision = "0005_evals"
down_revision = "0004_runs_finished"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_datasets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("tenant_id", sa.String(128), nullable=True),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_eval_datasets_owner", "eval_datasets", ["tenant_id", "user_id"])
    op.create_table(
        "eval_cases",
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
    )
    op.create_index("ix_eval_cases_dataset", "eval_cases", ["dataset_id", "seq"])
    op.create_table(
        "eval_experiments",
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
    )
    op.create_index("ix_eval_experiments_owner", "eval_experiments", ["tenant_id", "user_id"])
    op.create_table(
        "eval_results",
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
    op.create_table(
        "release_policies",
        sa.Column("agent", sa.String(128), primary_key=True),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "release_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_release_events_agent", "release_events", ["agent", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_release_events_agent", table_name="release_events")
    op.drop_table("release_events")
    op.drop_table("release_policies")
    op.drop_table("eval_results")
    op.drop_index("ix_eval_experiments_owner", table_name="eval_experiments")
    op.drop_table("eval_experiments")
    op.drop_index("ix_eval_cases_dataset", table_name="eval_cases")
    op.drop_table("eval_cases")
    op.drop_index("ix_eval_datasets_owner", table_name="eval_datasets")
    op.drop_table("eval_datasets")

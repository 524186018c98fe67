"""An index on when runs finished, for retention: pruning the events of runs finished
long ago walks only the runs finished since the last pass (roost.store.retention).

Revision ID: 0004_runs_finished
Revises: 0003_traces
"""

from __future__ import annotations

from alembic import op

revision = "0004_runs_finished"
down_revision = "0003_traces"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_finished", "runs", ["finished_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_runs_finished", table_name="runs")

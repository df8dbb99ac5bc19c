"""Indexes for the alarm list under load (issue 11's ``bench api``).

* ``(occurred_at, id)`` replaces ``(occurred_at)``: the list's order (newest first, then id) is
  the index's, read backwards, so a page (a deep one too) is read from the index, never sorted.
* ``(severity, occurred_at)``: counting a severity filter no longer reads every row.

Revision ID: a0005
Revises: a0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "a0005"
down_revision = "a0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alarms_occurred_at_id", "alarms", ["occurred_at", "id"])
    op.drop_index("ix_alarms_occurred_at", table_name="alarms")
    op.create_index("ix_alarms_severity_occurred_at", "alarms", ["severity", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_alarms_severity_occurred_at", table_name="alarms")
    op.create_index("ix_alarms_occurred_at", "alarms", ["occurred_at"])
    op.drop_index("ix_alarms_occurred_at_id", table_name="alarms")

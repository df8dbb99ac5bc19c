"""Camera snoozes (issue 13): a camera's alarms held back for 5 to 60 minutes.

Revision ID: a0006
Revises: a0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0006"
down_revision = "a0005"
branch_labels = None
depends_on = None


TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "camera_snoozes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("camera_id", sa.String(100), nullable=False),
        sa.Column("until", TS, nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.Column("ended_by", sa.String(100)),
        sa.Column("suppressed", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_snoozes")),
    )
    op.create_index("ix_camera_snoozes_camera_until", "camera_snoozes", ["camera_id", "until"])


def downgrade() -> None:
    op.drop_index("ix_camera_snoozes_camera_until", table_name="camera_snoozes")
    op.drop_table("camera_snoozes")

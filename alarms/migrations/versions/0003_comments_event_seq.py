"""Alarm comments, and a commit-ordered sequence number on every event (the live feed's event id).

``alarm_events.seq`` is filled for existing rows in ``occurred_at, id`` order; the one-row
``alarm_event_counter`` then holds the last number handed out. New events take the next number
inside their own transaction (see :func:`alarms.outbox.record_event`).

Revision ID: a0003
Revises: a0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0003"
down_revision = "a0002"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite cannot make a column NOT NULL without copying the table, and copying alarm_events
    # would cascade-delete its outbox rows: there the column starts NOT NULL with a default of 0.
    default = "0" if sqlite else None
    op.add_column("alarm_events", sa.Column("seq", SERIAL, nullable=not sqlite, server_default=default))
    op.execute(
        "UPDATE alarm_events SET seq = numbered.n FROM "
        "(SELECT id, ROW_NUMBER() OVER (ORDER BY occurred_at, id) AS n FROM alarm_events) AS numbered "
        "WHERE alarm_events.id = numbered.id"
    )
    if not sqlite:
        op.alter_column("alarm_events", "seq", existing_type=SERIAL, nullable=False)
    op.create_index("uq_alarm_events_seq", "alarm_events", ["seq"], unique=True)
    op.create_table(
        "alarm_event_counter",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("last_seq", SERIAL, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_event_counter")),
    )
    op.execute(
        "INSERT INTO alarm_event_counter (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM alarm_events"
    )
    op.create_table(
        "alarm_comments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("alarm_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("author_kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_comments")),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], ondelete="CASCADE", name=op.f("fk_alarm_comments_alarm_id_alarms")
        ),
    )
    op.create_index("ix_alarm_comments_alarm_id", "alarm_comments", ["alarm_id"])


def downgrade() -> None:
    op.drop_index("ix_alarm_comments_alarm_id", table_name="alarm_comments")
    op.drop_table("alarm_comments")
    op.drop_table("alarm_event_counter")
    op.drop_index("uq_alarm_events_seq", table_name="alarm_events")
    op.drop_column("alarm_events", "seq")  # SQLite >= 3.35 drops a column in place

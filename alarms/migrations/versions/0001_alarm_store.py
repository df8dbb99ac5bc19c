"""Alarm store: alarms, events, transactional outbox, delivery log, endpoint health.

Revision ID: a0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("camera_id", sa.String(100)),
        sa.Column("zone", sa.String(100)),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("subject_kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("similarity", sa.Float),
        sa.Column("plate_text", sa.String(32)),
        sa.Column("snapshot_path", sa.String(500)),
        sa.Column("crop_path", sa.String(500)),
        sa.Column("dedup_key", sa.String(500), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("acknowledged_at", TS),
        sa.Column("acknowledged_by", sa.String(100)),
        sa.Column("resolved_at", TS),
        sa.Column("resolved_by", sa.String(100)),
        sa.Column("resolution_note", sa.Text),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
        sa.CheckConstraint("state IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_alarms_state")),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high', 'critical')", name=op.f("ck_alarms_severity")
        ),
    )
    op.create_index("ix_alarms_occurred_at", "alarms", ["occurred_at"])
    op.create_index("ix_alarms_state_occurred_at", "alarms", ["state", "occurred_at"])
    op.create_index("ix_alarms_camera_occurred_at", "alarms", ["camera_id", "occurred_at"])
    op.create_table(
        "alarm_events",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("alarm_id", sa.String(36)),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_events")),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], ondelete="CASCADE", name=op.f("fk_alarm_events_alarm_id_alarms")
        ),
    )
    op.create_index("ix_alarm_events_occurred_at", "alarm_events", ["occurred_at"])
    op.create_index("ix_alarm_events_alarm_id", "alarm_events", ["alarm_id"])
    op.create_table(
        "outbox_messages",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("claim_token", sa.String(36)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["alarm_events.id"],
            ondelete="CASCADE",
            name=op.f("fk_outbox_messages_event_id_alarm_events"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'dead')", name=op.f("ck_outbox_messages_status")
        ),
    )
    op.create_index("ix_outbox_messages_event_id", "outbox_messages", ["event_id"])
    op.create_index("ix_outbox_messages_due", "outbox_messages", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_messages_endpoint_status", "outbox_messages", ["endpoint_id", "status"])
    op.create_index(
        "uq_outbox_messages_endpoint_event", "outbox_messages", ["endpoint_id", "event_id"], unique=True
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("message_id", SERIAL, nullable=False),
        sa.Column("endpoint_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outbox_messages.id"],
            ondelete="CASCADE",
            name=op.f("fk_delivery_attempts_message_id_outbox_messages"),
        ),
    )
    op.create_index("ix_delivery_attempts_message_id", "delivery_attempts", ["message_id"])
    op.create_index("ix_delivery_attempts_endpoint_id", "delivery_attempts", ["endpoint_id"])
    op.create_table(
        "delivery_endpoints",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("failing_since", TS),
        sa.Column("last_success_at", TS),
        sa.Column("disabled_at", TS),
        sa.Column("disabled_reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_endpoints")),
    )


def downgrade() -> None:
    for table in ("delivery_endpoints", "delivery_attempts", "outbox_messages", "alarm_events", "alarms"):
        op.drop_table(table)

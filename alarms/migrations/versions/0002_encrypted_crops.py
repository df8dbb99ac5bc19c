"""Alarm face crops encrypted in the database, and redaction when the registry deletes a person.

Crops stored before this revision stay plain ``.crop.jpg`` files until the store next opens with
a key (:meth:`alarms.store.AlarmStore.encrypt_legacy_crops`): migrations have no key.

Revision ID: a0002
Revises: a0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        batch.add_column(sa.Column("crop_ct", sa.LargeBinary))
        batch.add_column(sa.Column("crop_key_id", sa.String(16)))
        batch.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True)))
    op.create_index("ix_alarms_subject", "alarms", ["subject_kind", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_alarms_subject", table_name="alarms")
    with op.batch_alter_table("alarms") as batch:
        batch.drop_column("redacted_at")
        batch.drop_column("crop_key_id")
        batch.drop_column("crop_ct")

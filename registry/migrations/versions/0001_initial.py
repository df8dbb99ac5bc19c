"""Initial registry: residents, face templates, vehicles, template events, audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(36)
TS = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    state = op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_state")),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0}])
    op.create_table(
        "residents",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("building", sa.String(32)),
        sa.Column("unit", sa.String(32)),
        sa.Column("room", sa.String(32)),
        sa.Column("phone", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents")),
        sa.CheckConstraint("status IN ('active', 'moved_out')", name=op.f("ck_residents_status")),
    )
    op.create_index("ix_residents_address", "residents", ["building", "unit", "room"])
    op.create_table(
        "face_templates",
        sa.Column("id", ID, nullable=False),
        sa.Column("resident_id", ID, nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("embedding_ct", sa.LargeBinary, nullable=False),
        sa.Column("crop_ct", sa.LargeBinary),
        sa.Column("quality", sa.Float),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_templates")),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            ondelete="CASCADE",
            name=op.f("fk_face_templates_resident_id_residents"),
        ),
    )
    op.create_index(op.f("ix_face_templates_resident_id"), "face_templates", ["resident_id"])
    op.create_index(op.f("ix_face_templates_model_id"), "face_templates", ["model_id"])
    op.create_table(
        "vehicles",
        sa.Column("id", ID, nullable=False),
        sa.Column("plate", sa.String(16), nullable=False),
        sa.Column("plate_colour", sa.String(16)),
        sa.Column("plate_type", sa.String(16)),
        sa.Column("resident_id", ID),
        sa.Column("parking_permit", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
        sa.UniqueConstraint("plate", name=op.f("uq_vehicles_plate")),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            ondelete="CASCADE",
            name=op.f("fk_vehicles_resident_id_residents"),
        ),
    )
    op.create_index(op.f("ix_vehicles_resident_id"), "vehicles", ["resident_id"])
    op.create_table(
        "template_events",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("template_id", ID, nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_events")),
    )
    op.create_index(op.f("ix_template_events_version"), "template_events", ["version"])
    op.create_table(
        "audit_log",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", ID),
        sa.Column("details", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_entity_id"), "audit_log", ["entity_id"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "template_events",
        "vehicles",
        "face_templates",
        "residents",
        "registry_state",
    ):
        op.drop_table(table)

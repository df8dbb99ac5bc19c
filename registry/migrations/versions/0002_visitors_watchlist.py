"""Visitors, watchlist, resident tags; templates and vehicles may belong to visitors/watchlist.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(36)
TS = sa.DateTime(timezone=True)
ONE_OWNER = (
    "(CASE WHEN resident_id IS NULL THEN 0 ELSE 1 END + CASE WHEN visitor_id IS NULL THEN 0 ELSE 1 END"
    " + CASE WHEN watchlist_id IS NULL THEN 0 ELSE 1 END) = 1"
)


def upgrade() -> None:
    op.add_column("residents", sa.Column("tags", sa.JSON, nullable=False, server_default=sa.text("'[]'")))
    op.create_table(
        "visitors",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("host_resident_id", ID, nullable=False),
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("valid_until", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitors")),
        sa.ForeignKeyConstraint(
            ["host_resident_id"],
            ["residents.id"],
            ondelete="CASCADE",
            name=op.f("fk_visitors_host_resident_id_residents"),
        ),
        sa.CheckConstraint("valid_until >= valid_from", name=op.f("ck_visitors_validity")),
    )
    op.create_index(op.f("ix_visitors_host_resident_id"), "visitors", ["host_resident_id"])
    op.create_index(op.f("ix_visitors_valid_until"), "visitors", ["valid_until"])
    op.create_table(
        "watchlist_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("plate", sa.String(16)),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist_entries")),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high', 'critical')", name=op.f("ck_watchlist_entries_severity")
        ),
    )
    op.create_index(op.f("ix_watchlist_entries_plate"), "watchlist_entries", ["plate"])
    with op.batch_alter_table("face_templates") as batch:
        batch.alter_column("resident_id", existing_type=ID, nullable=True)
        batch.add_column(sa.Column("visitor_id", ID))
        batch.add_column(sa.Column("watchlist_id", ID))
        batch.create_foreign_key(
            op.f("fk_face_templates_visitor_id_visitors"),
            "visitors",
            ["visitor_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_foreign_key(
            op.f("fk_face_templates_watchlist_id_watchlist_entries"),
            "watchlist_entries",
            ["watchlist_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_check_constraint(op.f("ck_face_templates_one_owner"), sa.text(ONE_OWNER))
        batch.create_index(op.f("ix_face_templates_visitor_id"), ["visitor_id"])
        batch.create_index(op.f("ix_face_templates_watchlist_id"), ["watchlist_id"])
    with op.batch_alter_table("vehicles") as batch:
        batch.add_column(sa.Column("visitor_id", ID))
        batch.create_foreign_key(
            op.f("fk_vehicles_visitor_id_visitors"), "visitors", ["visitor_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index(op.f("ix_vehicles_visitor_id"), ["visitor_id"])


def downgrade() -> None:
    with op.batch_alter_table("vehicles") as batch:
        batch.drop_index(op.f("ix_vehicles_visitor_id"))
        batch.drop_constraint(op.f("fk_vehicles_visitor_id_visitors"), type_="foreignkey")
        batch.drop_column("visitor_id")
    op.execute("DELETE FROM face_templates WHERE resident_id IS NULL")
    with op.batch_alter_table("face_templates") as batch:
        batch.drop_constraint(op.f("ck_face_templates_one_owner"), type_="check")
        batch.drop_index(op.f("ix_face_templates_watchlist_id"))
        batch.drop_index(op.f("ix_face_templates_visitor_id"))
        batch.drop_constraint(op.f("fk_face_templates_watchlist_id_watchlist_entries"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_face_templates_visitor_id_visitors"), type_="foreignkey")
        batch.drop_column("watchlist_id")
        batch.drop_column("visitor_id")
        batch.alter_column("resident_id", existing_type=ID, nullable=False)
    op.drop_table("watchlist_entries")
    op.drop_table("visitors")
    op.drop_column("residents", "tags")

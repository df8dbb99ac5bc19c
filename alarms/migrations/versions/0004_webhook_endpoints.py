"""Webhook endpoints managed over the API, their signing secrets encrypted with the registry's keyring.

Revision ID: a0004
Revises: a0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0004"
down_revision = "a0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("event_types", sa.JSON, nullable=False),
        sa.Column("secret_ct", sa.LargeBinary, nullable=False),
        sa.Column("secret_key_id", sa.String(16), nullable=False),
        sa.Column("secret_fingerprint", sa.String(16), nullable=False),
        sa.Column("previous_secret_ct", sa.LargeBinary),
        sa.Column("previous_secret_key_id", sa.String(16)),
        sa.Column("previous_secret_expires_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("disabled_by", sa.String(100)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )


def downgrade() -> None:
    op.drop_table("webhook_endpoints")

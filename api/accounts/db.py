"""The account tables' migrations (version table ``api_alembic_version``), on a storage engine."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from storage import migrations

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the account tables to ``revision`` (default: the newest)."""
    migrations.upgrade(engine, MIGRATIONS, revision)
    logger.debug("account tables migrated to %s", revision)

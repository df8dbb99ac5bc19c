"""The alarm store's migrations, on an engine made by :func:`storage.db.make_engine`."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from storage.db import checkpoint, is_sqlite, make_engine

__all__ = ["VERSION_TABLE", "checkpoint", "current_revision", "is_sqlite", "make_engine", "upgrade"]

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alarms_alembic_version"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the alarm tables to ``revision`` (default: the newest)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    logger.debug("alarm store at revision %s", current_revision(engine))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()

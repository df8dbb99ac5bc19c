"""The registry's migrations, on an engine made by :func:`storage.db.make_engine`."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from storage import migrations

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "head"


def upgrade(engine: Engine, revision: str = HEAD) -> None:
    """Migrate the database to ``revision`` (default: the newest)."""
    migrations.upgrade(engine, MIGRATIONS, revision)
    logger.debug("registry database at revision %s", current_revision(engine))


def current_revision(engine: Engine) -> str | None:
    return migrations.current_revision(engine)

"""Alembic migrations run on an engine: one upgrade and one revision query for every set of tables.

The registry, the alarm store and the API accounts each keep their own migrations folder (and
version table) in the same database; their ``env.py`` runs on the connection handed in here.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

DEFAULT_VERSION_TABLE = "alembic_version"


def upgrade(engine: Engine, folder: Path, revision: str = "head") -> None:
    """Run the migrations in ``folder`` up to ``revision`` in one transaction on ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(folder))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine, version_table: str = DEFAULT_VERSION_TABLE) -> str | None:
    """The revision the tables of ``version_table`` are at (``None`` before the first migration)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        return context.get_current_revision()

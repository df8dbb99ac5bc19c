"""Alembic migrations run on an engine: one upgrade and one revision query for every set of tables.

The registry, the alarm store and the API accounts each keep their own migrations folder (and
version table) in the same database; their ``env.py`` runs on the connection handed in here.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData

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


def _own_tables_only(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Autogenerate compares only the package's own tables, never another package's in the same database.
    return not (type_ == "table" and reflected and compare_to is None)


def run_env(target_metadata: MetaData, version_table: str, runner: str) -> None:
    """The body of a package's Alembic ``env.py``: migrate on the connection :func:`upgrade` handed in.

    ``runner`` names the function to use instead when the connection is missing (the message).
    """
    from alembic import context

    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported")
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(f"run these migrations through {runner}")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        include_object=_own_tables_only,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()

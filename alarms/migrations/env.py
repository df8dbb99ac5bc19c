"""Alembic environment of the alarm store: runs on a connection handed in by :func:`alarms.db.upgrade`.

The version table is ``alarms_alembic_version`` so these migrations share a database with the
registry's (which use Alembic's default table).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from alarms.schema import Base

VERSION_TABLE = "alarms_alembic_version"
config = context.config
target_metadata = Base.metadata


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Autogenerate compares only this package's tables, never the registry's.
    return not (type_ == "table" and reflected and compare_to is None)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=_include,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
_connection = config.attributes.get("connection")
if _connection is None:
    raise RuntimeError("run the alarm store's migrations through alarms.db.upgrade(engine)")
_run(_connection)

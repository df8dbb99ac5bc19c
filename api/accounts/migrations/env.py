"""Alembic environment of the API accounts: runs on a connection handed in by :func:`api.accounts.db.upgrade`.

The version table is ``api_alembic_version`` so these migrations share a database with the
registry's and the alarm store's.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from api.accounts.schema import metadata

VERSION_TABLE = "api_alembic_version"
config = context.config
target_metadata = metadata


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
    raise RuntimeError("run the account migrations through api.accounts.db.upgrade(engine)")
_run(_connection)

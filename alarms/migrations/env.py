"""Alembic environment of the alarm store: runs on a connection handed in by :func:`alarms.db.upgrade`.

The version table is ``alarms_alembic_version`` so these migrations share a database with the
registry's (which use Alembic's default table).
"""

from __future__ import annotations

from alarms.schema import Base
from storage.migrations import run_env

VERSION_TABLE = "alarms_alembic_version"

run_env(Base.metadata, VERSION_TABLE, "alarms.db.upgrade(engine)")

"""Alembic environment of the API accounts: runs on a connection handed in by :func:`api.accounts.db.upgrade`.

The version table is ``api_alembic_version`` so these migrations share a database with the
registry's and the alarm store's.
"""

from __future__ import annotations

from api.accounts.schema import metadata
from storage.migrations import run_env

VERSION_TABLE = "api_alembic_version"

run_env(metadata, VERSION_TABLE, "api.accounts.db.upgrade(engine)")

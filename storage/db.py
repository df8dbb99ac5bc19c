"""Database engines: SQLite (WAL, foreign keys, secure delete) or PostgreSQL by URL.

The registry and the alarm store share one database; each package keeps its own migrations.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from storage.files import data_dir

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint and index naming convention of every Estatewatch schema (registry and alarm
store): migrations name constraints by it, so it must never change."""


def default_database_url() -> str:
    """``sqlite:///<data dir>/estatewatch.db``: the file the registry and the alarm store share."""
    return f"sqlite:///{(data_dir() / 'estatewatch.db').resolve()}"


SQLITE_POOL_SIZE = 20
"""Connections a SQLite engine keeps open (and as many more while busy): 40, the API's thread pool."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys, a busy timeout and secure delete."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # The API's thread pool runs up to 40 requests at once (anyio's default); with SQLAlchemy's
    # default pool (5 kept, 10 more) most of them opened a connection, ran the pragmas below and
    # closed it again on every request under load (about 9% of the server's CPU per alarm list
    # request with 50 clients). SQLite connections are cheap to keep.
    engine = create_engine(url, connect_args={"timeout": 30.0, "check_same_thread": False},
                           pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted biometric rows are overwritten with zeros, not left in free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


def checkpoint(engine: Engine) -> None:
    """SQLite: fold the WAL into the database file and truncate it (no-op elsewhere)."""
    if is_sqlite(engine):
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


_USERINFO = re.compile(r"(://[^:@/\s]*):[^@/\s]*@")


class DatabaseProbe:
    """``SELECT 1`` with a deadline, for readiness checks: whether the database answers, and why not.

    A probe that hangs (a database host that drops packets) is left to finish in its own daemon
    thread; while it hangs, later checks report it instead of starting another, so a stuck
    database never piles up threads or pool connections.

    Args:
        engine: the database.
        timeout_s: how long a check waits for the answer.
    """

    def __init__(self, engine: Engine, timeout_s: float = 2.0) -> None:
        self.engine, self.timeout_s = engine, timeout_s
        self._lock = threading.Lock()
        self._pending: tuple[threading.Thread, float] | None = None

    def check(self) -> str | None:
        """``None`` when the database answered in time, else why not (no password in it)."""
        with self._lock:
            if self._pending is not None and self._pending[0].is_alive():
                return f"no answer to SELECT 1 for {time.monotonic() - self._pending[1]:.0f} s"
            outcome: list[str | None] = []
            thread = threading.Thread(target=self._select_one, args=(outcome,), name="db-probe", daemon=True)
            self._pending = (thread, time.monotonic())
            thread.start()
        thread.join(self.timeout_s)
        if thread.is_alive():
            return f"no answer to SELECT 1 within {self.timeout_s:g} s"
        return outcome[0] if outcome else "the check ended without an answer"

    def _select_one(self, outcome: list[str | None]) -> None:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1")).scalar_one()
            outcome.append(None)
        except Exception as exc:  # any failure is the answer
            cause = getattr(exc, "orig", None) or exc
            first = (str(cause).strip().splitlines() or [""])[0][:300]
            outcome.append(_USERINFO.sub(r"\1:***@", f"{type(cause).__name__}: {first}"))

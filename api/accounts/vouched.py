"""Credentials checked a moment ago: their principals, kept a few seconds (pure: time passed in).

Each request with a login token or an integrator key would otherwise cost a database query (about
1 ms on SQLite, measured with ``Accounts.authenticate``); a console polling the alarm list asks
with the same token again and again. Entries live ``ttl`` at most (and never past a token's
expiry). The :class:`~api.accounts.store.Accounts` that revokes (logout, disable, delete, key
revocation) clears them all at once, so revocation is immediate in that process; another process
sharing the database (a second server, the CLI) is heard within ``ttl``.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from api.accounts.principal import Principal

DEFAULT_TTL = dt.timedelta(seconds=5)
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    until: dt.datetime


class VouchedCredentials:
    """Principal by credential digest, each until ``until`` (at most ``ttl`` after it was checked).

    ``generation`` guards against a check that read the database before a revocation committed
    and stores its answer after :meth:`clear`: :meth:`put` drops answers of an older generation.
    """

    def __init__(self, ttl: dt.timedelta = DEFAULT_TTL, max_entries: int = MAX_ENTRIES) -> None:
        if ttl < dt.timedelta(0):
            raise ValueError("the credential cache's ttl must not be negative")
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, digest: str, now: dt.datetime) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None or entry.until <= now:
            return None
        return entry.principal

    def put(self, digest: str, principal: Principal, now: dt.datetime, generation: int,
            expires_at: dt.datetime | None = None) -> None:
        """Keep ``principal`` until ``now + ttl`` (or ``expires_at``, if sooner) unless cleared since."""
        if self.ttl <= dt.timedelta(0):
            return
        until = now + self.ttl if expires_at is None else min(now + self.ttl, expires_at)
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = _Entry(principal, until)

    def clear(self) -> None:
        """Forget every entry (a credential was revoked, a user disabled or deleted)."""
        with self._lock:
            self.generation += 1
            self._entries.clear()

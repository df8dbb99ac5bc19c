"""Alarm list answers kept for the store's current version: identical queries are answered once.

Consoles poll the same first page; between two alarm changes every one of them gets the same
bytes. An answer is kept under its query key (filter with the caller's cameras, page, URL base:
:func:`api.routes.alarms.list_query_key`) and the store's change counter
(:meth:`alarms.store.AlarmStore.list_version`, raised by database triggers on every change of
``alarms``, by any process). It is served only while the counter still has that value, so it is
never staler than a fresh read, and only for the same key, so never to a caller of other cameras.
Keeping only the newest version's answers bounds memory by the number of distinct queries asked
between two changes (and by ``max_entries`` / ``max_bytes``).
"""

from __future__ import annotations

import threading

DEFAULT_MAX_ENTRIES = 256
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
MAX_ANSWER_BYTES = 1024 * 1024
"""Larger answers (1000 alarms with long details) are not kept: rare, and they would crowd out the rest."""


class ListAnswers:
    """Rendered list answers of the newest store version seen, by query key (thread-safe)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._lock = threading.Lock()
        self._version = -1
        self._answers: dict[str, bytes] = {}
        self._bytes = 0
        self.hits = self.misses = 0

    def get(self, key: str, version: int) -> bytes | None:
        """The answer to ``key`` rendered at exactly ``version``; ``None`` if there is none."""
        with self._lock:
            body = self._answers.get(key) if version == self._version else None
            if body is None:
                self.misses += 1
            else:
                self.hits += 1
            return body

    def put(self, key: str, version: int, body: bytes) -> None:
        """Keep ``body`` as the answer to ``key`` at ``version`` (older versions' answers go)."""
        if len(body) > MAX_ANSWER_BYTES:
            return
        with self._lock:
            if version < self._version:
                return  # rendered before a change another request already saw: never served
            if version > self._version or len(self._answers) >= self.max_entries \
                    or self._bytes + len(body) > self.max_bytes:
                self._answers.clear()
                self._bytes = 0
                self._version = version
            self._bytes += len(body) - len(self._answers.get(key, b""))
            self._answers[key] = body

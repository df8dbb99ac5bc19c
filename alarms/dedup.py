"""Dedup and cooldown of alarm drafts: one alarm per (rule, subject, camera or zone) per episode.

A key raises when it has not been seen for ``cooldown_s`` seconds. Every sighting, raised or
suppressed, restarts the quiet period, so something that keeps recurring (a flapping camera:
offline, online, offline within the cooldown; a person loitering across many tracks) stays one
alarm for as long as it keeps recurring. ``renotify_s`` optionally raises again when a key has
been suppressed continuously for that long since its last raise.

Pure: the caller passes the time (timezone-aware datetimes); no clock, no threads.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from alarms.types import AlarmDraft


@dataclass(slots=True)
class _Entry:
    raised_at: dt.datetime
    last_seen: dt.datetime
    cooldown_s: float


class Deduplicator:
    """Which alarm drafts to raise; remembers each key until its cooldown has passed."""

    def __init__(self, default_cooldown_s: float = 300.0, renotify_s: float | None = None) -> None:
        _check_seconds("default_cooldown_s", default_cooldown_s)
        if renotify_s is not None:
            _check_seconds("renotify_s", renotify_s)
        self.default_cooldown_s = default_cooldown_s
        self.renotify_s = renotify_s
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def should_raise(self, key: str, now: dt.datetime, cooldown_s: float | None = None) -> bool:
        """Record a sighting of ``key`` at ``now``; True when it must be raised as a new alarm.

        A time earlier than the key's last sighting (clock step back, out-of-order events) is
        suppressed and does not move the window.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        cooldown = self.default_cooldown_s if cooldown_s is None else _check_seconds("cooldown_s", cooldown_s)
        entry = self._entries.get(key)
        if entry is None or (now - entry.last_seen).total_seconds() >= entry.cooldown_s:
            self._entries[key] = _Entry(now, now, cooldown)
            return True
        if now < entry.last_seen:
            return False
        entry.last_seen, entry.cooldown_s = now, cooldown
        if self.renotify_s is not None and (now - entry.raised_at).total_seconds() >= self.renotify_s:
            entry.raised_at = now
            return True
        return False

    def admit(self, drafts: Iterable[AlarmDraft], now: dt.datetime) -> list[AlarmDraft]:
        """The drafts to raise, each under its own ``dedup_key`` and ``cooldown_s``."""
        return [d for d in drafts if self.should_raise(d.dedup_key, now, d.cooldown_s)]

    def expire(self, now: dt.datetime) -> int:
        """Forget keys whose cooldown has passed (they would raise anyway); returns how many."""
        stale = [k for k, e in self._entries.items() if (now - e.last_seen).total_seconds() >= e.cooldown_s]
        for key in stale:
            del self._entries[key]
        return len(stale)


def _check_seconds(name: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value

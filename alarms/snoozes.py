"""Camera snoozes: a guard holds back a noisy camera's alarms for 5 to 60 minutes.

A snooze is stored (``camera_snoozes``), announced (``camera.snoozed`` / ``camera.unsnoozed``
events, camera-scoped on the live feed and to webhooks that ask for them) and ends by itself when
its ``until`` passes; ending it early marks it ended.

While a camera is snoozed the intake drops its new alarm drafts before the deduplicator
(:meth:`Snoozes.held`), except watchlist matches (``watchlist_person``, ``watchlist_vehicle``)
and the camera's own health (``camera_offline``, ``camera_tampered``): a snooze silences the
scene's noise (workers, deliveries), never a wanted person or vehicle, nor a camera being
covered or cut while nobody listens. Each draft held back is counted on its
snooze (``suppressed``, kept in the row when the cache refreshes and when the snooze ends), so
nothing is lost without a trace.

The check runs per frame, so it reads an in-memory copy of the active snoozes, refreshed at most
every ``refresh_s`` seconds (other processes' changes) and at once after a change made here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from alarms.emitter import EventEmitter
from alarms.schema import SNOOZES
from alarms.types import AlarmDraft, aware_now

MIN_MINUTES = 5
MAX_MINUTES = 60
BYPASS_TYPES = frozenset({"watchlist_person", "watchlist_vehicle", "camera_offline", "camera_tampered"})
"""Alarm types a snooze never holds back."""


@dataclasses.dataclass(frozen=True, slots=True)
class Snooze:
    id: str
    camera_id: str
    until: dt.datetime
    by: str
    reason: str | None
    created_at: dt.datetime
    suppressed: int = 0
    """Alarms held back so far."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "camera_id": self.camera_id, "until": self.until.isoformat(), "by": self.by,
                "reason": self.reason, "created_at": self.created_at.isoformat(),
                "suppressed": self.suppressed}


class Snoozes:
    """The cameras' snoozes in the alarm store's database, with a cached view for the intake.

    Thread-safe (one lock). ``clock`` (monotonic seconds) only times the cache's refresh; whether
    a snooze is over is decided by the ``now`` the callers pass.
    """

    def __init__(self, engine: Engine, emitter: EventEmitter, refresh_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.emitter = emitter
        self.refresh_s = refresh_s
        self.clock = clock
        self.suppressed_total = 0
        """Alarm drafts held back by snoozes since this process started."""
        self.suppressed_by_camera: dict[str, int] = {}
        """The same, by camera (the ``estatewatch_alarms_snoozed`` metric)."""
        self._lock = threading.Lock()
        self._active: dict[str, Snooze] | None = None
        self._loaded_at = 0.0
        self._pending: dict[str, int] = {}

    # -- changes -------------------------------------------------------------------------------
    def start(self, camera_id: str, minutes: int, by: str, reason: str | None = None,
              now: dt.datetime | None = None) -> Snooze:
        """Snooze ``camera_id`` for ``minutes`` (5 to 60) from ``now``; replaces its active snooze."""
        now = aware_now(now)
        if not MIN_MINUTES <= minutes <= MAX_MINUTES:
            raise ValueError(f"a snooze lasts {MIN_MINUTES} to {MAX_MINUTES} minutes, not {minutes}")
        if not by.strip():
            raise ValueError("a snooze needs who did it")
        snooze = Snooze(str(uuid.uuid4()), camera_id, now + dt.timedelta(minutes=minutes), by,
                        reason or None, now)
        with self._lock:
            self._flush_pending()
            with self.engine.begin() as conn:
                self._end_active(conn, camera_id, by, now)
                conn.execute(insert(SNOOZES).values(
                    id=snooze.id, camera_id=camera_id, until=snooze.until, by=by, reason=snooze.reason,
                    created_at=now, suppressed=0))
                event = self.emitter.emit(conn, "camera.snoozed", {**snooze.to_dict(), "minutes": minutes},
                                          now, now)
            self._active = None
        self.emitter.notify([event])
        return snooze

    def end(self, camera_id: str, by: str, now: dt.datetime | None = None) -> Snooze | None:
        """End the camera's active snooze now; ``None`` if it had none (nothing is recorded then)."""
        now = aware_now(now)
        with self._lock:
            self._flush_pending()
            with self.engine.begin() as conn:
                ended = self._end_active(conn, camera_id, by, now)
                if ended is None:
                    return None
                data = {**ended.to_dict(), "ended_by": by, "ended_at": now.isoformat()}
                event = self.emitter.emit(conn, "camera.unsnoozed", data, now, now)
            self._active = None
        self.emitter.notify([event])
        return ended

    def _end_active(self, conn: Connection, camera_id: str, by: str, now: dt.datetime) -> Snooze | None:
        row = conn.execute(select(SNOOZES).where(
            SNOOZES.c.camera_id == camera_id, SNOOZES.c.ended_at.is_(None), SNOOZES.c.until > now,
        ).order_by(SNOOZES.c.created_at.desc())).first()
        conn.execute(update(SNOOZES).where(
            SNOOZES.c.camera_id == camera_id, SNOOZES.c.ended_at.is_(None), SNOOZES.c.until > now,
        ).values(ended_at=now, ended_by=by))
        return None if row is None else _snooze(row)

    # -- reading -------------------------------------------------------------------------------
    def active(self, now: dt.datetime | None = None) -> dict[str, Snooze]:
        """The active snooze of each snoozed camera at ``now`` (from the cache)."""
        now = aware_now(now)
        with self._lock:
            return {cid: s for cid, s in self._current(now).items() if s.until > now}

    def held(self, draft: AlarmDraft, now: dt.datetime) -> bool:
        """Whether a snooze holds ``draft`` back at ``now`` (then it is counted on the snooze)."""
        if draft.camera_id is None or draft.type in BYPASS_TYPES:
            return False
        with self._lock:
            snooze = self._current(now).get(draft.camera_id)
            if snooze is None or snooze.until <= now:
                return False
            self._pending[snooze.id] = self._pending.get(snooze.id, 0) + 1
            self._active[draft.camera_id] = dataclasses.replace(  # type: ignore[index]
                snooze, suppressed=snooze.suppressed + 1)
            self.suppressed_total += 1
            self.suppressed_by_camera[draft.camera_id] = self.suppressed_by_camera.get(draft.camera_id, 0) + 1
            return True

    def _current(self, now: dt.datetime) -> dict[str, Snooze]:
        """The cached active snoozes, reloaded when stale (the lock is held)."""
        if self._active is None or self.clock() - self._loaded_at >= self.refresh_s:
            self._flush_pending()
            with self.engine.connect() as conn:
                rows = conn.execute(select(SNOOZES).where(
                    SNOOZES.c.ended_at.is_(None), SNOOZES.c.until > now).order_by(SNOOZES.c.created_at)).all()
            self._active = {r.camera_id: _snooze(r) for r in rows}
            self._loaded_at = self.clock()
        return self._active

    def _flush_pending(self) -> None:
        """Add the counts held back since the last flush to their rows (the lock is held)."""
        if not self._pending:
            return
        with self.engine.begin() as conn:
            for snooze_id, count in self._pending.items():
                conn.execute(update(SNOOZES).where(SNOOZES.c.id == snooze_id)
                             .values(suppressed=SNOOZES.c.suppressed + count))
        self._pending.clear()


def _snooze(row: Any) -> Snooze:
    return Snooze(row.id, row.camera_id, row.until, row.by, row.reason, row.created_at, int(row.suppressed))

"""Periodic alarm work on one thread: the intake's clock, retention, and crop redaction.

Every ``tick_s`` the intake ticks (camera-offline grace periods, the care check, dedup expiry);
every ``purge_every_s`` alarms (with snapshots) past the retention and visitors past theirs are
purged; every ``sweep_every_s`` alarm face crops whose person was deleted meanwhile are redacted.
The schedule is data, so tests pass a short one; :func:`due` decides (pure, time passed in).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from alarms.intake import Alarmist

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpkeepSchedule:
    """How often each periodic job runs, in seconds."""

    tick_s: float = 1.0
    purge_every_s: float = 3600.0
    sweep_every_s: float = 60.0
    """How often alarm face crops whose person was deleted meanwhile are redacted."""


def due(last: float | None, every_s: float, now: float) -> bool:
    """Whether a job last run at ``last`` (``None``: never) runs again at ``now`` (monotonic seconds)."""
    return last is None or now - last >= every_s


class AlarmUpkeep:
    """Runs the periodic alarm work on its own thread until :meth:`stop`.

    Args:
        intake: the alarm intake whose :meth:`~alarms.intake.Alarmist.tick` runs every tick.
        store: the alarm store (``alarms.store.AlarmStore``): purge and crop redaction.
        registry: the resident registry (``registry.service.Registry``): expired visitors and
            the owners that still exist; ``None`` skips both.
        retention: alarms older than this are purged.
        schedule: how often each job runs.
    """

    def __init__(self, intake: Alarmist, store: Any, registry: Any | None, retention: dt.timedelta,
                 schedule: UpkeepSchedule | None = None) -> None:
        self.intake = intake
        self.store = store
        self.registry = registry
        self.retention = retention
        self.schedule = schedule or UpkeepSchedule()
        self._last_purge: float | None = None
        self._last_sweep: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AlarmUpkeep:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alarm-upkeep", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (a job that is running finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.schedule.tick_s):
            try:
                self.run_once(dt.datetime.now(dt.UTC), time.monotonic())
            except Exception:
                logger.exception("periodic alarm work failed")

    def run_once(self, now: dt.datetime, clock: float) -> None:
        """One tick: the intake's, then whichever of purge and sweep is due at ``clock``."""
        self.intake.tick(now)
        if due(self._last_purge, self.schedule.purge_every_s, clock):
            self._last_purge = clock
            self.enforce_retention(now)
        if self.registry is not None and due(self._last_sweep, self.schedule.sweep_every_s, clock):
            self._last_sweep = clock
            self.store.redact_orphans(self.registry.existing_owners, now)

    def enforce_retention(self, now: dt.datetime) -> None:
        """Purge alarms (with snapshots) past the retention and visitors past theirs."""
        purged = self.store.purge(self.retention, now)
        if purged:
            logger.info("retention: purged %d alarm(s) older than %g days", purged,
                        self.retention / dt.timedelta(days=1))
        if self.registry is not None:
            gone = self.registry.purge_expired_visitors(now)  # logs how many, with their biometric data
            if gone:
                logger.debug("retention: visitors %s deleted", gone)

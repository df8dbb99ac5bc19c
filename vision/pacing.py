"""Adaptive pacing: lower every camera's sampled rate fairly when analysis cannot keep up.

The live scheduler (:mod:`vision.live`) reports, once per ``tick_s``, how many sampled frames it
had to drop and how full the per-camera queues were. :class:`RateController` turns that into an
*effective* sample rate per camera, between a floor and the configured ``detect_fps``:

* **overload** (frames dropped, or queues at least ``backlog_high`` full on average): every
  degraded-able camera's rate is multiplied by ``decrease`` (the same fraction for all, so the
  highest rates lose the most frames/s), never below its floor; at most once per ``cooldown_s``
  so the effect of a cut is seen before the next one;
* **calm** (no drop and queues at most ``backlog_low`` full) for ``calm_s``: every rate below its
  configured one rises by ``increase`` x its ``detect_fps`` (additive increase);
* in between: rates hold (hysteresis between the two thresholds).

A rise that is followed by overload within ``calm_s`` was a failed probe: the calm wait doubles
(up to ``max_calm_s``), so a steady load settles instead of see-sawing; the wait returns to
``calm_s`` once every camera is back at its configured rate.

The floor (``max(floor_fps, floor_fraction x detect_fps)``, never above ``detect_fps``) keeps a
watchlist face or plate shown for two seconds in at least two analysed frames at the default
``floor_fps`` of 1.

Everything here is pure: the caller passes times and counts; no clock, no threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class PacingConfig(BaseModel):
    """How the sampled rates follow the load (``pipeline.pacing`` in the config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    floor_fps: float = Field(1.0, gt=0, le=60, description="No camera is paced below this rate (fps)...")
    floor_fraction: float = Field(0.2, ge=0, le=1,
                                  description="... nor below this share of its detect_fps.")
    tick_s: float = Field(1.0, gt=0, le=60, description="How often the load is judged.")
    decrease: float = Field(0.75, gt=0, lt=1, description="Overload: rates are multiplied by this.")
    increase: float = Field(0.1, gt=0, le=1,
                            description="Calm: rates rise by this share of detect_fps per step.")
    cooldown_s: float = Field(2.0, ge=0, le=600, description="Least time between two cuts.")
    calm_s: float = Field(4.0, ge=0, le=600, description="Calm time before a rise.")
    max_calm_s: float = Field(64.0, ge=0, le=3600, description="Longest calm wait after failed rises.")
    backlog_high: float = Field(0.6, ge=0, le=1,
                                description="Mean queue fill (0-1) that counts as overload.")
    backlog_low: float = Field(0.34, ge=0, le=1, description="Mean queue fill (0-1) that counts as calm.")

    def floor(self, detect_fps: float) -> float:
        """The lowest rate a camera configured at ``detect_fps`` is paced to."""
        return min(detect_fps, max(self.floor_fps, self.floor_fraction * detect_fps))


@dataclass(frozen=True, slots=True)
class Load:
    """What the scheduler saw during one tick.

    Attributes:
        dropped: sampled frames dropped (queue full) since the last tick, all cameras.
        backlog: mean queue fill seen by arriving frames, 0 (empty) to 1 (full); 0 if none came.
    """

    dropped: int
    backlog: float


@dataclass(frozen=True, slots=True)
class Change:
    """A camera entered (``degraded``) or left degradation at this tick."""

    camera_id: str
    degraded: bool
    effective_fps: float
    detect_fps: float


class RateController:
    """Effective sample rates of cameras under a shared analysis budget (AIMD with hysteresis).

    Args:
        detect_fps: each camera's configured rate by id.
        config: thresholds and steps.
    """

    def __init__(self, detect_fps: Mapping[str, float], config: PacingConfig | None = None) -> None:
        self.config = config or PacingConfig()
        self.configured = dict(detect_fps)
        self._rates = dict(detect_fps)
        self._last_cut: float | None = None
        self._last_rise: float | None = None
        self._calm_since: float | None = None
        self._calm_wait = self.config.calm_s
        self.cuts = 0
        self.rises = 0

    def rate(self, camera_id: str) -> float:
        """The camera's effective sample rate (fps) now."""
        return self._rates[camera_id]

    def rates(self) -> dict[str, float]:
        return dict(self._rates)

    def degraded(self, camera_id: str) -> bool:
        """Sampled below the configured rate now."""
        return self._rates[camera_id] < self.configured[camera_id] - 1e-9

    def update(self, now: float, load: Load) -> list[Change]:
        """Judge one tick's load at time ``now`` (seconds, monotonic); the cameras whose state changed."""
        c = self.config
        before = {cam: self.degraded(cam) for cam in self._rates}
        if load.dropped > 0 or load.backlog >= c.backlog_high:
            self._calm_since = None
            if self._last_cut is None or now - self._last_cut >= c.cooldown_s:
                if self._last_rise is not None and now - self._last_rise < self._calm_wait:
                    self._calm_wait = min(self._calm_wait * 2, c.max_calm_s)  # the last rise overshot
                for cam, rate in self._rates.items():
                    self._rates[cam] = max(c.floor(self.configured[cam]), rate * c.decrease)
                self._last_cut = now
                self.cuts += 1
        elif load.backlog <= c.backlog_low:
            if self._calm_since is None:
                self._calm_since = now
            if now - self._calm_since >= self._calm_wait and any(before.values()):
                for cam, rate in self._rates.items():
                    target = self.configured[cam]
                    self._rates[cam] = min(target, rate + c.increase * target)
                self._last_rise = now
                self._calm_since = now
                self.rises += 1
                if not any(self.degraded(cam) for cam in self._rates):
                    self._calm_wait = c.calm_s
        else:
            self._calm_since = None
        return [Change(cam, self.degraded(cam), self._rates[cam], self.configured[cam])
                for cam in self._rates if self.degraded(cam) != before[cam]]


class Pacer:
    """Which of a camera's sampled frames to keep so that ``kept / sampled = effective / configured``.

    A credit accumulator: exact on average, no clock needed, and evenly spread (at a ratio of
    0.5, every other frame).
    """

    __slots__ = ("_credit",)

    def __init__(self) -> None:
        self._credit = 0.0

    def keep(self, ratio: float) -> bool:
        """Whether to keep the next sampled frame, at ``ratio`` = effective / configured rate."""
        if ratio >= 1.0:
            self._credit = 0.0
            return True
        self._credit = min(self._credit + ratio, 1.0 + ratio)
        if self._credit >= 1.0:
            self._credit -= 1.0
            return True
        return False

"""Camera health: states, events, and the pure state machine that produces them.

States and their transitions (anything else is not a transition)::

    CONNECTING --frame--> ONLINE --no frame for stall_after_s--> STALLED --frame--> ONLINE
    any --failure--> OFFLINE | AUTH_FAILED --frame--> ONLINE

A camera keeps its failure state while it retries (no event per attempt). Tamper findings
(frozen, black, defocus) are events too, with ``tamper`` set and ``active`` telling raised
from cleared; they do not change the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from streams.frames import Instant


class CameraState(StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    STALLED = "stalled"
    OFFLINE = "offline"
    AUTH_FAILED = "auth_failed"


class TamperKind(StrEnum):
    FROZEN = "frozen"
    BLACK = "black"
    DEFOCUS = "defocus"


FAILURE_STATES = frozenset({CameraState.OFFLINE, CameraState.AUTH_FAILED})


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A camera's state changed, or a tamper check raised/cleared.

    Attributes:
        camera_id: The camera's id.
        state: The camera's state after the event.
        previous: The state before (None for the first event and for tamper events).
        reason: Human-readable cause, credentials masked.
        at: When it happened.
        tamper: Which check, for tamper events; None for state changes.
        active: For tamper events, raised (True) or cleared (False).
    """

    camera_id: str
    state: CameraState
    previous: CameraState | None
    reason: str
    at: Instant
    tamper: TamperKind | None = None
    active: bool = True

    @property
    def is_tamper(self) -> bool:
        return self.tamper is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for the alarm layer, the API and ``streams probe --json``)."""
        return {
            "camera_id": self.camera_id,
            "state": self.state.value,
            "previous": self.previous.value if self.previous else None,
            "reason": self.reason,
            "wall_time": self.at.wall,
            "tamper": self.tamper.value if self.tamper else None,
            "active": self.active,
        }


class HealthMachine:
    """Pure per-camera state machine: feed it observations with their time, get events back."""

    def __init__(self, camera_id: str, stall_after_s: float) -> None:
        self.camera_id = camera_id
        self.stall_after_s = stall_after_s
        self.state: CameraState | None = None
        self.reason = ""
        self.last_frame: float | None = None

    def start(self, at: Instant) -> list[HealthEvent]:
        """The source started connecting."""
        return self._move(CameraState.CONNECTING, "connecting", at)

    def frame(self, at: Instant) -> list[HealthEvent]:
        """A frame was decoded at ``at``."""
        self.last_frame = at.monotonic
        if self.state is CameraState.ONLINE:
            return []
        return self._move(CameraState.ONLINE, "frames flowing", at)

    def failure(self, state: CameraState, reason: str, at: Instant) -> list[HealthEvent]:
        """Opening or reading failed; ``state`` is OFFLINE or AUTH_FAILED."""
        if state not in FAILURE_STATES:
            raise ValueError(f"{state} is not a failure state")
        return self._move(state, reason, at)

    def tick(self, at: Instant) -> list[HealthEvent]:
        """Periodic check: an online camera without a recent frame becomes STALLED."""
        if self.state is not CameraState.ONLINE or self.last_frame is None:
            return []
        silent = at.monotonic - self.last_frame
        if silent < self.stall_after_s:
            return []
        return self._move(CameraState.STALLED, f"no frame for {silent:.1f} s", at)

    def tamper(self, kind: TamperKind, active: bool, reason: str, at: Instant) -> HealthEvent:
        """A tamper check changed its verdict."""
        state = self.state or CameraState.CONNECTING
        return HealthEvent(self.camera_id, state, None, reason, at, tamper=kind, active=active)

    def _move(self, state: CameraState, reason: str, at: Instant) -> list[HealthEvent]:
        if state is self.state:
            return []
        event = HealthEvent(self.camera_id, state, self.state, reason, at)
        self.state, self.reason = state, reason
        return [event]

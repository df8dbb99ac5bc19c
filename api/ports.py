"""What the routes need from the running service, named as Protocols.

The API sits at the top of the stages and must not import the composition root, so it states
what it reads instead: the root hands its ``Service`` to :func:`api.app.create_app`, and mypy
checks there that the service satisfies :class:`ServiceView` (structurally, no inheritance).
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry

from alarms.records import Alarm, AlarmComment, AlarmFilter, AlarmPage, EventActor, Paging, StoredEvent
from api.live import EventSource
from api.schemas import PublicCamera, Recognition
from api.schemas import Readiness as ReadinessReport
from streams.health import HealthEvent
from streams.packets import PacketTap

if TYPE_CHECKING:
    from alarms.endpoints import WebhookEndpoints
    from alarms.snoozes import Snoozes
    from registry.service import Registry
    from vision.cascade import Cascade


class UnknownCameraError(LookupError):
    """A camera id that is not in the configuration."""


class CameraStatus(Protocol):
    """The configured cameras with their live state, and their recent health events."""

    def cameras(self) -> Sequence[PublicCamera]: ...

    def events(self, limit: int = 100) -> Sequence[HealthEvent]:
        """Newest first."""
        ...


class RecognitionLog(Protocol):
    """Recent recognitions kept in memory."""

    def recognitions(self, camera_id: str | None = None, limit: int = 50) -> Sequence[Recognition]:
        """Newest first, optionally of one camera; :class:`UnknownCameraError` for an unknown one."""
        ...


class AlarmReader(EventSource, Protocol):
    """The alarm store as the alarm routes and the live feed use it.

    Read, acknowledge, resolve, comment, the snapshot file, an alarm's history, committed events.

    Both state changes raise ``alarms.store.AlarmNotFoundError`` and ``IllegalTransitionError``.
    """

    def list(self, filters: AlarmFilter | None = None, paging: Paging | None = None) -> AlarmPage: ...

    def list_version(self) -> int:
        """The alarm list's change counter (equal: no alarm raised, changed or deleted in between)."""
        ...

    def get(self, alarm_id: str) -> Alarm: ...

    def acknowledge(
        self, alarm_id: str, who: str, now: dt.datetime | None = None, *, note: str = "",
        actor: EventActor | None = None,
    ) -> Alarm: ...

    def resolve(
        self, alarm_id: str, who: str, note: str = "", now: dt.datetime | None = None, *,
        actor: EventActor | None = None,
    ) -> Alarm: ...

    def add_comment(
        self, alarm_id: str, text: str, author: EventActor, now: dt.datetime | None = None
    ) -> AlarmComment: ...

    def comments(self, alarm_id: str) -> builtins.list[AlarmComment]: ...

    def alarm_events(self, alarm_id: str) -> builtins.list[StoredEvent]: ...

    def snapshot_file(self, alarm_id: str) -> Path | None: ...

    def crop_bytes(self, alarm_id: str) -> bytes | None: ...

    @property
    def snoozes(self) -> Snoozes:
        """The cameras' snoozes."""
        ...

    def clip_file(self, alarm_id: str) -> Path | None:
        """The alarm's MP4 clip once written (``None`` before, or for an alarm without one)."""
        ...


class AlarmDesk(Protocol):
    """Where the alarm routes find the store and the site's public URL (for snapshot links)."""

    @property
    def store(self) -> AlarmReader | None:
        """``None`` until the service has opened the store."""
        ...

    @property
    def public_base_url(self) -> str: ...


class Readiness(Protocol):
    """The public probes: readiness and the Prometheus registry."""

    def readiness(self) -> ReadinessReport:
        """What is and is not ready (models, database, cameras), checked now; no secret in it."""
        ...

    @property
    def metrics(self) -> CollectorRegistry: ...

    def refresh_gauges(self) -> None:
        """Bring gauges up to date before a scrape."""
        ...


class RegistryDesk(Protocol):
    """The registry and the loaded cascade, for the registry routes and recognition on demand."""

    @property
    def registry(self) -> Registry | None:
        """``None`` until the service has opened the registry."""
        ...

    @property
    def cascade(self) -> Cascade | None:
        """The service's loaded models (``None`` until loaded); requests share them with the cameras."""
        ...


class WebhookDesk(Protocol):
    """The webhook endpoints managed over the API (in the alarm store's database)."""

    @property
    def webhooks(self) -> WebhookEndpoints | None:
        """``None`` until the service has opened the alarm store."""
        ...


class LiveVideo(Protocol):
    """The cameras' encoded packets, for live view over WebRTC."""

    def video_tap(self, camera_id: str) -> PacketTap | None:
        """The camera's packet tap; ``None`` before the cameras start; :class:`UnknownCameraError`."""
        ...


class ServiceView(CameraStatus, RecognitionLog, AlarmDesk, Readiness, RegistryDesk, WebhookDesk, LiveVideo,
                  Protocol):
    """Everything the app reads from the service: the union of what its routes need."""

"""What the alarm store hands out: stored alarms, list filters and pages, outbox messages, attempts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from alarms.types import AlarmType, Severity, Subject

AlarmState = Literal["open", "acknowledged", "resolved"]
MessageStatus = Literal["pending", "delivered", "failed", "dead"]


@dataclass(frozen=True, slots=True)
class Alarm:
    """A stored alarm.

    ``snapshot_path`` is relative to the data directory's ``snapshots/`` folder
    (``YYYY/MM/DD/<id>.jpg``, a plain JPEG of the whole scene). The face crop is stored encrypted
    in the database (``has_crop``; read it with :meth:`alarms.store.AlarmStore.crop_bytes`) and
    never leaves the site. ``clip_path`` (same folder, ``<id>.mp4``) is set once the alarm's video
    clip is written (:mod:`alarms.clips`); the store fills it in from the file when it reads.
    ``redacted_at`` is set when the registry deleted the alarm's subject:
    the crop is gone, the alarm stays.
    """

    id: str
    type: AlarmType
    severity: Severity
    state: AlarmState
    rule_id: str
    camera_id: str | None
    zone: str | None
    occurred_at: dt.datetime
    created_at: dt.datetime
    subject: Subject
    dedup_key: str
    similarity: float | None = None
    plate_text: str | None = None
    snapshot_path: str | None = None
    has_crop: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None
    redacted_at: dt.datetime | None = None
    clip_path: str | None = None

    @property
    def redacted(self) -> bool:
        """True once the registry deleted the subject and the face crop was removed."""
        return self.redacted_at is not None


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """Which alarms :meth:`alarms.store.AlarmStore.list` returns; ``None`` fields do not filter."""

    states: tuple[AlarmState, ...] | None = None
    types: tuple[AlarmType, ...] | None = None
    severities: tuple[Severity, ...] | None = None
    camera_id: str | None = None
    camera_ids: tuple[str, ...] | None = None
    """Only these cameras (a caller limited to them); camera-less alarms are left out."""
    zone: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Paging:
    """Newest first; ``offset`` rows skipped, at most ``limit`` returned."""

    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 1000:
            raise ValueError(f"limit must be in 1..1000, got {self.limit}")
        if self.offset < 0:
            raise ValueError(f"offset must be >= 0, got {self.offset}")


@dataclass(frozen=True, slots=True)
class AlarmPage:
    items: list[Alarm]
    total: int
    version: int = 0
    """The alarm list's change counter when the page was read (:meth:`AlarmStore.list_version`):
    the page is what the store held at that version or later, never earlier."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One event for one endpoint, as a relay claimed it.

    ``event_id`` is the ``webhook-id``: equal for every endpoint and every retry of the event.
    ``payload`` is the Standard Webhooks body ``{type, timestamp, data}``.
    """

    id: int
    endpoint_id: str
    event_id: str
    type: str
    payload: dict[str, Any]
    attempts: int
    claim_token: str | None = None


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """An outbox row as the operator sees it."""

    id: int
    endpoint_id: str
    event_id: str
    type: str
    status: MessageStatus
    attempts: int
    next_attempt_at: dt.datetime
    last_status_code: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One try to deliver a message: when, what came back, how long it took."""

    message_id: int
    endpoint_id: str
    event_id: str
    attempted_at: dt.datetime
    outcome: Literal["delivered", "retry", "failed", "dead"]
    status_code: int | None
    error: str | None
    duration_ms: float


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    id: str
    failing_since: dt.datetime | None
    last_success_at: dt.datetime | None
    disabled_at: dt.datetime | None
    disabled_reason: str | None


ActorKind = Literal["user", "key"]


@dataclass(frozen=True, slots=True)
class EventActor:
    """Who acted on an alarm, as its events name them: a user name, or an API key's name."""

    name: str
    kind: ActorKind

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an actor needs a name")

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class AlarmComment:
    """A guard's comment on an alarm."""

    id: str
    alarm_id: str
    created_at: dt.datetime
    author: EventActor
    text: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A recorded event: ``seq`` orders events as they committed (the live feed's event id).

    ``payload`` is the webhook body ``{type, timestamp, data}``; ``id`` its ``webhook-id``.
    """

    seq: int
    id: str
    type: str
    alarm_id: str | None
    payload: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.payload.get("data") or {}
        return data

    @property
    def camera_id(self) -> str | None:
        """The camera the event is about (an alarm's camera, a camera event's camera), if any."""
        camera = self.data.get("camera_id")
        return camera if isinstance(camera, str) else None

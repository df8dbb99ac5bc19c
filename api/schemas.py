"""Response bodies of the REST API: the JSON each route returns, as pydantic models.

FastAPI validates every response against these and publishes them in ``/openapi.json``. The
models are built from the dicts the lower layers already produce (``CameraConfig.public_dict``,
``to_json`` of a recognition, ``alarm_data``, ``HealthEvent.to_dict``), so the JSON stays the
one documented in README; ``extra="forbid"`` makes a key those dicts gain and a model lacks an
error instead of a silent drop.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from alarms.events import alarm_data, comment_data
from alarms.records import Alarm, AlarmComment, AlarmState, StoredEvent
from alarms.types import AlarmType, Severity, SubjectKind
from streams.backoff import BackoffSchedule
from streams.config import Analysis, CameraConfig, DecodeDevice, TamperConfig, Transport
from streams.health import CameraState, HealthEvent, TamperKind
from vision.types import PlateColour

Box = list[float]
"""``[x1, y1, x2, y2]`` in image pixels."""
Points = list[list[float]]
"""``[[x, y], ...]`` in image pixels."""
IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""ISO 8601 in UTC with a ``Z`` suffix and milliseconds (``2026-05-01T08:30:00.123Z``)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- probes ----------------------------------------------------------------------------------
class Liveness(_Body):
    status: Literal["ok"] = "ok"


class Check(_Body):
    """One readiness check: whether it passed and what was found (why, when it failed)."""

    ok: bool
    detail: str


class CameraReadiness(_Body):
    """A camera's live state; reported only: an offline camera does not make the service unready."""

    state: CameraState | Literal["not_started"] = Field(
        description="`online`, `connecting`, `stalled`, `offline`, `auth_failed`, or `not_started` "
                    "before its reader runs.")
    reason: str = Field(description="Why it is in that state (credentials masked).")


class ReadinessChecks(_Body):
    service: Check = Field(description="The service started (registry, alarm store, models, cameras).")
    models: dict[str, Check] = Field(description="Each model the cameras need, by model name.")
    database: dict[str, Check] = Field(description="`SELECT 1` with a 2 s deadline on the registry's and the "
                                                   "alarm store's database.")
    cameras: dict[str, CameraReadiness] = Field(description="Each configured camera, by id.")


class Readiness(_Body):
    """``ready`` (HTTP 200) when the service has started and its models and database answer.

    Cameras are reported but never make the service unready: a camera that is offline is an
    alarm for the guards (``camera.offline``), while the API, the registry and the alarms still
    work, and restarting the service would not bring the camera back.
    """

    ready: bool
    status: Literal["ready", "starting", "failed", "unready"] = Field(
        description="`starting` until the service has started; `failed` if starting failed; "
                    "`unready` when a model or the database check fails after the start.")
    failures: list[str] = Field(description="Each check that failed and why (empty when ready).")
    checks: ReadinessChecks


# -- cameras ---------------------------------------------------------------------------------
class StreamStatus(_Body):
    """The camera's stream since the service started."""

    model_config = ConfigDict(from_attributes=True)

    state: CameraState | None = Field(description="Health state; null before the reader started.")
    reason: str = Field(description="Why it is in that state (credentials masked).")
    decoded: int = Field(description="Frames decoded.")
    delivered: int = Field(description="Frames handed to analysis (at detect_fps).")
    dropped: int = Field(description="Decoded frames not handed to analysis.")
    reconnects: int = Field(description="Connection attempts after the first.")


class AnalysisCounters(_Body):
    """What analysis made of the camera's sampled frames since the service started."""

    model_config = ConfigDict(from_attributes=True)

    sampled: int
    analysed: int = Field(description="Frames run through the models.")
    gated: int = Field(description="Frames skipped by the motion gate as unchanged.")
    dropped: int = Field(description="Frames dropped because analysis fell behind.")
    paced: int = Field(0, description="Frames skipped because the camera's rate was lowered under load.")
    effective_fps: float = Field(0.0, description="Rate frames are analysed at now: detect_fps unless "
                                                  "degraded.")
    degraded: bool = Field(False, description="True while the rate is lowered because analysis cannot "
                                              "keep up (the machine is overloaded).")
    latency_p50_ms: float | None = Field(description="Median capture-to-result time of recent frames.")
    latency_p99_ms: float | None


class PublicCamera(_Body):
    """A camera's configuration (see ``cameras:`` in README) without its password, URLs masked.

    The fields are those of ``streams.config.CameraConfig`` but ``password`` (a test keeps the two
    in step), in the order the API has always listed them, then the live state.
    """

    id: str
    name: str
    username: str | None
    transport: Transport
    detect_fps: float
    run: list[Analysis]
    open_timeout_s: float
    read_timeout_s: float
    stall_after_s: float
    watchdog_s: float
    decode_threads: int
    decode_device: DecodeDevice
    backoff: BackoffSchedule
    tamper: TamperConfig
    url: str = Field(description="Main stream, password masked.")
    sub_url: str | None = Field(description="Detection sub-stream, password masked.")
    status: StreamStatus | None = Field(None, description="Null until the camera's reader exists.")
    analysis: AnalysisCounters | None = Field(None, description="Null until the pipeline runs.")
    snoozed_until: dt.datetime | None = Field(
        None, description="Its alarms are held back until then (watchlist and camera-health alarms "
        "excepted); null when not snoozed.")
    snoozed_by: str | None = Field(None, description="Who snoozed it; null when not snoozed.")

    @classmethod
    def of(cls, camera: CameraConfig, status: StreamStatus | None = None,
           analysis: AnalysisCounters | None = None) -> PublicCamera:
        return cls.model_validate({**camera.public_dict(), "status": status, "analysis": analysis})


class CameraEvent(_Body):
    """A camera's state changed, or a tamper check raised or cleared."""

    camera_id: str
    state: CameraState = Field(description="The state after the event.")
    previous: CameraState | None = Field(description="The state before (null for tamper events).")
    reason: str = Field(description="Human-readable cause, credentials masked.")
    wall_time: float = Field(description="When, in Unix seconds.")
    tamper: TamperKind | None = Field(description="The tamper check, for tamper events.")
    active: bool = Field(description="Tamper events: raised (true) or cleared (false).")

    @classmethod
    def of(cls, event: HealthEvent) -> CameraEvent:
        return cls.model_validate(event.to_dict())


# -- recognitions ----------------------------------------------------------------------------
_NO_MATCH = "Always null here: live frames are matched against the registry by the alarm intake."


class Face(_Body):
    box: Box
    score: float = Field(description="Detector confidence.")
    landmarks: Points = Field(description="Five keypoints: eyes, nose, mouth corners.")
    quality: float | None = Field(description="Face quality in [0, 1]; null when not embedded.")
    match: None = Field(None, description=_NO_MATCH)


class Vehicle(_Body):
    box: Box
    label: str | int = Field(description="COCO class name (class id when the model has no names).")
    score: float


class Plate(_Body):
    text: str = Field(description="Normalised plate text when valid, else the raw reading.")
    valid: bool = Field(description="Whether the text passes the Chinese plate grammar.")
    kind: str | None = Field(description="`standard`, `new_energy`, `motorcycle` (a motorcycle's two-row "
                                         "plate), or null when invalid.")
    rows: int = Field(1, ge=1, le=2, description="1, or 2 for a two-row plate (lorries, buses, trailers, "
                                                 "motorcycles).")
    rejected: str | None = Field(None, description="Why a grammar-valid reading is not a plate (a character "
                                                   "not seen with enough evidence, a sign's colour or "
                                                   "shape); null for a plate. Rejected readings never alarm.")
    colour: PlateColour | None
    score: float = Field(description="Mean per-character confidence.")
    box: Box | None
    corners: Points | None = Field(description="TL, TR, BR, BL.")
    vehicle: int | None = Field(description="Index of the vehicle the plate lies in.")
    match: None = Field(None, description=_NO_MATCH)


class Recognition(_Body):
    """What one analysed frame of a camera showed (the ``recognize --json`` shape plus frame facts)."""

    camera_id: str
    seq: int = Field(description="The frame's sequence number on its camera.")
    captured_at: float = Field(description="Capture time, Unix seconds.")
    analysis_ms: float
    latency_ms: float = Field(description="Capture to result.")
    faces: list[Face]
    vehicles: list[Vehicle]
    plates: list[Plate]


# -- alarms ----------------------------------------------------------------------------------
class AlarmSubject(_Body):
    kind: SubjectKind
    id: str = Field(description="Registry id, `<camera>:<track>`, plate text or camera id, by kind.")


class PublicAlarm(_Body):
    """An alarm as guards and receivers see it: the ``data`` of an ``alarm.*`` webhook."""

    id: str
    type: AlarmType
    severity: Severity
    state: AlarmState
    rule_id: str
    camera_id: str | None
    zone: str | None
    occurred_at: IsoTime
    subject: AlarmSubject
    similarity: float | None = Field(description="Face cosine similarity, face alarms.")
    plate_text: str | None
    snapshot_url: str | None = Field(description="Fetch with an API key; null without a snapshot.")
    clip_url: str | None = Field(None, description="The alarm's video clip (MP4, H.264), from a few seconds "
                                                   "before to a few after; null until it is written.")
    details: dict[str, JsonValue]
    acknowledged_at: IsoTime | None
    acknowledged_by: str | None
    resolved_at: IsoTime | None
    resolved_by: str | None
    resolution_note: str | None
    redacted: bool = Field(description="True once the registry deleted the subject: the face crop is gone.")
    redacted_at: IsoTime | None = Field(description="When the face crop was removed.")

    @classmethod
    def of(cls, alarm: Alarm, public_base_url: str) -> PublicAlarm:
        return cls.model_validate(alarm_data(alarm, public_base_url))


class AlarmList(_Body):
    total: int = Field(description="Alarms matching the filter, all pages.")
    items: list[PublicAlarm]


class EventActorBody(_Body):
    """Who acted: a user (their user name) or an API key (``key:<name>``; full-access keys ``api-key``)."""

    name: str
    kind: Literal["user", "key"]


class AlarmCommentBody(_Body):
    """A guard's comment on an alarm."""

    id: str
    alarm_id: str
    created_at: IsoTime
    author: EventActorBody
    text: str

    @classmethod
    def of(cls, comment: AlarmComment) -> AlarmCommentBody:
        return cls.model_validate(comment_data(comment))


class AlarmEventBody(_Body):
    """One step of an alarm's history (``alarm.raised``, ``.acknowledged``, ``.commented``, ``.resolved``)."""

    id: str = Field(description="The event's place in commit order: the live feed's event id.")
    event_id: str = Field(description="The event's `webhook-id` (`msg_...`).")
    type: str
    timestamp: IsoTime
    state: AlarmState = Field(description="The alarm's state after the event.")
    actor: EventActorBody | None = Field(description="Who acted; null for the system (raised, upkeep).")
    note: str | None = Field(description="The acknowledge note or the resolution note.")
    comment: AlarmCommentBody | None = Field(description="For `alarm.commented`: the comment.")

    @classmethod
    def of(cls, event: StoredEvent) -> AlarmEventBody:
        data = event.data
        note = data.get("resolution_note") if event.type == "alarm.resolved" else data.get("note")
        return cls.model_validate({
            "id": str(event.seq), "event_id": event.id, "type": event.type,
            "timestamp": event.payload["timestamp"], "state": data["state"], "actor": data.get("actor"),
            "note": note or None, "comment": data.get("comment")})


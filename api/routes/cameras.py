"""Cameras, their health events and what they recognised (scope ``cameras:read``).

Snoozing a camera's alarms (5 to 60 minutes, see :mod:`alarms.snoozes`) needs ``alarms:write``.
A caller limited to some cameras sees only those; another camera's id answers 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from alarms.snoozes import MAX_MINUTES, MIN_MINUTES, Snooze
from api.accounts.principal import Principal
from api.deps import (
    AccountsDep,
    AlarmsDep,
    CamerasDep,
    LiveVideoDep,
    RecognitionsDep,
    ServiceDep,
    VideoHubDep,
    actor,
    require_scope,
)
from api.ports import UnknownCameraError
from api.schemas import CameraEvent, PublicCamera, Recognition
from api.video import InvalidOfferError, ViewerLimitError

router = APIRouter(prefix="/api/v1", tags=["cameras"])

Viewer = Annotated[Principal, Depends(require_scope("cameras:read"))]
Snoozer = Annotated[Principal, Depends(require_scope("alarms:write"))]
EVENT_SCAN = 10_000
"""Events read before a camera-limited caller's are picked out (more than the service keeps)."""


@router.get("/cameras", summary="Cameras with live state (passwords masked)")
def list_cameras(caller: Viewer, cameras: CamerasDep, service: ServiceDep) -> list[PublicCamera]:
    snoozed = {} if service.store is None else service.store.snoozes.active()
    out = []
    for camera in cameras.cameras():
        if caller.may_see(camera.id):
            snooze = snoozed.get(camera.id)
            out.append(camera if snooze is None else camera.model_copy(
                update={"snoozed_until": snooze.until, "snoozed_by": snooze.by}))
    return out


class SnoozeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(ge=MIN_MINUTES, le=MAX_MINUTES,
                         description=f"How long: {MIN_MINUTES} to {MAX_MINUTES} minutes.")
    reason: str | None = Field(None, max_length=500, description="Why (shown to other guards, audited).")


class SnoozeBody(BaseModel):
    """A camera's snooze: its alarms are held back until ``until``.

    Watchlist and camera-health alarms are never held back.
    """

    camera_id: str
    until: dt.datetime
    by: str
    reason: str | None
    created_at: dt.datetime
    suppressed: int = Field(description="Alarms held back so far.")

    @classmethod
    def of(cls, snooze: Snooze) -> SnoozeBody:
        return cls(camera_id=snooze.camera_id, until=snooze.until, by=snooze.by, reason=snooze.reason,
                   created_at=snooze.created_at, suppressed=snooze.suppressed)


def _snoozable(camera_id: str, caller: Principal, cameras: CamerasDep) -> None:
    if not caller.may_see(camera_id) or all(c.id != camera_id for c in cameras.cameras()):
        raise HTTPException(404, f"no camera {camera_id!r}")


@router.post("/cameras/{camera_id}/snooze", status_code=201, summary="Snooze a camera's alarms for a while",
             responses={404: {"description": "Unknown camera"}, 422: {"description": "Minutes out of range"}})
def snooze(request: Request, camera_id: str, body: SnoozeRequest, caller: Snoozer, cameras: CamerasDep,
           store: AlarmsDep, accounts: AccountsDep) -> SnoozeBody:
    """Hold back the camera's new alarms for 5 to 60 minutes; watchlist and camera-health ones still raise.

    Replaces the camera's active snooze; ends by itself. Held-back alarms are counted on it.
    """
    _snoozable(camera_id, caller, cameras)
    reason = (body.reason or "").strip() or None
    made = store.snoozes.start(camera_id, body.minutes, caller.name, reason)
    accounts.record(actor(request, caller), "snooze", "camera", camera_id, minutes=body.minutes,
                    until=made.until.isoformat(), reason=reason)
    return SnoozeBody.of(made)


@router.delete("/cameras/{camera_id}/snooze", summary="End a camera's snooze now",
               responses={404: {"description": "Unknown camera, or not snoozed"}})
def end_snooze(request: Request, camera_id: str, caller: Snoozer, cameras: CamerasDep,
               store: AlarmsDep, accounts: AccountsDep) -> SnoozeBody:
    _snoozable(camera_id, caller, cameras)
    ended = store.snoozes.end(camera_id, caller.name)
    if ended is None:
        raise HTTPException(404, f"camera {camera_id!r} is not snoozed")
    accounts.record(actor(request, caller), "unsnooze", "camera", camera_id, suppressed=ended.suppressed)
    return SnoozeBody.of(ended)


@router.get("/cameras/events", summary="Recent camera health events, newest first")
def camera_events(caller: Viewer, cameras: CamerasDep,
                  limit: int = Query(100, ge=1, le=500)) -> list[CameraEvent]:
    events = cameras.events(limit if caller.cameras is None else EVENT_SCAN)
    return [CameraEvent.of(e) for e in events if caller.may_see(e.camera_id)][:limit]


@router.get("/recognitions", summary="Recent recognitions, newest first",
            responses={404: {"description": "Unknown camera"}})
def recognitions(caller: Viewer, log: RecognitionsDep,
                 camera_id: str | None = Query(None, description="Only this camera."),
                 limit: int = Query(50, ge=1, le=500)) -> list[Recognition]:
    if camera_id is not None and not caller.may_see(camera_id):
        raise HTTPException(404, f"no camera {camera_id!r}")
    if camera_id is None and caller.cameras is not None:
        return _of_cameras(log, caller.cameras, limit)
    try:
        return list(log.recognitions(camera_id, limit))
    except UnknownCameraError:
        raise HTTPException(404, f"no camera {camera_id!r}") from None


def _of_cameras(log: RecognitionsDep, cameras: frozenset[str], limit: int) -> list[Recognition]:
    """The newest ``limit`` recognitions of these cameras (ones not configured are skipped)."""
    records: list[Recognition] = []
    for camera in cameras:
        try:
            records.extend(log.recognitions(camera, limit))
        except UnknownCameraError:
            continue
    records.sort(key=lambda r: r.captured_at, reverse=True)
    return records[:limit]


class SdpOffer(BaseModel):
    """A WebRTC offer (``RTCPeerConnection.createOffer()`` with a receive-only video transceiver)."""

    model_config = ConfigDict(extra="forbid")

    sdp: str = Field(min_length=1, max_length=100_000, description="The offer's SDP text.")
    type: Literal["offer"] = Field(description="Always 'offer'.")


class SdpAnswer(BaseModel):
    sdp: str = Field(description="The answer's SDP text (ICE candidates included: no trickle).")
    type: Literal["answer"] = "answer"


@router.post("/cameras/{camera_id}/webrtc", summary="Live video of a camera over WebRTC (H.264 as sent)",
             responses={400: {"description": "Unusable SDP offer"}, 404: {"description": "Unknown camera"},
                        429: {"description": "The camera's viewer limit is reached"},
                        503: {"description": "The cameras have not started yet"}})
async def webrtc(camera_id: str, offer: SdpOffer, caller: Viewer, video: LiveVideoDep,
                 hub: VideoHubDep) -> SdpAnswer:
    """Send an SDP offer, get the answer; the camera's H.264 flows from its next key frame.

    Close the peer connection to leave: the server drops the viewer and its track.
    """
    if not caller.may_see(camera_id):
        raise HTTPException(404, f"no camera {camera_id!r}")
    try:
        tap = video.video_tap(camera_id)
    except UnknownCameraError:
        raise HTTPException(404, f"no camera {camera_id!r}") from None
    if tap is None:
        raise HTTPException(503, "the cameras have not started yet")
    try:
        sdp = await hub.answer(camera_id, tap, offer.sdp)
    except ViewerLimitError as exc:
        raise HTTPException(429, str(exc)) from None
    except InvalidOfferError as exc:
        raise HTTPException(400, str(exc)) from None
    return SdpAnswer(sdp=sdp)

"""Cameras, their health events and what they recognised (scope ``cameras:read``).

A caller limited to some cameras sees only those; another camera's id answers 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from api.accounts.principal import Principal
from api.deps import CamerasDep, RecognitionsDep, require_scope
from api.ports import UnknownCameraError
from api.schemas import CameraEvent, PublicCamera, Recognition

router = APIRouter(prefix="/api/v1", tags=["cameras"])

Viewer = Annotated[Principal, Depends(require_scope("cameras:read"))]
EVENT_SCAN = 10_000
"""Events read before a camera-limited caller's are picked out (more than the service keeps)."""


@router.get("/cameras", summary="Cameras with live state (passwords masked)")
def list_cameras(caller: Viewer, cameras: CamerasDep) -> list[PublicCamera]:
    return [c for c in cameras.cameras() if caller.may_see(c.id)]


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

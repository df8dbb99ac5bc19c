"""Cameras, their health events and what they recognised (API key required)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from api.deps import CamerasDep, CurrentCaller, RecognitionsDep
from api.ports import UnknownCameraError
from api.schemas import CameraEvent, PublicCamera, Recognition

router = APIRouter(prefix="/api/v1", tags=["cameras"])


@router.get("/cameras", summary="Cameras with live state (passwords masked)")
def list_cameras(_caller: CurrentCaller, cameras: CamerasDep) -> list[PublicCamera]:
    return list(cameras.cameras())


@router.get("/cameras/events", summary="Recent camera health events, newest first")
def camera_events(_caller: CurrentCaller, cameras: CamerasDep,
                  limit: int = Query(100, ge=1, le=500)) -> list[CameraEvent]:
    return [CameraEvent.of(event) for event in cameras.events(limit)]


@router.get("/recognitions", summary="Recent recognitions, newest first",
            responses={404: {"description": "Unknown camera"}})
def recognitions(_caller: CurrentCaller, log: RecognitionsDep,
                 camera_id: str | None = Query(None, description="Only this camera."),
                 limit: int = Query(50, ge=1, le=500)) -> list[Recognition]:
    try:
        return list(log.recognitions(camera_id, limit))
    except UnknownCameraError:
        raise HTTPException(404, f"no camera {camera_id!r}") from None

"""Cameras, their health events and what they recognised (API key required)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from api.deps import CurrentCaller, ServiceDep

router = APIRouter(prefix="/api/v1", tags=["cameras"])


@router.get("/cameras", summary="Cameras with live state (passwords masked)")
def list_cameras(service: ServiceDep, _caller: CurrentCaller) -> list[dict[str, Any]]:
    return list(service.cameras())


@router.get("/cameras/events", summary="Recent camera health events, newest first")
def camera_events(service: ServiceDep, _caller: CurrentCaller,
                  limit: int = Query(100, ge=1, le=500)) -> list[dict[str, Any]]:
    return list(service.events(limit))


@router.get("/recognitions", summary="Recent recognitions, newest first")
def recognitions(service: ServiceDep, _caller: CurrentCaller,
                 camera_id: str | None = Query(None, description="Only this camera."),
                 limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    if camera_id is not None and camera_id not in {c.id for c in service.config.cameras}:
        raise HTTPException(404, f"no camera {camera_id!r}")
    return list(service.recognitions(camera_id, limit))

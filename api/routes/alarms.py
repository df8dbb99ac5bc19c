"""Alarms: list, read, acknowledge, resolve, and the snapshot image (API key required)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from alarms.events import alarm_data
from alarms.records import AlarmFilter, Paging
from alarms.store import AlarmNotFoundError, IllegalTransitionError
from api.deps import CurrentCaller, ServiceDep

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

State = Literal["open", "acknowledged", "resolved"]


class AlarmAction(BaseModel):
    """Who acts on an alarm (and, for resolve, why)."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=100, description="The guard or system acting.")
    note: str = Field("", max_length=2000, description="Resolution note.")


def _store(service: Any) -> Any:
    if service.store is None:
        raise HTTPException(503, "the alarm store is not open yet")
    return service.store


def _public(service: Any, alarm: Any) -> dict[str, Any]:
    return alarm_data(alarm, service.config.alarms.public_base_url)


@router.get("", summary="Alarms, newest first")
def list_alarms(
    service: ServiceDep, _caller: CurrentCaller,
    state: list[State] | None = Query(None, description="Only these states."),
    camera_id: str | None = Query(None),
    since: dt.datetime | None = Query(None, description="Occurred at or after (ISO 8601)."),
    limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    page = _store(service).list(AlarmFilter(states=tuple(state) if state else None, camera_id=camera_id,
                                            since=since), Paging(limit, offset))
    return {"total": page.total, "items": [_public(service, a) for a in page.items]}


@router.get("/{alarm_id}", summary="One alarm")
def get_alarm(alarm_id: str, service: ServiceDep, _caller: CurrentCaller) -> dict[str, Any]:
    try:
        return _public(service, _store(service).get(alarm_id))
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None


def _transition(service: Any, alarm_id: str, action: AlarmAction, verb: str) -> dict[str, Any]:
    store = _store(service)
    try:
        alarm = (store.acknowledge(alarm_id, action.by) if verb == "acknowledge"
                 else store.resolve(alarm_id, action.by, action.note))
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None
    except IllegalTransitionError as exc:
        raise HTTPException(409, str(exc)) from None
    return _public(service, alarm)


@router.post("/{alarm_id}/acknowledge", summary="Acknowledge an open alarm")
def acknowledge(alarm_id: str, action: AlarmAction, service: ServiceDep,
                _caller: CurrentCaller) -> dict[str, Any]:
    return _transition(service, alarm_id, action, "acknowledge")


@router.post("/{alarm_id}/resolve", summary="Resolve an alarm")
def resolve(alarm_id: str, action: AlarmAction, service: ServiceDep,
            _caller: CurrentCaller) -> dict[str, Any]:
    return _transition(service, alarm_id, action, "resolve")


@router.get("/{alarm_id}/snapshot", summary="The alarm's snapshot (JPEG)",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}})
def snapshot(alarm_id: str, service: ServiceDep, _caller: CurrentCaller) -> FileResponse:
    store = _store(service)
    try:
        path = store.snapshot_file(alarm_id)
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None
    if path is None or not path.is_file():
        raise HTTPException(404, f"alarm {alarm_id} has no snapshot")
    return FileResponse(path, media_type="image/jpeg")

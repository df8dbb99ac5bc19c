"""Alarms: list, read, acknowledge, resolve, and the snapshot image (API key required)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from alarms.records import Alarm, AlarmFilter, Paging
from alarms.store import AlarmNotFoundError, IllegalTransitionError
from api.deps import AlarmsDep, CurrentCaller, PublicBaseUrl
from api.schemas import AlarmList, PublicAlarm

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

State = Literal["open", "acknowledged", "resolved"]


class AlarmAction(BaseModel):
    """Who acts on an alarm (and, for resolve, why)."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=100, description="The guard or system acting.")
    note: str = Field("", max_length=2000, description="Resolution note.")


@router.get("", summary="Alarms, newest first")
def list_alarms(
    _caller: CurrentCaller, store: AlarmsDep, base_url: PublicBaseUrl,
    state: list[State] | None = Query(None, description="Only these states."),
    camera_id: str | None = Query(None),
    since: dt.datetime | None = Query(None, description="Occurred at or after (ISO 8601)."),
    limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0),
) -> AlarmList:
    page = store.list(AlarmFilter(states=tuple(state) if state else None, camera_id=camera_id, since=since),
                      Paging(limit, offset))
    return AlarmList(total=page.total, items=[PublicAlarm.of(a, base_url) for a in page.items])


@router.get("/{alarm_id}", summary="One alarm", responses={404: {"description": "No such alarm"}})
def get_alarm(alarm_id: str, _caller: CurrentCaller, store: AlarmsDep,
              base_url: PublicBaseUrl) -> PublicAlarm:
    try:
        return PublicAlarm.of(store.get(alarm_id), base_url)
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None


def _transition(alarm_id: str, change: Callable[[], Alarm], base_url: str) -> PublicAlarm:
    try:
        alarm = change()
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None
    except IllegalTransitionError as exc:
        raise HTTPException(409, str(exc)) from None
    return PublicAlarm.of(alarm, base_url)


@router.post("/{alarm_id}/acknowledge", summary="Acknowledge an open alarm",
            responses={404: {"description": "No such alarm"}, 409: {"description": "Not allowed now"}})
def acknowledge(alarm_id: str, action: AlarmAction, _caller: CurrentCaller, store: AlarmsDep,
                base_url: PublicBaseUrl) -> PublicAlarm:
    return _transition(alarm_id, lambda: store.acknowledge(alarm_id, action.by), base_url)


@router.post("/{alarm_id}/resolve", summary="Resolve an alarm",
            responses={404: {"description": "No such alarm"}, 409: {"description": "Not allowed now"}})
def resolve(alarm_id: str, action: AlarmAction, _caller: CurrentCaller, store: AlarmsDep,
            base_url: PublicBaseUrl) -> PublicAlarm:
    return _transition(alarm_id, lambda: store.resolve(alarm_id, action.by, action.note), base_url)


@router.get("/{alarm_id}/snapshot", summary="The alarm's snapshot (JPEG)",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}},
                                                         404: {"description": "No alarm or no snapshot"}})
def snapshot(alarm_id: str, _caller: CurrentCaller, store: AlarmsDep) -> FileResponse:
    try:
        path = store.snapshot_file(alarm_id)
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None
    if path is None or not path.is_file():
        raise HTTPException(404, f"alarm {alarm_id} has no snapshot")
    return FileResponse(path, media_type="image/jpeg")

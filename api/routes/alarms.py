"""Alarms: list, read, acknowledge, resolve, and the snapshot image.

Reading needs ``alarms:read``, acting ``alarms:write``. A caller limited to some cameras sees
only their alarms: any other alarm answers 404, as if it did not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from alarms.records import Alarm, AlarmFilter, Paging
from alarms.store import AlarmNotFoundError, IllegalTransitionError
from alarms.types import AlarmType, Severity
from api.accounts.principal import Principal
from api.deps import AccountsDep, AlarmsDep, PublicBaseUrl, actor, require_scope
from api.ports import AlarmReader
from api.schemas import AlarmList, PublicAlarm

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

State = Literal["open", "acknowledged", "resolved"]
Reader = Annotated[Principal, Depends(require_scope("alarms:read"))]
Writer = Annotated[Principal, Depends(require_scope("alarms:write"))]


class AlarmAction(BaseModel):
    """Who acts on an alarm (and, for resolve, why)."""

    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(None, min_length=1, max_length=100,
                           description="The guard acting, for API keys (an integrator's guard); a logged-in "
                                       "user always acts as themselves. Default: the caller's name.")
    note: str = Field("", max_length=2000, description="Resolution note.")


def visible_alarm(store: AlarmReader, alarm_id: str, caller: Principal) -> Alarm:
    """The alarm, if the caller may see its camera; 404 otherwise (the same answer as no alarm)."""
    try:
        alarm = store.get(alarm_id)
    except AlarmNotFoundError:
        alarm = None
    if alarm is None or not caller.may_see(alarm.camera_id):
        raise HTTPException(404, f"no alarm {alarm_id!r}")
    return alarm


@router.get("", summary="Alarms, newest first")
def list_alarms(
    caller: Reader, store: AlarmsDep, base_url: PublicBaseUrl,
    state: list[State] | None = Query(None, description="Only these states (repeat for several)."),
    type: list[AlarmType] | None = Query(None, description="Only these alarm types (repeat for several)."),
    severity: list[Severity] | None = Query(None, description="Only these severities (repeat for several)."),
    camera_id: str | None = Query(None),
    zone: str | None = Query(None, description="Only alarms in this zone."),
    since: dt.datetime | None = Query(None, description="Occurred at or after (ISO 8601)."),
    until: dt.datetime | None = Query(None, description="Occurred before (ISO 8601)."),
    limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=1_000_000_000),
) -> AlarmList:
    cameras = None if caller.cameras is None else tuple(sorted(caller.cameras))
    wanted = AlarmFilter(states=tuple(state) if state else None, types=tuple(type) if type else None,
                         severities=tuple(severity) if severity else None, camera_id=camera_id,
                         camera_ids=cameras, zone=zone, since=since, until=until)
    page = store.list(wanted, Paging(limit, offset))
    return AlarmList(total=page.total, items=[PublicAlarm.of(a, base_url) for a in page.items])


class BulkAcknowledge(AlarmAction):
    """Several alarms acknowledged at once (a guard clearing a burst)."""

    ids: list[str] = Field(min_length=1, max_length=500, description="Alarm ids.")


class BulkResult(BaseModel):
    """What happened to each id: acknowledged, not found (or not visible), or not allowed now."""

    acknowledged: list[PublicAlarm]
    not_found: list[str]
    conflicts: dict[str, str] = Field(description="Alarm id -> why it cannot be acknowledged now.")


@router.post("/acknowledge", summary="Acknowledge several open alarms")
def acknowledge_many(request: Request, body: BulkAcknowledge, caller: Writer, store: AlarmsDep,
                     accounts: AccountsDep, base_url: PublicBaseUrl) -> BulkResult:
    result = BulkResult(acknowledged=[], not_found=[], conflicts={})
    for alarm_id in dict.fromkeys(body.ids):  # each id once, in the order given
        try:
            visible_alarm(store, alarm_id, caller)
            ack = partial(store.acknowledge, alarm_id)
            alarm = _transition(request, caller, accounts, alarm_id, ack, body)
        except HTTPException as exc:
            if exc.status_code == 409:
                result.conflicts[alarm_id] = str(exc.detail)
            else:
                result.not_found.append(alarm_id)
            continue
        result.acknowledged.append(PublicAlarm.of(alarm, base_url))
    return result


@router.get("/{alarm_id}", summary="One alarm", responses={404: {"description": "No such alarm"}})
def get_alarm(alarm_id: str, caller: Reader, store: AlarmsDep, base_url: PublicBaseUrl) -> PublicAlarm:
    return PublicAlarm.of(visible_alarm(store, alarm_id, caller), base_url)


def _transition(request: Request, caller: Principal, accounts: AccountsDep, alarm_id: str,
                change: Callable[[str], Alarm], action: AlarmAction) -> Alarm:
    """Run ``change(who)`` on a visible alarm, and audit it."""
    who = caller.name if caller.kind == "user" or not action.by else action.by
    try:
        alarm = change(who)
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None
    except IllegalTransitionError as exc:
        raise HTTPException(409, str(exc)) from None
    accounts.record(actor(request, caller), alarm.state, "alarm", alarm_id, by=who, camera_id=alarm.camera_id)
    return alarm


@router.post("/{alarm_id}/acknowledge", summary="Acknowledge an open alarm",
             responses={404: {"description": "No such alarm"}, 409: {"description": "Not allowed now"}})
def acknowledge(request: Request, alarm_id: str, action: AlarmAction, caller: Writer, store: AlarmsDep,
                accounts: AccountsDep, base_url: PublicBaseUrl) -> PublicAlarm:
    visible_alarm(store, alarm_id, caller)
    alarm = _transition(request, caller, accounts, alarm_id, lambda who: store.acknowledge(alarm_id, who),
                        action)
    return PublicAlarm.of(alarm, base_url)


@router.post("/{alarm_id}/resolve", summary="Resolve an alarm",
             responses={404: {"description": "No such alarm"}, 409: {"description": "Not allowed now"}})
def resolve(request: Request, alarm_id: str, action: AlarmAction, caller: Writer, store: AlarmsDep,
            accounts: AccountsDep, base_url: PublicBaseUrl) -> PublicAlarm:
    visible_alarm(store, alarm_id, caller)
    alarm = _transition(request, caller, accounts, alarm_id,
                        lambda who: store.resolve(alarm_id, who, action.note), action)
    return PublicAlarm.of(alarm, base_url)


@router.get("/{alarm_id}/snapshot", summary="The alarm's snapshot (JPEG)",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}},
                                                         404: {"description": "No alarm or no snapshot"}})
def snapshot(alarm_id: str, caller: Reader, store: AlarmsDep) -> FileResponse:
    visible_alarm(store, alarm_id, caller)
    try:
        path = store.snapshot_file(alarm_id)
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None
    if path is None or not path.is_file():
        raise HTTPException(404, f"alarm {alarm_id} has no snapshot")
    return FileResponse(path, media_type="image/jpeg")

"""Alarms: list, read, acknowledge, resolve, comment, their history, the snapshot, the live feed.

Reading needs ``alarms:read``, acting ``alarms:write``. A caller limited to some cameras sees
only their alarms: any other alarm answers 404, as if it did not exist (and the live feed never
sends it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, WebSocket
from fastapi.responses import FileResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from alarms.events import alarm_data
from alarms.records import Alarm, AlarmFilter, Paging
from alarms.store import AlarmNotFoundError, IllegalTransitionError
from alarms.types import AlarmType, Severity
from api.accounts.principal import Principal
from api.deps import (
    AccountsDep,
    AlarmsDep,
    PublicBaseUrl,
    actor,
    bearer_scheme,
    event_actor,
    key_header_scheme,
    known_principal,
    principal_for,
    require_scope,
)
from api.list_answers import CheckedQueries, ListAnswers, VersionReads
from api.live import LiveHub
from api.ports import AlarmReader, ServiceView
from api.schemas import AlarmCommentBody, AlarmEventBody, AlarmList, PublicAlarm

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

DESCRIPTION = """Alarms: list, read, acknowledge (with a note), resolve, comment, each alarm's history
(`GET /api/v1/alarms/{id}/events`: raised, acknowledged, commented, resolved, with who acted).

**Live feed** (a WebSocket, so not listed below): `GET /api/v1/alarms/live`, needs `alarms:read`.

* Credentials: the query parameter `access_token=<token or key>`, or the subprotocols
  `estatewatch.v1, bearer.<token or key>` (the server answers `estatewatch.v1`), or the usual
  `Authorization: Bearer` / `X-API-Key` headers. A missing, wrong, expired or revoked credential
  closes the socket with code 4401, one without `alarms:read` with 4403, a bad `last_event_id`
  with 4400, a store not yet open with 1013.
* `last_event_id=<id>`: first every later event from the store, in order, then the live ones,
  with no gap and no duplicate. Without it the feed starts at the newest event.
* Messages (JSON text): `{"kind": "event", "id", "type", "timestamp", "alarm": {...}}` for
  `alarm.*` events (`alarm` as `GET /api/v1/alarms/{id}` answers it, plus `actor`, `note`,
  `comment` where the event has them); `{"kind": "event", "id", "type", "timestamp", "data"}` for
  camera and endpoint events (with `cameras:read`); `{"kind": "ready", "last_event_id"}` once the
  backlog is sent; `{"kind": "lost", "count"}` where a client too slow to keep its queue (256
  events) lost the oldest; `{"kind": "ping"}` after 20 s of silence.
* A caller limited to some cameras receives only their events.
"""

State = Literal["open", "acknowledged", "resolved"]
Reader = Annotated[Principal, Depends(require_scope("alarms:read"))]
Writer = Annotated[Principal, Depends(require_scope("alarms:write"))]


class AlarmAction(BaseModel):
    """Who acts on an alarm (and, for resolve, why)."""

    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(None, min_length=1, max_length=100,
                           description="The guard acting, for API keys (an integrator's guard); a logged-in "
                                       "user always acts as themselves. Default: the caller's name.")
    note: str = Field("", max_length=2000, description="Resolution note; for acknowledge, a note kept in "
                                                       "the alarm's history (its events).")


def visible_alarm(store: AlarmReader, alarm_id: str, caller: Principal) -> Alarm:
    """The alarm, if the caller may see its camera; 404 otherwise (the same answer as no alarm)."""
    try:
        alarm = store.get(alarm_id)
    except AlarmNotFoundError:
        alarm = None
    if alarm is None or not caller.may_see(alarm.camera_id):
        raise HTTPException(404, f"no alarm {alarm_id!r}")
    return alarm


async def get_list_answers(request: Request) -> ListAnswers:
    """The app's kept list answers (set on ``app.state.list_answers`` by :func:`api.app.create_app`)."""
    answers: ListAnswers = request.app.state.list_answers
    return answers


ListAnswersDep = Annotated[ListAnswers, Depends(get_list_answers)]


async def get_list_versions(request: Request) -> VersionReads:
    """The shared reads of the list version (``app.state.list_versions``, :func:`api.app.create_app`)."""
    versions: VersionReads = request.app.state.list_versions
    return versions


VersionReadsDep = Annotated[VersionReads, Depends(get_list_versions)]
LIST_CACHE_CONTROL = "private, no-cache"
"""Clients may keep a list but must ask again each time (with ``If-None-Match``); shared caches never."""


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated list query: filter (with the caller's cameras), page, URL base, key and its digest."""

    wanted: AlarmFilter
    paging: Paging
    base_url: str
    key: str
    digest: str

    @classmethod
    def of(cls, wanted: AlarmFilter, paging: Paging, base_url: str) -> ListQuery:
        key = list_query_key(wanted, paging, base_url)
        return cls(wanted, paging, base_url, key, _key_digest(key))


class ListRoute(APIRoute):
    """The list route, with a shorter way for a query string the full route has validated before.

    Such a request skips FastAPI's dependency solving and parameter validation (about half of the
    server's CPU per kept answer, measured with py-spy under 50 clients), not any check: its
    caller is authenticated as :func:`api.deps.authenticate` does it (the same schemes; only a
    full-access key or a credential vouched a moment ago, which need no I/O) and must hold
    ``alarms:read``; the filter, page and key come from :class:`api.list_answers.CheckedQueries`
    under the caller's own cameras; the answer is made by the same :func:`_answer_list`. Anything
    else (another credential, a missing scope, a store not open, a query string not seen, an
    override of a dependency) goes the full way, which answers it (or its error) as always.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()

        async def handler(request: Request) -> Response:
            checked = await _checked_list(request)
            return checked if checked is not None else await full(request)

        return handler


async def _checked_list(request: Request) -> Response | None:
    """The answer to a list request whose query string was validated before; ``None``: go the full way."""
    app = request.app
    if app.dependency_overrides:
        return None
    queries: CheckedQueries[ListQuery] = app.state.list_queries
    service: ServiceView = app.state.service
    store = service.store
    if store is None:
        return None
    bearer, header = await bearer_scheme(request), await key_header_scheme(request)
    caller = known_principal(request, bearer.credentials if bearer is not None else header)
    if caller is None or "alarms:read" not in caller.scopes:
        return None
    query = queries.get(request.scope["query_string"], _cameras(caller), service.public_base_url)
    if query is None:
        return None
    queries.served += 1
    return await _answer_list(store, app.state.list_answers, app.state.list_versions, query,
                              request.headers.get("if-none-match"))


def _cameras(caller: Principal) -> tuple[str, ...] | None:
    return None if caller.cameras is None else tuple(sorted(caller.cameras))


async def list_alarms(
    request: Request, caller: Reader, store: AlarmsDep, base_url: PublicBaseUrl,
    answers: ListAnswersDep, versions: VersionReadsDep,
    state: list[State] | None = Query(None, description="Only these states (repeat for several)."),
    type: list[AlarmType] | None = Query(None, description="Only these alarm types (repeat for several)."),
    severity: list[Severity] | None = Query(None, description="Only these severities (repeat for several)."),
    camera_id: str | None = Query(None),
    zone: str | None = Query(None, description="Only alarms in this zone."),
    since: dt.datetime | None = Query(None, description="Occurred at or after (ISO 8601)."),
    until: dt.datetime | None = Query(None, description="Occurred before (ISO 8601)."),
    limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=1_000_000_000),
    if_none_match: str | None = Header(None, description="An `ETag` of an earlier answer: 304 while "
                                                         "it is still current."),
) -> Response:
    """Alarms matching the filters, newest first, and how many match (`total`, all pages).

    The answer carries a weak `ETag`, derived from the store's change counter, the query and the
    caller's cameras; `If-None-Match` with it answers 304 (no body, no query run) until any alarm
    is raised, changed or deleted. `Cache-Control: private, no-cache`. Identical queries (same
    filters, page and cameras) between two alarm changes are answered from the server's memory.
    """
    cameras = _cameras(caller)
    wanted = AlarmFilter(states=tuple(state) if state else None, types=tuple(type) if type else None,
                         severities=tuple(severity) if severity else None, camera_id=camera_id,
                         camera_ids=cameras, zone=zone, since=since, until=until)
    query = ListQuery.of(wanted, Paging(limit, offset), base_url)
    queries: CheckedQueries[ListQuery] = request.app.state.list_queries
    queries.put(request.scope["query_string"], cameras, base_url, query)  # validated: see ListRoute
    return await _answer_list(store, answers, versions, query, if_none_match)


router.add_api_route(
    "", list_alarms, methods=["GET"], route_class_override=ListRoute, summary="Alarms, newest first",
    response_model=AlarmList,
    responses={304: {"description": "Not modified: the `If-None-Match` tag is still this list's "
                                    "(no alarm raised, changed or deleted since, same query and "
                                    "caller cameras)."}})


async def _answer_list(store: AlarmReader, answers: ListAnswers, versions: VersionReads, query: ListQuery,
                       if_none_match: str | None) -> Response:
    """The list answer (or 304) to a validated query of a caller allowed to ask it.

    On the event loop: the change counter comes from a read shared with concurrent requests
    (begun after this one arrived), so a kept answer or a 304 takes no thread; reading the store
    and rendering go to the thread pool.
    """
    version = await versions.read(store.list_version)
    etag = _etag(version, query.digest)
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": LIST_CACHE_CONTROL})

    def render() -> tuple[int, bytes]:
        page = store.list(query.wanted, query.paging)
        # The JSON of AlarmList, written without a model per alarm (a test holds the two equal).
        return page.version, json.dumps(
            {"total": page.total, "items": [alarm_data(a, query.base_url) for a in page.items]},
            ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()

    answered, body = await answers.answer(query.key, version, render)
    if answered != version:
        etag = _etag(answered, query.digest)
    return Response(body, media_type="application/json",
                    headers={"ETag": etag, "Cache-Control": LIST_CACHE_CONTROL})


def list_query_key(wanted: AlarmFilter, paging: Paging, base_url: str) -> str:
    """What, besides the store's version, a list answer depends on.

    The filter (with the caller's cameras), the page and the base of its URLs: two callers with
    the same cameras get the same answers and tags, callers with other cameras never.
    """
    return repr((wanted, paging, base_url))


def list_etag(version: int, query_key: str) -> str:
    """The list's weak ``ETag``: the store's change counter and a digest of the query key."""
    return _etag(version, _key_digest(query_key))


def _key_digest(query_key: str) -> str:
    return hashlib.sha256(query_key.encode()).hexdigest()[:24]


def _etag(version: int, digest: str) -> str:
    return f'W/"{version}-{digest}"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 wants for it)."""
    def opaque(tag: str) -> str:
        tag = tag.strip()
        return tag[2:] if tag.startswith("W/") else tag

    offered = [opaque(tag) for tag in if_none_match.split(",")]
    return "*" in offered or opaque(etag) in offered


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
            ack = partial(store.acknowledge, alarm_id, note=body.note, actor=event_actor(caller))
            alarm = _transition(request, caller, accounts, alarm_id, ack, body)
        except HTTPException as exc:
            if exc.status_code == 409:
                result.conflicts[alarm_id] = str(exc.detail)
            else:
                result.not_found.append(alarm_id)
            continue
        result.acknowledged.append(PublicAlarm.of(alarm, base_url))
    return result


@router.websocket("/live", name="live alarm feed")
async def live(websocket: WebSocket) -> None:
    """The live feed (see the router's description and README): authenticate, then serve."""
    subprotocol = "estatewatch.v1" if "estatewatch.v1" in websocket.scope.get("subprotocols", []) else None
    await websocket.accept(subprotocol)
    try:
        caller = principal_for(websocket, _offered_credential(websocket))
    except HTTPException as exc:
        await websocket.close(4401, str(exc.detail)[:120])
        return
    if "alarms:read" not in caller.scopes:
        await websocket.close(4403, "this needs the scope 'alarms:read'")
        return
    raw = websocket.query_params.get("last_event_id")
    if raw is not None and not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        await websocket.close(4400, "last_event_id must be an event id from this feed (digits)")
        return
    service: ServiceView = websocket.app.state.service
    if service.store is None:
        await websocket.close(1013, "the alarm store is not open yet")
        return
    hub: LiveHub = websocket.app.state.live
    await hub.serve(websocket, caller, service.store, None if raw is None else int(raw))


def _offered_credential(websocket: WebSocket) -> str | None:
    """The token or key offered: ``access_token`` query, ``bearer.<token>`` subprotocol, or a header."""
    if token := websocket.query_params.get("access_token"):
        return token
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith("bearer.") and len(offered) > len("bearer."):
            return str(offered[len("bearer."):])
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return websocket.headers.get("x-api-key")


class CommentText(BaseModel):
    """A comment on an alarm."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="The comment (not blank).")


@router.post("/{alarm_id}/comments", status_code=201, summary="Comment on an alarm",
             responses={404: {"description": "No such alarm"}})
def add_comment(request: Request, alarm_id: str, body: CommentText, caller: Writer, store: AlarmsDep,
                accounts: AccountsDep) -> AlarmCommentBody:
    alarm = visible_alarm(store, alarm_id, caller)
    try:
        comment = store.add_comment(alarm_id, body.text, event_actor(caller))
    except AlarmNotFoundError:  # deleted meanwhile (retention)
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None
    accounts.record(actor(request, caller), "comment", "alarm", alarm_id, comment_id=comment.id,
                    camera_id=alarm.camera_id)
    return AlarmCommentBody.of(comment)


@router.get("/{alarm_id}/comments", summary="An alarm's comments, oldest first",
            responses={404: {"description": "No such alarm"}})
def list_comments(alarm_id: str, caller: Reader, store: AlarmsDep) -> list[AlarmCommentBody]:
    visible_alarm(store, alarm_id, caller)
    try:
        return [AlarmCommentBody.of(c) for c in store.comments(alarm_id)]
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None


@router.get("/{alarm_id}/events", summary="An alarm's history, oldest first",
            responses={404: {"description": "No such alarm"}})
def alarm_events(alarm_id: str, caller: Reader, store: AlarmsDep) -> list[AlarmEventBody]:
    """Raised, acknowledged (by whom, with the note), commented, resolved: each with who acted."""
    visible_alarm(store, alarm_id, caller)
    try:
        return [AlarmEventBody.of(e) for e in store.alarm_events(alarm_id)]
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None


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
    alarm = _transition(request, caller, accounts, alarm_id, lambda who: store.acknowledge(
        alarm_id, who, note=action.note, actor=event_actor(caller)), action)
    return PublicAlarm.of(alarm, base_url)


@router.post("/{alarm_id}/resolve", summary="Resolve an alarm",
             responses={404: {"description": "No such alarm"}, 409: {"description": "Not allowed now"}})
def resolve(request: Request, alarm_id: str, action: AlarmAction, caller: Writer, store: AlarmsDep,
            accounts: AccountsDep, base_url: PublicBaseUrl) -> PublicAlarm:
    visible_alarm(store, alarm_id, caller)
    alarm = _transition(request, caller, accounts, alarm_id,
                        lambda who: store.resolve(alarm_id, who, action.note, actor=event_actor(caller)),
                        action)
    return PublicAlarm.of(alarm, base_url)


@router.get("/{alarm_id}/snapshot", summary="The alarm's snapshot (JPEG)",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}},
                                                         404: {"description": "No alarm or no snapshot"}})
def snapshot(alarm_id: str, caller: Reader, store: AlarmsDep) -> FileResponse:
    visible_alarm(store, alarm_id, caller)
    return _alarm_file(alarm_id, store.snapshot_file, "image/jpeg", f"alarm {alarm_id} has no snapshot")


def _alarm_file(alarm_id: str, find: Callable[[str], Path | None], media_type: str,
                missing: str) -> FileResponse:
    """A visible alarm's file (``find(alarm_id)``), or 404 saying ``missing``."""
    try:
        path = find(alarm_id)
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None
    if path is None or not path.is_file():
        raise HTTPException(404, missing)
    return FileResponse(path, media_type=media_type)


@router.get("/{alarm_id}/crop", summary="The alarm's face crop (JPEG; biometric, audited)",
            response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}},
                       404: {"description": "No alarm, or no crop (none, or redacted)"}})
def crop(alarm_id: str, request: Request, caller: Reader, store: AlarmsDep, accounts: AccountsDep,
         _faces: Annotated[Principal, Depends(require_scope("faces:read"))]) -> Response:
    """The face crop of a face alarm, for the guard to compare.

    Needs ``faces:read`` besides ``alarms:read`` (admins and guards; not viewers). Each viewing is
    written to the audit log. A crop redacted because the registry deleted its person is gone for
    good (404).
    """
    visible_alarm(store, alarm_id, caller)
    try:
        jpeg = store.crop_bytes(alarm_id)
    except AlarmNotFoundError:
        raise HTTPException(404, f"no alarm {alarm_id!r}") from None
    if jpeg is None:
        raise HTTPException(404, f"alarm {alarm_id} has no face crop (not a face alarm, or redacted)")
    accounts.record(actor(request, caller), "view_crop", "alarm", alarm_id)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/{alarm_id}/clip", summary="The alarm's video clip (MP4, H.264)",
            response_class=FileResponse, responses={200: {"content": {"video/mp4": {}}},
                                                         404: {"description": "No alarm or no clip (yet)"}})
def clip(alarm_id: str, caller: Reader, store: AlarmsDep) -> FileResponse:
    """From a few seconds before the alarm to a few after; written that many seconds after it."""
    visible_alarm(store, alarm_id, caller)
    return _alarm_file(alarm_id, store.clip_file, "video/mp4",
                       f"alarm {alarm_id} has no clip (yet): clips are written a few seconds after the "
                       "alarm, for cameras that were streaming")

"""The API's response models: real schemas in OpenAPI, and byte for byte the JSON the routes gave before.

Each route now answers through a pydantic model; the JSON must stay what the lower layers'
dict builders produce (``CameraConfig.public_dict``, ``to_json``, ``HealthEvent.to_dict``,
``alarm_data``), so these tests compare the response text with those dicts serialised the way
FastAPI does, on a real (not started) service, a real cascade and a real SQLite alarm store.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from alarms.events import alarm_data
from alarms.store import AlarmStore
from alarms.types import AlarmDraft, Subject
from api.app import create_app
from api.schemas import PublicCamera
from estatewatch.config import ServiceConfig
from estatewatch.service import Service
from media.clips import CAR_PHOTO
from media.plates import generate, load_background
from streams.config import CameraConfig
from streams.frames import Frame, Instant
from streams.health import CameraState, HealthEvent, TamperKind
from vision.cascade import Cascade, to_json
from vision.live import FrameResult

KEY = "schema-test-key-0123456789"
HEADERS = {"X-API-Key": KEY}
BASE_URL = "https://estate.example:8443"
CONFIG = {
    "cameras": [
        {"id": "gate", "name": "北门", "url": "rtsp://admin:s3cret@cam-gate.local:554/stream1",
         "sub_url": "rtsp://admin:s3cret@cam-gate.local:554/stream2", "run": ["vehicles", "plates"]},
        {"id": "lobby", "url": "rtsp://cam-lobby.local/main", "username": "viewer", "password": "pw",
         "run": ["faces"]},
    ],
    "alarms": {"public_base_url": BASE_URL},
}


def as_fastapi_json(value: object) -> bytes:
    """How FastAPI's JSONResponse writes a body."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlarmStore]:
    store = AlarmStore.open(f"sqlite:///{tmp_path / 'alarms.db'}", data_dir=tmp_path)
    yield store
    store.close()


@pytest.fixture
def service(store: AlarmStore) -> Service:
    return Service(ServiceConfig.model_validate(CONFIG), store=store)


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service, frozenset([KEY]))) as tc:
        yield tc


# -- OpenAPI ---------------------------------------------------------------------------------
def _resolve(schema: dict[str, object], components: dict[str, dict[str, object]]) -> dict[str, object]:
    ref = schema.get("$ref")
    return _resolve(components[str(ref).rsplit("/", 1)[1]], components) if isinstance(ref, str) else schema


def is_vague(schema: dict[str, object], components: dict[str, dict[str, object]]) -> bool:
    """An empty (any) schema, an object without named properties, or a list of those."""
    schema = _resolve(schema, components)
    if not schema:
        return True
    if schema.get("type") == "array":
        items = schema.get("items")
        return not isinstance(items, dict) or is_vague(items, components)
    if "anyOf" in schema:
        options = schema["anyOf"]
        assert isinstance(options, list)
        return any(is_vague(option, components) for option in options if option != {"type": "null"})
    return schema.get("type") == "object" and not schema.get("properties")


REGISTRY_JSON_ROUTES = {
    "GET /api/v1/residents", "POST /api/v1/residents", "POST /api/v1/residents/import",
    "GET /api/v1/residents/{resident_id}", "PATCH /api/v1/residents/{resident_id}",
    "DELETE /api/v1/residents/{resident_id}", "GET /api/v1/residents/{resident_id}/templates",
    "POST /api/v1/residents/{resident_id}/templates", "DELETE /api/v1/residents/{resident_id}/templates",
    "GET /api/v1/vehicles", "POST /api/v1/vehicles", "POST /api/v1/vehicles/import",
    "GET /api/v1/vehicles/match",
    "GET /api/v1/visitors", "POST /api/v1/visitors", "GET /api/v1/visitors/{visitor_id}",
    "DELETE /api/v1/visitors/{visitor_id}", "GET /api/v1/watchlist", "POST /api/v1/watchlist",
    "GET /api/v1/watchlist/{entry_id}", "DELETE /api/v1/watchlist/{entry_id}",
    "GET /api/v1/watchlist/{entry_id}/templates", "POST /api/v1/watchlist/{entry_id}/templates",
    "DELETE /api/v1/watchlist/{entry_id}/templates",
    "POST /api/v1/recognize",
}


WEBHOOK_JSON_ROUTES = {
    "POST /api/v1/webhooks", "GET /api/v1/webhooks", "GET /api/v1/webhooks/{endpoint_id}",
    "PATCH /api/v1/webhooks/{endpoint_id}", "DELETE /api/v1/webhooks/{endpoint_id}",
    "POST /api/v1/webhooks/{endpoint_id}/disable",
    "POST /api/v1/webhooks/{endpoint_id}/enable", "POST /api/v1/webhooks/{endpoint_id}/rotate",
    "GET /api/v1/webhooks/{endpoint_id}/messages",
    "GET /api/v1/webhooks/{endpoint_id}/messages/{message_id}/attempts",
    "POST /api/v1/webhooks/{endpoint_id}/messages/{message_id}/replay",
}


def test_every_json_route_documents_its_response(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    json_routes, vague = [], []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for code, response in operation["responses"].items():
                body = response.get("content", {}).get("application/json")
                if not code.startswith("2") or body is None:
                    continue
                json_routes.append(f"{method.upper()} {path}")
                if is_vague(body.get("schema", {}), components):
                    vague.append(f"{method.upper()} {path} {code}: {body.get('schema')}")
    assert not vague, "responses without a schema:\n" + "\n".join(vague)
    assert {"GET /healthz", "GET /readyz", "GET /api/v1/cameras", "GET /api/v1/cameras/events",
            "GET /api/v1/recognitions", "GET /api/v1/alarms", "GET /api/v1/alarms/{alarm_id}",
            "POST /api/v1/alarms/{alarm_id}/acknowledge", "POST /api/v1/alarms/{alarm_id}/resolve",
            "POST /api/v1/alarms/acknowledge", "GET /api/v1/alarms/{alarm_id}/comments",
            "POST /api/v1/alarms/{alarm_id}/comments", "GET /api/v1/alarms/{alarm_id}/events",
            "POST /api/v1/cameras/{camera_id}/webrtc",
            "POST /api/v1/cameras/{camera_id}/snooze", "DELETE /api/v1/cameras/{camera_id}/snooze",
            "POST /api/v1/auth/login", "GET /api/v1/auth/me", "GET /api/v1/audit",
            "POST /api/v1/users", "GET /api/v1/users", "GET /api/v1/users/{user_id}",
            "PATCH /api/v1/users/{user_id}", "POST /api/v1/keys", "GET /api/v1/keys",
            } | REGISTRY_JSON_ROUTES | WEBHOOK_JSON_ROUTES == set(json_routes)
    # The non-JSON routes say what they send instead.
    paths = spec["paths"]
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert "image/jpeg" in paths["/api/v1/alarms/{alarm_id}/snapshot"]["get"]["responses"]["200"]["content"]
    assert "video/mp4" in paths["/api/v1/alarms/{alarm_id}/clip"]["get"]["responses"]["200"]["content"]


@pytest.mark.parametrize(("schema", "vague"), [
    ({}, True),
    ({"type": "object", "additionalProperties": True}, True),
    ({"type": "array", "items": {"type": "object", "additionalProperties": True}}, True),
    ({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}, False),
    ({"anyOf": [{"$ref": "#/components/schemas/Thing"}, {"type": "null"}]}, False),
    ({"type": "object", "properties": {"status": {"type": "string"}}}, False),
])
def test_vague_schemas_are_told_apart(schema: dict[str, object], vague: bool) -> None:
    components: dict[str, dict[str, object]] = {"Thing": {"type": "object", "properties": {"a": {}}}}
    assert is_vague(schema, components) is vague


# -- cameras and events ----------------------------------------------------------------------
def test_public_camera_has_every_config_field_but_the_password() -> None:
    """A field added to the camera config must be added to the API model too (or left out here on purpose)."""
    live = {"status", "analysis", "snoozed_until", "snoozed_by"}
    assert set(PublicCamera.model_fields) - live == set(CameraConfig.model_fields) - {"password"}


def test_cameras_are_the_public_config(client: TestClient, service: Service) -> None:
    response = client.get("/api/v1/cameras", headers=HEADERS)
    assert response.status_code == 200
    # Before the pipeline runs there is no live state yet: both keys are there, null.
    expected = [{**cam.public_dict(), "status": None, "analysis": None,
                 "snoozed_until": None, "snoozed_by": None} for cam in service.config.cameras]
    assert response.content == as_fastapi_json(expected)
    assert "s3cret" not in response.text and '"pw"' not in response.text


def test_camera_events_are_the_health_events(client: TestClient, service: Service) -> None:
    at = Instant(monotonic=10.0, wall=1_764_000_000.25)
    events = [HealthEvent("gate", CameraState.ONLINE, CameraState.CONNECTING, "first frame", at),
              HealthEvent("lobby", CameraState.ONLINE, None, "lens covered", at, TamperKind.BLACK)]
    for event in events:
        service._on_event(event)
    response = client.get("/api/v1/cameras/events", headers=HEADERS)
    assert response.content == as_fastapi_json([e.to_dict() for e in reversed(events)])


# -- recognitions ----------------------------------------------------------------------------
def test_recognitions_are_the_documented_json(model_store: Path, image: object, client: TestClient,
                                              service: Service) -> None:
    plate = generate(1, seed=11, backgrounds={"car": load_background(str(CAR_PHOTO))})[0]
    pictures = [image("players.jpg"), plate.image]  # type: ignore[operator]
    cascade = Cascade.from_store(run=["faces", "vehicles", "plates"])
    try:
        found = cascade.recognize(pictures)
    finally:
        cascade.close()
    assert found[0].faces and found[1].vehicles and found[1].plates, "the sample images lost their objects"
    expected: list[dict[str, object]] = []
    cameras = ["lobby", "gate"]
    for seq, (camera, picture, recognition) in enumerate(zip(cameras, pictures, found, strict=True)):
        frame = Frame(camera, picture, Instant(monotonic=seq, wall=1_764_000_000.5 + seq), seq=seq)
        service._on_result(FrameResult(camera, frame, recognition, analysis_ms=12.34, skipped_by_gate=False,
                                       latency_ms=56.78))
        expected.insert(0, {"camera_id": camera, "seq": seq, "captured_at": frame.captured_at.wall,
                            "analysis_ms": 12.3, "latency_ms": 56.8, **to_json(recognition)})
    response = client.get("/api/v1/recognitions", headers=HEADERS)
    assert response.content == as_fastapi_json(expected)
    gate = client.get("/api/v1/recognitions", params={"camera_id": "gate"}, headers=HEADERS)
    assert gate.content == as_fastapi_json(expected[:1])
    unknown = client.get("/api/v1/recognitions", params={"camera_id": "roof"}, headers=HEADERS)
    assert unknown.status_code == 404


# -- alarms ----------------------------------------------------------------------------------
def raise_alarm(store: AlarmStore) -> str:
    subject = Subject(kind="plate", id="京A12345")
    draft = AlarmDraft(type="watchlist_vehicle", severity="high", rule_id="watchlist-plates",
                       camera_id="gate", zone=None,
                       occurred_at=dt.datetime(2026, 5, 1, 8, 30, 0, 123456, tzinfo=dt.UTC),
                       subject=subject, dedup_key="watchlist-plates|plate:京A12345|gate", similarity=None,
                       plate_text="京A12345", details={"label": "黑名单", "track": 7, "scores": [0.5, 1.0]})
    snapshot = np.full((48, 64, 3), 80, np.uint8)
    return store.raise_alarm(draft, snapshot=snapshot).id


def test_alarms_are_the_webhook_data(client: TestClient, store: AlarmStore) -> None:
    alarm_id = raise_alarm(store)
    listed = client.get("/api/v1/alarms", headers=HEADERS)
    page = {"total": 1, "items": [alarm_data(store.get(alarm_id), BASE_URL)]}
    assert listed.content == as_fastapi_json(page)
    one = client.get(f"/api/v1/alarms/{alarm_id}", headers=HEADERS)
    assert one.content == as_fastapi_json(alarm_data(store.get(alarm_id), BASE_URL))
    assert one.json()["snapshot_url"] == f"{BASE_URL}/api/v1/alarms/{alarm_id}/snapshot"
    acked = client.post(f"/api/v1/alarms/{alarm_id}/acknowledge", json={"by": "guard 7"}, headers=HEADERS)
    assert acked.content == as_fastapi_json(alarm_data(store.get(alarm_id), BASE_URL))
    resolved = client.post(f"/api/v1/alarms/{alarm_id}/resolve", json={"by": "guard 7", "note": "towed"},
                           headers=HEADERS)
    assert resolved.content == as_fastapi_json(alarm_data(store.get(alarm_id), BASE_URL))
    assert resolved.json()["state"] == "resolved" and resolved.json()["resolution_note"] == "towed"
    again = client.post(f"/api/v1/alarms/{alarm_id}/resolve", json={"by": "guard 7"}, headers=HEADERS)
    assert again.status_code == 409
    assert client.get("/api/v1/alarms/nope", headers=HEADERS).status_code == 404


def test_alarm_routes_wait_for_the_store_and_check_the_key_first(store: AlarmStore) -> None:
    service = Service(ServiceConfig.model_validate(CONFIG))  # not started: no store yet
    with TestClient(create_app(service, frozenset([KEY]))) as tc:
        assert tc.get("/api/v1/alarms").status_code == 401
        assert tc.get("/api/v1/alarms", headers=HEADERS).status_code == 503


def test_probes(client: TestClient, service: Service) -> None:
    assert client.get("/healthz").content == as_fastapi_json({"status": "ok"})
    starting = client.get("/readyz")
    assert starting.status_code == 503
    assert (starting.json()["ready"], starting.json()["status"]) == (False, "starting")
    assert "s3cret" not in starting.text and "cam-gate.local" not in starting.text  # no camera URL at all
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")

"""The service end to end: sample cameras -> cascade -> REST API, with API-key auth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import load_api_keys
from estatewatch.demo import demo_config, seed_registry
from estatewatch.service import Service
from media.clips import CAR_PHOTO, gate_plates
from media.images import image_path
from media.plates import generate, load_background

KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def client(site_dir: Path) -> Iterator[tuple[TestClient, Service]]:
    from registry.service import Registry
    from vision.face.pipeline import FaceAnalyzer

    registry = Registry.open()
    seed_registry(registry, FaceAnalyzer.from_store())
    service = Service(demo_config(detect_fps=2.0), registry=registry)
    service.start()
    try:
        with TestClient(create_app(service, frozenset([KEY]))) as tc:
            yield tc, service
    finally:
        service.stop()


def wait_for(predicate: object, seconds: float = 120.0, what: object = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"condition not met in time {what() if callable(what) else what}")


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def test_probes_are_public(client: tuple[TestClient, Service]) -> None:
    tc, service = client
    assert tc.get("/healthz").json() == {"status": "ok"}
    ready = tc.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert service.engine is not None
    assert set(checks["models"]) == {spec.name for spec in service.engine.specs.values()}
    assert all(check["ok"] for check in (*checks["models"].values(), *checks["database"].values()))
    assert all(" on CPUExecutionProvider" in check["detail"] for check in checks["models"].values())
    assert set(checks["cameras"]) == {cam.id for cam in service.config.cameras}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}])
def test_api_needs_a_valid_key(client: tuple[TestClient, Service], headers: dict[str, str]) -> None:
    tc, _ = client
    assert tc.get("/api/v1/cameras", headers=headers).status_code == 401


def test_gate_camera_reads_the_rendered_plates(client: tuple[TestClient, Service]) -> None:
    tc, _ = client
    truth = {s.text for s in generate(3, seed=11, backgrounds={"car": load_background(str(CAR_PHOTO))})}

    def plates() -> set[str]:
        records = tc.get("/api/v1/recognitions", params={"camera_id": "gate", "limit": 500},
                         headers=auth()).json()
        return {p["text"] for r in records for p in r["plates"] if p["valid"]}

    wait_for(lambda: plates() & truth)
    assert plates() <= truth, f"read plates that are not in the clip: {plates() - truth}"


def test_lobby_camera_sees_faces_and_reports_state(client: tuple[TestClient, Service]) -> None:
    tc, _ = client

    def faces() -> int:
        records = tc.get("/api/v1/recognitions", params={"camera_id": "lobby"}, headers={"X-API-Key": KEY})
        return max((len(r["faces"]) for r in records.json()), default=0)

    wait_for(lambda: faces() >= 10)
    cams = {c["id"]: c for c in tc.get("/api/v1/cameras", headers=auth()).json()}
    assert cams["lobby"]["status"]["state"] == "online"
    assert cams["lobby"]["status"]["delivered"] > 0
    events = tc.get("/api/v1/cameras/events", headers=auth()).json()
    assert {"camera_id": "lobby", "state": "online"}.items() <= next(
        e for e in events if e["camera_id"] == "lobby" and e["state"] == "online").items()
    metrics = tc.get("/metrics").text
    assert 'estatewatch_frames_analysed_total{camera="lobby"}' in metrics
    assert 'estatewatch_camera_online{camera="lobby"} 1.0' in metrics
    assert 'estatewatch_frames_dropped{camera="gate"}' in metrics
    assert 'estatewatch_camera_effective_fps{camera="lobby"}' in metrics
    assert 'estatewatch_frames_paced{camera="lobby"}' in metrics
    analysis = cams["lobby"]["analysis"]
    assert 0 < analysis["effective_fps"] <= cams["lobby"]["detect_fps"]
    assert analysis["degraded"] == (analysis["effective_fps"] < cams["lobby"]["detect_fps"])


def test_unknown_camera_is_404(client: tuple[TestClient, Service]) -> None:
    tc, _ = client
    response = tc.get("/api/v1/recognitions", params={"camera_id": "roof"}, headers=auth())
    assert response.status_code == 404
    assert "roof" in response.json()["detail"]


def test_generated_api_key_is_private_and_stable(tmp_path: Path) -> None:
    keys, path = load_api_keys(tmp_path, env={})
    assert path is not None and path.stat().st_mode & 0o777 == 0o600
    assert load_api_keys(tmp_path, env={})[0] == keys
    assert load_api_keys(tmp_path, env={"ESTATEWATCH_API_KEYS": "a, b"}) == (frozenset({"a", "b"}), None)


def test_demo_site_raises_its_vehicle_alarms(client: tuple[TestClient, Service]) -> None:
    """The gate clip's cars stand still (the motion gate skips their frames) and still get decided."""
    tc, _ = client
    seen: dict[str, str] = {}

    def vehicle_alarms() -> bool:
        for alarm in tc.get("/api/v1/alarms", params={"camera_id": "gate"}, headers=auth()).json()["items"]:
            seen[alarm["type"]] = alarm["plate_text"]
        return {"watchlist_vehicle", "unregistered_vehicle"} <= set(seen)

    wait_for(vehicle_alarms, seconds=150, what=lambda: (seen, tc.get(
        "/api/v1/recognitions", params={"camera_id": "gate", "limit": 20}, headers=auth()).json()))
    plates = gate_plates()
    assert seen == {"watchlist_vehicle": plates[1], "unregistered_vehicle": plates[2]}


def test_overloaded_site_drops_frames_but_still_alarms(site_dir: Path) -> None:
    """Six cameras at 10 fps on one analysis worker: far more than this machine can analyse.

    Pacing lowers every camera to its floor and frames are still dropped (one queued frame each,
    the floors alone exceed what one worker analyses); the watchlist alarm still comes out.
    """
    from estatewatch.config import ServiceConfig
    from registry.service import Registry

    lobby = demo_config().camera("lobby")
    config = ServiceConfig.model_validate({
        "cameras": [{"id": f"lobby{i}", "url": lobby.url, "detect_fps": 10, "run": ["faces"]}
                    for i in range(6)],
        "pipeline": {"workers": 1, "max_queue": 1},
    })
    from vision.face.pipeline import FaceAnalyzer

    registry = Registry.open()
    seed_registry(registry, FaceAnalyzer.from_store())  # idempotent: Yao Ming on the watchlist
    service = Service(config, registry=registry)
    service.start()
    try:
        assert service.alarmist is not None
        wait_for(lambda: service.alarmist is not None and service.alarmist.raised >= 1, seconds=240)
        assert service.pipeline is not None
        pipeline = service.pipeline
        decoded_before = {c: s.stats().decoded for c, s in pipeline.sources.items()}
        wait_for(lambda: sum(c.dropped for c in pipeline.counters().values()) > 0, seconds=120,
                 what="overload never dropped a frame")
        wait_for(lambda: all(s.stats().decoded > decoded_before[c] for c, s in pipeline.sources.items()),
                 seconds=120, what=lambda: f"a reader stalled under overload: {decoded_before}")
        # adaptive pacing (on by default) thins every camera's rate fairly, never below its floor
        floor = config.pipeline.pacing.floor(10)
        wait_for(lambda: all(c.degraded and c.paced > 0 for c in pipeline.counters().values()), seconds=120,
                 what=lambda: f"not every camera degraded: {pipeline.counters()}")
        assert all(floor <= c.effective_fps < 10 for c in pipeline.counters().values())
        mine = {f"lobby{i}" for i in range(6)}
        alarms = [a for a in service.store.list().items if a.camera_id in mine]  # type: ignore[union-attr]
        assert alarms and {a.type for a in alarms} == {"watchlist_person"}
    finally:
        service.stop()


def test_recognize_and_enroll_use_the_running_service_models(client: tuple[TestClient, Service]) -> None:
    """``POST /recognize`` and enrollment run on the service's own cascade (its engine's batchers)."""
    tc, service = client
    assert service.cascade is not None and service.cascade.engine is service.engine
    players = image_path("players.jpg").read_bytes()
    response = tc.post("/api/v1/recognize", headers=auth(),
                       files={"image": ("players.jpg", players, "image/jpeg")})
    assert response.status_code == 200, response.text
    matched = [f["match"] for f in response.json()["faces"] if f["match"]["status"] == "match"]
    assert [(m["name"], m["owner"]["kind"], m["owner_status"]) for m in matched] == [
        ("姚明 (demo)", "watchlist", "watchlist")]
    resident = tc.post("/api/v1/residents", json={"name": "no face"}, headers=auth()).json()["id"]
    ok, wall = cv2.imencode(".jpg", np.full((480, 640, 3), 200, np.uint8))
    assert ok
    refused = tc.post(f"/api/v1/residents/{resident}/templates", headers=auth(),
                      files={"photos": ("wall.jpg", wall.tobytes(), "image/jpeg")})
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"]["refusals"] == [{"photo": "wall.jpg", "reasons": ["no face found"]}]
    assert tc.delete(f"/api/v1/residents/{resident}", headers=auth()).status_code == 200

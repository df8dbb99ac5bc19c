"""/readyz: each check and why, on the real service (built, started, with a database that goes away).

The camera points at a closed port with a password in its URL: it never comes online, and
neither that nor its password shows in the readiness answer.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alarms.store import AlarmStore
from api.app import create_app
from api.schemas import Check, ReadinessChecks
from estatewatch.config import ServiceConfig
from estatewatch.readiness import verdict
from estatewatch.service import Service
from models.manifest import profile_models
from registry.config import RegistrySettings
from registry.service import Registry
from tests.registry.conftest import TEST_KEY, analyzer  # noqa: F401  (the session's face engine)
from vision.cascade import Cascade

KEY = "readiness-test-key-0123"
SECRET = "cam-pa55word"
CONFIG = {"cameras": [{"id": "lobby", "url": f"rtsp://admin:{SECRET}@127.0.0.1:9/main", "run": ["faces"],
                       "open_timeout_s": 1}]}
OK, DOWN = Check(ok=True, detail="fine"), Check(ok=False, detail="broken")


@pytest.mark.parametrize(("started", "start_error", "models", "database", "expected"), [
    (True, None, {"m": OK}, {"registry": OK}, ("ready", [])),
    (False, None, {"m": DOWN}, {"registry": DOWN}, ("starting", ["service: broken", "model m: broken",
                                                                 "database registry: broken"])),
    (False, "boom", {"m": OK}, {"registry": OK}, ("failed", ["service: broken"])),
    (True, None, {"m": OK}, {"registry": DOWN}, ("unready", ["database registry: broken"])),
    (True, None, {"m": DOWN}, {"registry": OK}, ("unready", ["model m: broken"])),
])
def test_verdict(started: bool, start_error: str | None, models: dict[str, Check], database: dict[str, Check],
                 expected: tuple[str, list[str]]) -> None:
    service = OK if started else DOWN
    report = verdict(ReadinessChecks(service=service, models=models, database=database, cameras={}),
                     started, start_error)
    assert (report.status, report.failures) == expected
    assert report.ready is (expected[0] == "ready")


def test_a_service_not_started_names_what_is_missing(tmp_path: Path) -> None:
    service = Service(ServiceConfig.model_validate(CONFIG))
    with TestClient(create_app(service, frozenset([KEY]))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["ready"], body["status"]) == (False, "starting")
    face_models = {profile_models("default")[t].name for t in ("face_detect", "face_embed")}
    assert set(body["checks"]["models"]) == face_models
    assert body["checks"]["database"] == {"registry": {"ok": False, "detail": "not open yet"},
                                          "alarm_store": {"ok": False, "detail": "not open yet"}}
    assert body["checks"]["cameras"] == {"lobby": {"state": "not_started",
                                                   "reason": "its reader has not started"}}
    assert len(body["failures"]) == 1 + len(face_models) + 2
    assert SECRET not in response.text and "rtsp://" not in response.text


@pytest.fixture
def started(tmp_path: Path, analyzer: Any) -> Iterator[tuple[TestClient, Service, Path]]:  # noqa: F811
    db = tmp_path / "registry.db"
    registry = Registry.open(RegistrySettings(database_url=f"sqlite:///{db}", template_key=TEST_KEY))
    store = AlarmStore.open(f"sqlite:///{tmp_path / 'alarms.db'}", data_dir=tmp_path / "alarms",
                            cipher=registry.cipher)
    service = Service(ServiceConfig.model_validate(CONFIG), cascade=Cascade(analyzer, None, None),
                      registry=registry, store=store)
    service.start()
    try:
        with TestClient(create_app(service, frozenset([KEY]))) as client:
            yield client, service, db
    finally:
        service.stop()
        store.close()
        registry.close()


def test_ready_with_an_offline_camera_and_unready_without_the_database(
        started: tuple[TestClient, Service, Path]) -> None:
    client, service, db = started
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert (body["ready"], body["status"], body["failures"]) == (True, "ready", [])
    assert body["checks"]["service"] == {"ok": True, "detail": "started with 1 camera(s)"}
    assert set(body["checks"]["models"]) == set(service.cascade.model_names())  # type: ignore[union-attr]
    assert all(check["ok"] for check in body["checks"]["models"].values())
    # each model names the provider its session really runs on (CPU on this machine)
    assert all(check["detail"].endswith(" on CPUExecutionProvider loaded")
               for check in body["checks"]["models"].values()), body["checks"]["models"]
    assert body["checks"]["database"] == {"registry": {"ok": True, "detail": "SELECT 1 answered"},
                                          "alarm_store": {"ok": True, "detail": "SELECT 1 answered"}}
    camera = body["checks"]["cameras"]["lobby"]
    assert camera["state"] in ("not_started", "connecting", "offline", "stalled"), camera  # never online
    assert SECRET not in ready.text

    assert service.registry is not None
    service.registry.engine.dispose()  # the database file goes away under the running service
    for path in db.parent.glob(db.name + "*"):
        path.unlink()
    db.mkdir()
    try:
        gone = client.get("/readyz")
        assert gone.status_code == 503
        body = gone.json()
        assert (body["ready"], body["status"]) == (False, "unready")
        (failure,) = body["failures"]
        assert failure.startswith("database registry: OperationalError: unable to open database"), failure
        assert body["checks"]["database"]["alarm_store"]["ok"] is True
    finally:
        shutil.rmtree(db)

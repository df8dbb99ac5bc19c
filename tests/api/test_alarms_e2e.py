"""End to end: an RTSP camera shows a watchlisted face -> exactly one signed ``alarm.raised`` webhook.

Real parts only: the GStreamer RTSP server plays a clip built from a real photo, the real models
recognise the face, the registry matches it, the rules and the outbox raise and deliver the alarm,
and a real HTTP receiver verifies the signature with the ``standardwebhooks`` reference library.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook

from api.app import create_app
from estatewatch.config import ServiceConfig
from estatewatch.service import Service
from registry.service import Registry
from tests.api.conftest import lobby_camera, watch_yao_ming

SECRET = "whsec_" + base64.b64encode(b"estatewatch-e2e-test-secret-0001").decode()
KEY = "e2e-api-key-0123456789"


class Receiver:
    """A property system's webhook endpoint: verifies every delivery with the reference library."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.rejected = 0
        receiver = self
        verifier = Webhook(SECRET)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verifier.verify(body, headers)
                except Exception:
                    receiver.rejected += 1
                    self.send_response(400)
                else:
                    receiver.events.append(json.loads(body))
                    receiver.headers.append(headers)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/pms/alarms"

    def raised(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "alarm.raised"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def site(site_dir: Path) -> Iterator[tuple[Service, Receiver, str, TestClient]]:
    with lobby_camera() as server:
        receiver = Receiver()
        registry = Registry.open()
        owner = watch_yao_ming(registry)
        config = ServiceConfig.model_validate({
            "cameras": [{"id": "lobby", "url": server.url("lobby"), "detect_fps": 2, "run": ["faces"]}],
            "webhooks": [{"url": receiver.url, "secret": SECRET}],
            "alarms": {"public_base_url": "http://127.0.0.1:8000"},
        })
        service = Service(config, registry=registry)
        service.start()
        try:
            with TestClient(create_app(service, frozenset([KEY]))) as client:
                yield service, receiver, owner.id, client
        finally:
            service.stop()
            receiver.close()


def test_one_signed_webhook_per_appearance(site: tuple[Service, Receiver, str, TestClient]) -> None:
    _, receiver, watch_id, _ = site
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not receiver.raised():
        time.sleep(0.5)
    assert receiver.raised(), "no alarm.raised webhook arrived"
    time.sleep(15)  # the rest of the 12 s clip: the same appearance must not alarm again
    raised = receiver.raised()
    assert len(raised) == 1, [e["data"]["type"] for e in raised]
    data = raised[0]["data"]
    assert data["type"] == "watchlist_person" and data["severity"] == "critical"
    assert data["camera_id"] == "lobby"
    assert data["subject"] == {"kind": "watchlist", "id": watch_id}
    assert data["snapshot_url"].endswith(f"/api/v1/alarms/{data['id']}/snapshot")
    assert receiver.rejected == 0
    assert receiver.headers[0]["webhook-id"].startswith("msg_")
    body = json.dumps(raised[0])
    for private in ("embedding", "crop", "template"):
        assert private not in body


def test_alarm_is_stored_with_its_snapshot_and_can_be_acknowledged(
        site: tuple[Service, Receiver, str, TestClient]) -> None:
    _, receiver, _, client = site
    auth = {"Authorization": f"Bearer {KEY}"}
    alarm_id = receiver.raised()[0]["data"]["id"]
    listed = client.get("/api/v1/alarms", headers=auth).json()
    assert alarm_id in [a["id"] for a in listed["items"]]
    snap = client.get(f"/api/v1/alarms/{alarm_id}/snapshot", headers=auth)
    assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
    assert client.get(f"/api/v1/alarms/{alarm_id}/snapshot").status_code == 401
    # The subject's box lies inside the snapshot (the console draws it there).
    picture = cv2.imdecode(np.frombuffer(snap.content, np.uint8), cv2.IMREAD_COLOR)
    x1, y1, x2, y2 = client.get(f"/api/v1/alarms/{alarm_id}", headers=auth).json()["details"]["box"]
    assert 0 <= x1 < x2 <= picture.shape[1] and 0 <= y1 < y2 <= picture.shape[0]
    # The clip (5 s before to 5 s after, from the camera's own H.264) was written meanwhile, and
    # the receiver was told where it is.
    clip = client.get(f"/api/v1/alarms/{alarm_id}/clip", headers=auth)
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    clip_url = client.get(f"/api/v1/alarms/{alarm_id}", headers=auth).json()["clip_url"]
    assert clip_url == f"http://127.0.0.1:8000/api/v1/alarms/{alarm_id}/clip"
    ready = [e["data"] for e in receiver.events if e["type"] == "alarm.clip_ready"]
    assert [(d["id"], d["clip_url"]) for d in ready] == [(alarm_id, clip_url)]
    assert receiver.raised()[0]["data"]["clip_url"] is None  # raised before the "after" seconds passed
    acked = client.post(f"/api/v1/alarms/{alarm_id}/acknowledge", json={"by": "guard 7"}, headers=auth)
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    again = client.post(f"/api/v1/alarms/{alarm_id}/acknowledge", json={"by": "guard 7"}, headers=auth)
    assert again.status_code == 409
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(e["type"] == "alarm.acknowledged" for e in receiver.events):
        time.sleep(0.3)
    assert any(e["type"] == "alarm.acknowledged" and e["data"]["acknowledged_by"] == "guard 7"
               for e in receiver.events)


def test_metrics_count_deliveries_queues_batches_and_inference(
        site: tuple[Service, Receiver, str, TestClient]) -> None:
    """After the run: /metrics parses, and its delivery, queue, batch and latency series are sane."""
    service, receiver, _, client = site
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not receiver.raised():
        time.sleep(0.5)
    assert receiver.raised(), "no alarm.raised webhook arrived"
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))

    def values(name: str, **labels: str) -> list[float]:
        return [v for found, v in samples.get(name, []) if labels.items() <= found.items()]

    assert service.relay is not None
    (endpoint,) = service.relay.sinks
    assert sum(values("estatewatch_relay_attempts_total", endpoint=endpoint, outcome="delivered")) >= 1
    assert {found["outcome"] for found, _ in samples["estatewatch_relay_attempts_total"]} == {
        "delivered", "retrying", "failed", "dead"}
    assert values("estatewatch_outbox_pending", endpoint=endpoint) and all(
        v >= 0 for v in values("estatewatch_outbox_pending"))
    (depth,) = values("estatewatch_pipeline_queue_depth", camera="lobby")
    assert 0 <= depth <= service.config.pipeline.max_queue
    models = {found["model"] for found, _ in samples["estatewatch_inference_seconds_count"]}
    used = [m for m in models if values("estatewatch_inference_seconds_count", model=m)[0] > 0]
    assert used, models  # the face models ran
    for model in used:
        (calls,) = values("estatewatch_inference_seconds_count", model=model)
        assert values("estatewatch_inference_seconds_sum", model=model)[0] > 0
        buckets = values("estatewatch_inference_seconds_bucket", model=model)
        assert buckets == sorted(buckets) and buckets[-1] == calls
        (batches,) = values("estatewatch_batch_size_count", model=model)
        assert batches >= 1 and values("estatewatch_batch_size_sum", model=model)[0] >= batches  # requests
        assert values("estatewatch_batcher_queue_depth", model=model)[0] >= 0

"""Alarm fixtures: the store and registry on SQLite and PostgreSQL, a real webhook receiver, alarm drafts."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

from alarms.config import DeliveryConfig, RelayConfig, WebhookConfig
from alarms.store import AlarmStore
from alarms.types import AlarmDraft, Subject, dedup_key
from registry.config import RegistrySettings
from registry.crypto import TemplateCipher
from registry.service import Registry
from tests.registry.conftest import TEST_KEY

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
FAST_SCHEDULE = [0.0, 1.0, 2.0, 4.0]
CROP_KEY = b"c" * 32


StoreFactory = Callable[..., AlarmStore]


@pytest.fixture
def make_store(db_url: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """Factory: ``make_store(delivery=DeliveryConfig(...))`` opens (and migrates) the test database."""
    opened: list[AlarmStore] = []

    def make(delivery: DeliveryConfig | None = None, cipher: TemplateCipher | None = None) -> AlarmStore:
        store = AlarmStore.open(
            db_url, delivery=delivery, data_dir=tmp_path / "data", cipher=cipher or TemplateCipher(CROP_KEY)
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    """The registry on the same test database as the store (its watchlist feeds the intake's rules)."""
    opened = Registry.open(RegistrySettings(database_url=db_url, template_key=SecretStr(TEST_KEY)))
    yield opened
    opened.close()


def delivery_config(
    *webhooks: WebhookConfig, schedule: list[float] | None = None, **relay: Any
) -> DeliveryConfig:
    relay_cfg = RelayConfig(retry_schedule_s=schedule or FAST_SCHEDULE, workers=4, batch_size=50, **relay)
    return DeliveryConfig(public_base_url="http://127.0.0.1:8000", webhooks=list(webhooks), relay=relay_cfg)


def make_draft(
    camera_id: str = "gate-north",
    kind: str = "watchlist",
    subject_id: str = "wl-1",
    at: dt.datetime = T0,
    **overrides: Any,
) -> AlarmDraft:
    subject = Subject(kind=kind, id=subject_id)  # type: ignore[arg-type]
    values: dict[str, Any] = {
        "type": "watchlist_person",
        "severity": "critical",
        "rule_id": "watchlist",
        "camera_id": camera_id,
        "zone": None,
        "occurred_at": at,
        "subject": subject,
        "similarity": 0.61,
        "dedup_key": dedup_key("watchlist", subject, camera_id),
        "details": {"label": "张三"},
    }
    values.update(overrides)
    return AlarmDraft(**values)


# -- a real webhook receiver --------------------------------------------------------------------
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[["Received"], tuple[int, dict[str, str], bytes]]


@dataclass
class Receiver:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records requests and verifies Standard Webhooks."""

    secret: str | None = SECRET
    responder: Responder | None = None
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: like any HTTP server, no request
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = False
                if receiver.secret is not None and "webhook-signature" in headers:
                    try:
                        Webhook(receiver.secret).verify(body, headers)
                        verified = True
                    except Exception:
                        verified = False
                request = Received(self.path, headers, body, verified)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status, extra, answer = (receiver.responder or (lambda _r: (204, {}, b"")))(request)
                with receiver.lock:
                    receiver.requests.append(request)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers["webhook-id"] for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """Factory: ``receiver(responder=..., delay_s=...)`` starts a receiver, stopped after the test."""
    started: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        r = Receiver(**kwargs).start()
        started.append(r)
        return r

    yield make
    for r in started:
        r.stop()

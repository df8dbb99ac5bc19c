"""``estatewatch demo``: the demo site (two sample cameras), its registry and a webhook printer.

* ``lobby``: a slow pan over ``players.jpg`` (22 faces), analysed for faces;
* ``gate``: a car photo carrying rendered Chinese plates (blue, yellow, green in turn),
  analysed for vehicles and plates.

The clips come from :mod:`media.clips` (built once into ``<cache>/media/demo``).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alarms.webhooks import verify_signature
from estatewatch.config import ServiceConfig
from estatewatch.recognize import read_image
from media.clips import demo_folder, gate_clip, gate_plates, lobby_clip
from media.images import image_path
from streams.testing.server import Mount, RtspTestServer, gstreamer_missing

if TYPE_CHECKING:
    from api.accounts.store import Accounts
    from registry.enrollment import FaceAnalyzerLike
    from registry.service import Registry

logger = logging.getLogger(__name__)

DEMO_GUARD = "demo-guard"
"""The demo's guard account (every camera), for the console; a fresh password on each run."""


def demo_guard(accounts: Accounts) -> tuple[str, str]:
    """Create (or re-create) the demo guard with a new random password: ``(username, password)``.

    Only the password's hash is stored, so a re-run cannot show the old one: the account is
    replaced instead (its tokens go with it).
    """
    from api.accounts.store import SYSTEM, Actor

    actor = Actor(SYSTEM, None)
    for user in accounts.users():
        if user.username == DEMO_GUARD:
            accounts.delete_user(actor, user.id)
    password = secrets.token_urlsafe(9)
    accounts.create_user(actor, DEMO_GUARD, password, "guard")
    return DEMO_GUARD, password

def demo_clips() -> dict[str, Path]:
    """The demo cameras' looping H.264 clips by camera id (built once into the cache)."""
    folder = demo_folder()
    return {"lobby": lobby_clip(folder), "gate": gate_clip(folder)}


def demo_config(detect_fps: float = 2.0, webhook_url: str | None = None,
                webhook_secret: str | None = None, urls: Mapping[str, str] | None = None) -> ServiceConfig:
    """The demo site: two sample cameras and its rules.

    ``urls`` gives each camera's stream (``rtsp://`` from :class:`DemoCameras`, as a real site's
    cameras would be); without it the cameras read the looping clips directly. The default rules
    (watchlisted faces and plates) plus unregistered vehicles at the gate, and optionally one
    webhook endpoint.
    """
    urls = urls or {camera: str(path) for camera, path in demo_clips().items()}
    raw: dict[str, object] = {
        "cameras": [
            {"id": "lobby", "name": "1号楼大堂 (demo)", "url": urls["lobby"],
             "detect_fps": detect_fps, "run": ["faces"]},
            {"id": "gate", "name": "北门车行道 (demo)", "url": urls["gate"],
             "detect_fps": detect_fps, "run": ["vehicles", "plates"]},
        ],
        "rules": [{"type": "watchlist_person"}, {"type": "watchlist_vehicle"},
                  {"type": "unregistered_vehicle", "cameras": ["gate"]}],
    }
    if webhook_url and webhook_secret:
        raw["webhooks"] = [{"url": webhook_url, "secret": webhook_secret}]
    return ServiceConfig.model_validate(raw)


class DemoCameras:
    """The demo's clips served over RTSP by a local GStreamer RTSP server (no re-encode, looped).

    :meth:`start` answers the cameras' ``rtsp://127.0.0.1`` URLs, or ``None`` (with the reason
    logged) where the GStreamer RTSP bindings are missing: the demo then reads the files.
    """

    def __init__(self, clips: Mapping[str, Path]) -> None:
        self.clips = dict(clips)
        self._server: RtspTestServer | None = None

    def start(self) -> dict[str, str] | None:
        missing = gstreamer_missing()
        if missing:
            logger.warning("demo cameras read their clips directly, not over RTSP: %s", missing)
            return None
        self._server = RtspTestServer({f"/{camera}": Mount(file=path) for camera, path in self.clips.items()})
        self._server.start()
        return {camera: self._server.url(camera) for camera in self.clips}

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def seed_registry(registry: Registry, analyzer: FaceAnalyzerLike) -> list[str]:
    """Make the demo's people and cars known (idempotent); returns what it added.

    * Yao Ming (from ``yaoming.jpg``) on the watchlist: the lobby clip shows him among 22 players;
    * the gate's first plate: a resident's car; the second: a watchlisted plate; the third stays
      unregistered.
    """
    added: list[str] = []
    photo = image_path("yaoming.jpg")
    faces = analyzer.analyze([read_image(photo)])[0]
    embedding = faces[0].embedding if faces else None
    if embedding is not None and registry.match_faces(np.stack([embedding]))[0].status != "match":
        registry.enroll([(photo.name, photo.read_bytes())], analyzer, name="姚明 (demo)", watchlist=True,
                        reason="demo watchlist entry", severity="critical")
        added.append("watchlist face: 姚明 (demo)")
    resident_car, watched, _unregistered = gate_plates()
    if registry.match_plate(resident_car).status != "exact":
        resident = registry.add_resident("张伟 (demo)", building="3", unit="2", room="501")
        registry.add_vehicle(resident_car, resident_id=resident)
        added.append(f"resident vehicle: {resident_car}")
    if registry.match_plate(watched).status != "exact":
        registry.add_watchlist_entry("demo: reported stolen", plate=watched, reason="demo", severity="high")
        added.append(f"watchlist plate: {watched}")
    return added


class WebhookPrinter:
    """A local Standard Webhooks receiver that verifies each delivery and prints it."""

    def __init__(self, secret: str, echo: Callable[[str], None], host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.echo = echo
        self.received = 0
        printer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                ok = verify_signature(printer.secret, self.headers, body)
                self.send_response(204 if ok else 401)
                self.end_headers()
                printer.show(body, ok)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo-webhooks", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/estatewatch/alarms"

    def show(self, body: bytes, ok: bool) -> None:
        self.received += 1
        try:
            event = json.loads(body)
        except ValueError:
            self.echo(f"webhook: undecodable body ({len(body)} bytes)")
            return
        data = event.get("data", {})
        what = data.get("plate_text") or (data.get("details") or {}).get("name") or data.get("subject", {})
        self.echo(f"webhook {'verified' if ok else 'BAD SIGNATURE'}: {event.get('type')} "
                  f"{data.get('severity', '')} {data.get('type', '')} camera={data.get('camera_id')} {what}")

    def start(self) -> WebhookPrinter:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

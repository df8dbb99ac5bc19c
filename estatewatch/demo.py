"""Sample cameras for ``estatewatch demo``: short H.264 clips built from real sample photos.

* ``lobby``: a slow pan over ``players.jpg`` (22 faces), analysed for faces;
* ``gate``: a car photo carrying rendered Chinese plates (blue, yellow, green in turn),
  analysed for vehicles and plates.

Clips are made once with Debian's ``ffmpeg`` into ``<cache>/media/demo`` and looped by the
file camera source, paced in real time like a live camera.
"""

from __future__ import annotations

import hmac
import json
import logging
import shutil
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from benchmarks.media import image_path, media_dir
from estatewatch.config import ServiceConfig
from estatewatch.recognize import read_image

if TYPE_CHECKING:
    from registry.service import Registry
    from vision.face.pipeline import FaceAnalyzer

logger = logging.getLogger(__name__)

CAR_PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg")


class DemoError(RuntimeError):
    """The demo media could not be built (names the missing tool or file)."""


def _ffmpeg(args: list[str], target: Path) -> None:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise DemoError("the demo needs ffmpeg to build its sample clips: run scripts/setup.sh "
                        "(or apt-get install ffmpeg)")
    tmp = target.with_name(f".{target.stem}.partial{target.suffix}")
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", *args,
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "50", "-bf", "0",
           str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DemoError(f"ffmpeg failed building {target.name}: {proc.stderr.strip()[-500:]}")
    tmp.replace(target)


def lobby_clip(folder: Path) -> Path:
    """12 s of 1280x720 at 25 fps panning over players.jpg."""
    target = folder / "lobby.mp4"
    if not target.is_file():
        pan = "crop=w=iw*0.75:h=ih*0.75:x='(iw-ow)/2*(1+sin(t/2))':y='(ih-oh)/2',scale=1280:720"
        _ffmpeg(["-loop", "1", "-framerate", "25", "-i", str(image_path("players.jpg")), "-t", "12",
                 "-vf", pan], target)
    return target


def gate_clip(folder: Path) -> Path:
    """18 s of 1280x720: three cars arriving at a gate and leaving.

    A car with a blue, a yellow, then a green rendered plate, 4 s each, each followed by 2 s of
    an empty scene, so that every car is a vehicle track of its own as at a real gate.
    """
    target = folder / "gate-v2.mp4"
    if target.is_file():
        return target
    if not CAR_PHOTO.is_file():
        raise DemoError(f"the demo's car photo {CAR_PHOTO} is missing: install Debian's opencv-doc "
                        "(scripts/setup.sh does)")
    from benchmarks.plate_set import generate, load_background

    car = load_background(str(CAR_PHOTO))
    empty = cv2.resize(load_background("building.jpg"), (car.shape[1], car.shape[0]))
    cv2.imwrite(str(folder / "gate_empty.png"), empty)
    lines = []
    for i, sample in enumerate(generate(3, seed=11, backgrounds={"car": car})):
        cv2.imwrite(str(folder / f"gate_{i}.png"), sample.image)
        lines += [f"file 'gate_{i}.png'", "duration 4", "file 'gate_empty.png'", "duration 2"]
    lines.append("file 'gate_empty.png'")  # the concat demuxer needs the last file twice
    playlist = folder / "gate.txt"
    playlist.write_text("\n".join(lines) + "\n")
    _ffmpeg(["-f", "concat", "-safe", "0", "-i", str(playlist), "-t", "18", "-vf",
             "fps=25,scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2"],
            target)
    return target


def gate_plates() -> list[str]:
    """The texts of the three plates the gate clip shows (blue, yellow, green)."""
    from benchmarks.plate_set import generate, load_background

    car = load_background(str(CAR_PHOTO))
    return [sample.text for sample in generate(3, seed=11, backgrounds={"car": car})]


def demo_config(detect_fps: float = 2.0, webhook_url: str | None = None,
                webhook_secret: str | None = None) -> ServiceConfig:
    """The demo site: two sample cameras (looping local clips) and its rules.

    The default rules (watchlisted faces and plates) plus unregistered vehicles at the gate, and
    optionally one webhook endpoint.
    """
    folder = media_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    raw: dict[str, object] = {
        "cameras": [
            {"id": "lobby", "name": "1号楼大堂 (demo)", "url": str(lobby_clip(folder)),
             "detect_fps": detect_fps, "run": ["faces"]},
            {"id": "gate", "name": "北门车行道 (demo)", "url": str(gate_clip(folder)),
             "detect_fps": detect_fps, "run": ["vehicles", "plates"]},
        ],
        "rules": [{"type": "watchlist_person"}, {"type": "watchlist_vehicle"},
                  {"type": "unregistered_vehicle", "cameras": ["gate"]}],
    }
    if webhook_url and webhook_secret:
        raw["webhooks"] = [{"url": webhook_url, "secret": webhook_secret}]
    return ServiceConfig.model_validate(raw)


def seed_registry(registry: Registry, analyzer: FaceAnalyzer) -> list[str]:
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
                ok = printer.verify(self.headers, body)
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

    def verify(self, headers: Any, body: bytes) -> bool:
        from alarms.webhooks import decode_secret, sign

        msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if not msg_id or not stamp.isdigit():
            return False
        expected = sign(decode_secret(self.secret), msg_id, int(stamp), body)
        offered = headers.get("webhook-signature", "").split()
        return any(hmac.compare_digest(expected, sig) for sig in offered)

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

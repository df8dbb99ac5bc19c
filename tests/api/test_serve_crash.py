"""The whole service crashes (SIGKILL) while the receiver is down: no stored alarm is lost.

Real parts only: ``estatewatch serve`` runs as its own process (the console script) on a config
file; a GStreamer RTSP camera shows a watchlisted face, the real models raise the alarm, and a
real HTTP receiver answers 503 until the service has been killed and started again, then 200.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.service import Registry
from streams.testing.server import RtspTestServer, free_port
from tests.alarms.conftest import SECRET, Received, Receiver
from tests.api.conftest import lobby_camera, watch_yao_ming

pytestmark = [pytest.mark.slow, pytest.mark.rtsp]

KEY = "crash-test-api-key-0123456789"
ESTATEWATCH = Path(sys.executable).with_name("estatewatch")  # the installed console script

CONFIG = """
cameras:
  - {id: lobby, url: "%(camera)s", detect_fps: 2, run: [faces]}
webhooks:
  - {id: pms, url: "%(hook)s", secret: "${CRASH_TEST_WEBHOOK_SECRET}"}
alarms:
  relay:
    retry_schedule_s: [0%(retries)s]
    lease_s: 5
    poll_interval_s: 0.2
"""


class Pms:
    """The property system: 503 until ``up``, then 200; remembers each answer per ``webhook-id``."""

    def __init__(self) -> None:
        self.up = False
        self.answers: list[tuple[Received, int]] = []
        self.lock = threading.Lock()
        self.receiver = Receiver(responder=self._answer).start()

    def _answer(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        status = 200 if self.up else 503
        with self.lock:
            self.answers.append((request, status))
        return status, {}, b""

    def raised(self, status: int) -> dict[str, str]:
        """``webhook-id`` -> alarm id of the verified ``alarm.raised`` requests answered ``status``."""
        with self.lock:
            answers = list(self.answers)
        return {r.headers["webhook-id"]: r.json()["data"]["id"] for r, s in answers
                if s == status and r.verified and r.json()["type"] == "alarm.raised"}

    def summary(self) -> str:
        """What the receiver was sent: request counts per event type, answer and signature check."""
        with self.lock:
            answers = list(self.answers)
        counts: dict[str, int] = {}
        for request, status in answers:
            key = f"{request.json().get('type')} {status}{'' if request.verified else ' UNVERIFIED'}"
            counts[key] = counts.get(key, 0) + 1
        return "receiver got: " + (", ".join(f"{k} x{n}" for k, n in sorted(counts.items())) or "nothing")


@pytest.fixture
def pms() -> Iterator[Pms]:
    receiving = Pms()
    yield receiving
    receiving.receiver.stop()


@pytest.fixture
def camera() -> Iterator[RtspTestServer]:
    with lobby_camera() as server:
        yield server


@pytest.fixture
def site(model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory whose registry has Yao Ming on the watchlist (the serve process's env)."""
    data = tmp_path / "data"
    monkeypatch.setenv("ESTATEWATCH_DATA_DIR", str(data))
    monkeypatch.setenv("ESTATEWATCH_MODELS_DIR", str(model_store))
    monkeypatch.setenv("ESTATEWATCH_API_KEYS", KEY)
    monkeypatch.setenv("CRASH_TEST_WEBHOOK_SECRET", SECRET)
    for name in ("ESTATEWATCH_DATABASE_URL", "ESTATEWATCH_TEMPLATE_KEY", "ESTATEWATCH_TEMPLATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    registry = Registry.open()
    watch_yao_ming(registry)
    registry.close()
    return data


RETRY_LINE = re.compile(r"alarms\.relay: delivery of .* failed \(attempt \d+")


class Serve:
    """``estatewatch serve`` in its own process group, its output in a log file.

    ``wait`` restarts the camera's RTSP server if it dies (GStreamer's example server can abort
    on a loaded machine; the service must reconnect to a restarted camera anyway) and, on a
    timeout, says what it saw: the API's last error, what the receiver got, the camera server's
    state and the service's log with the relay's retry lines counted rather than repeated.
    """

    def __init__(self, config: Path, log: Path, camera: RtspTestServer, pms: Pms) -> None:
        self.config, self.log, self.port, self.camera, self.pms = config, log, free_port(), camera, pms
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_error = "none"
        self.camera_restarts: list[str] = []

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(ESTATEWATCH), "serve", "--config", str(self.config), "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the whole process group, like a power cut."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def alarm_ids(self) -> set[str]:
        """The alarms the service has stored (empty while it is starting)."""
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/alarms", params={"limit": 1000},
                                 headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
        except httpx.TransportError as exc:
            self.api_error = f"{type(exc).__name__}: {exc}"
            return set()
        if response.status_code == 503:  # the alarm store is not open yet
            self.api_error = f"503 {response.text[:200]}"
            return set()
        response.raise_for_status()
        return {a["id"] for a in response.json()["items"]}

    def wait(self, what: str, ready: Callable[[], Any], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc is not None and self.proc.poll() is None, (
                f"serve exited ({self.proc and self.proc.returncode}) waiting for {what}:\n{self.account()}")
            assert time.monotonic() < deadline, f"{what}: not within {timeout} s\n{self.account()}"
            if not self.camera.healthy():
                self.camera_restarts.append(self.camera.diagnosis())
                self.camera.ensure_running()
            time.sleep(0.5)

    def account(self) -> str:
        """Everything the test saw, for a failure message."""
        restarts = "".join(f"\ncamera server restarted after: {d}" for d in self.camera_restarts)
        return (f"last API error: {self.api_error}\n{self.pms.summary()}\n"
                f"{self.camera.diagnosis()}{restarts}\nservice log:\n{self.log_summary()}")

    def log_summary(self, limit: int = 12000) -> str:
        """The service's log, each run of relay retry lines replaced by its first line and a count."""
        out: list[str] = []
        retries = 0
        for line in self.log.read_text(errors="replace").splitlines():
            if RETRY_LINE.search(line):
                if retries == 0:
                    out.append(line)
                retries += 1
                continue
            if retries > 1:
                out.append(f"  ... {retries - 1} more relay retry lines")
            retries = 0
            out.append(line)
        if retries > 1:
            out.append(f"  ... {retries - 1} more relay retry lines")
        text = "\n".join(out)
        return text if len(text) <= limit else text[:limit // 3] + "\n[...]\n" + text[-2 * limit // 3:]


@pytest.mark.timeout(900)
def test_serve_killed_while_receiver_is_down_delivers_every_stored_alarm_after_restart(
        site: Path, camera: RtspTestServer, pms: Pms, tmp_path: Path) -> None:
    config = tmp_path / "estatewatch.yaml"
    config.write_text(CONFIG % {"camera": camera.url("lobby"), "hook": pms.receiver.url,
                                "retries": ", 1" * 49})
    serve = Serve(config, tmp_path / "serve.log", camera, pms)
    serve.start()
    try:
        serve.wait("an alarm stored and its webhook refused with 503",
                   lambda: serve.alarm_ids() and pms.raised(503), timeout=300)
        refused = pms.raised(503)
        before = serve.alarm_ids()  # (read second: an alarm is stored before it is sent)
        serve.kill()
        assert set(refused.values()) <= before  # only stored alarms were ever sent
        serve.start()  # same config, same data directory
        serve.wait("the restarted service's API", lambda: serve.alarm_ids() >= before, timeout=300)
        pms.up = True

        def all_delivered() -> bool:
            delivered = set(pms.raised(200).values())
            return before <= delivered and serve.alarm_ids() <= delivered

        serve.wait("every stored alarm delivered", all_delivered, timeout=300)
    finally:
        serve.kill()
    delivered = pms.raised(200)
    assert set(refused) <= set(delivered), "a refused message must be sent again with its webhook-id"
    assert all(delivered[webhook_id] == alarm_id for webhook_id, alarm_id in refused.items())
    assert all(r.verified for r, _ in pms.answers), "every request carries a valid signature"

"""The whole service crashes (SIGKILL) while the receiver is down: no stored alarm is lost.

Real parts only: ``estatewatch serve`` runs as its own process (the console script) on a config
file; a GStreamer RTSP camera shows a watchlisted face, the real models raise the alarm, and a
real HTTP receiver answers 503 until the service has been killed and started again, then 200.
"""

from __future__ import annotations

import os
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
from streams.testing.server import free_port
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


@pytest.fixture
def pms() -> Iterator[Pms]:
    receiving = Pms()
    yield receiving
    receiving.receiver.stop()


@pytest.fixture
def camera() -> Iterator[str]:
    with lobby_camera() as server:
        yield server.url("lobby")


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


class Serve:
    """``estatewatch serve`` in its own process group, its output in a log file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log, self.port = config, log, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

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
        except httpx.TransportError:
            return set()
        if response.status_code == 503:  # the alarm store is not open yet
            return set()
        response.raise_for_status()
        return {a["id"] for a in response.json()["items"]}

    def wait(self, what: str, ready: Callable[[], Any], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc is not None and self.proc.poll() is None, (
                f"serve exited ({self.proc and self.proc.returncode}) waiting for {what}:\n{self.tail()}")
            assert time.monotonic() < deadline, f"{what}: not within {timeout} s\n{self.tail()}"
            time.sleep(0.5)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.mark.timeout(900)
def test_serve_killed_while_receiver_is_down_delivers_every_stored_alarm_after_restart(
        site: Path, camera: str, pms: Pms, tmp_path: Path) -> None:
    config = tmp_path / "estatewatch.yaml"
    config.write_text(CONFIG % {"camera": camera, "hook": pms.receiver.url, "retries": ", 1" * 49})
    serve = Serve(config, tmp_path / "serve.log")
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

"""Run the GStreamer RTSP test server (:mod:`streams.testing.rtsp_server`) from tests/benchmarks.

The server needs Debian's Python bindings, so it runs as a subprocess of ``/usr/bin/python3``
and binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("rtsp_server.py")


@dataclass(frozen=True, slots=True)
class Mount:
    """One path the server offers: an H.264 MP4 ``file`` or a GStreamer ``launch`` line."""

    file: Path | None = None
    launch: str | None = None
    auth: bool = False

    def spec(self) -> dict[str, object]:
        spec: dict[str, object] = {"auth": self.auth}
        if self.file is not None:
            spec["file"] = str(self.file)
        else:
            spec["launch"] = self.launch
        return spec


def live_h264(pattern: str = "ball", width: int = 320, height: int = 240, fps: int = 25) -> str:
    """Launch line of a live synthetic camera (``videotestsrc`` encoded by x264 on the fly)."""
    return (f"videotestsrc is-live=true pattern={pattern} "
            f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bframes=0 "
            "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=-1")


def unsupported_codec() -> str:
    """Launch line of a stream FFmpeg cannot decode (GStreamer's own RTP payload)."""
    return ("videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=5/1 "
            "! rtpgstpay name=pay0")


def gstreamer_missing() -> str | None:
    """Why the server cannot run here (None when it can)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    check = ("import gi; gi.require_version('Gst', '1.0'); "
             "gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer")
    result = subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or [""])[-1]
        return f"GStreamer RTSP server bindings missing (see scripts/apt-packages.txt): {detail}"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RtspTestServer:
    """A GStreamer RTSP server subprocess on 127.0.0.1 with the given mounts."""

    def __init__(self, mounts: dict[str, Mount], *, port: int | None = None,
                 credentials: tuple[str, str] | None = None) -> None:
        self.mounts = mounts
        self.port = port or free_port()
        self.credentials = credentials
        self._process: subprocess.Popen[str] | None = None
        self._stderr: Path | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it listens."""
        spec: dict[str, object] = {
            "port": self.port, "mounts": {path: m.spec() for path, m in self.mounts.items()}}
        if self.credentials:
            spec["credentials"] = {"user": self.credentials[0], "password": self.credentials[1]}
        if self._stderr is not None:  # a killed server's log
            self._stderr.unlink(missing_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"rtsp-test-server-{self.port}-", suffix=".log")
        self._stderr = Path(name)
        with os.fdopen(fd, "w") as stderr:  # the child keeps its own copy of the descriptor
            self._process = subprocess.Popen(
                [SYSTEM_PYTHON, str(SCRIPT), "--spec", json.dumps(spec)],
                stdout=subprocess.PIPE, stderr=stderr, text=True,
                env={**os.environ, "PYTHONPATH": ""})
        deadline = time.monotonic() + timeout
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"RTSP server did not start on port {self.port}")
        while time.monotonic() < deadline and not self.listening():
            time.sleep(0.05)
        logger.info("RTSP test server on 127.0.0.1:%d (pid %d)", self.port, self._process.pid)

    def url(self, mount: str, user: str | None = None, password: str | None = None) -> str:
        """``rtsp://[user:password@]127.0.0.1:port/mount``."""
        auth = ""
        if user is not None:
            auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
            auth += "@"
        return f"rtsp://{auth}127.0.0.1:{self.port}/{mount.lstrip('/')}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def healthy(self) -> bool:
        return self.running() and self.listening()

    def diagnosis(self, lines: int = 20) -> str:
        """Whether the server runs, its exit status if not, and the end of its stderr."""
        state = "not started" if self._process is None else (
            "running" if self._process.poll() is None else f"exited with status {self._process.returncode}")
        tail = ""
        if self._stderr is not None and self._stderr.is_file():
            tail = "\n".join(self._stderr.read_text(errors="replace").splitlines()[-lines:])
        return f"RTSP test server on port {self.port}: {state}" + (f"; stderr:\n{tail}" if tail else "")

    def ensure_running(self) -> None:
        """Restart the server if it died (it aborts in some fault scenarios)."""
        if not self.healthy():
            logger.warning("RTSP test server on port %d is down: restarting", self.port)
            self.stop()
            self.start()

    def kill(self) -> None:
        """SIGKILL, like a camera losing power."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._close_pipes()
            self._process = None

    def pause(self) -> None:
        """SIGSTOP: a hung camera that keeps its sockets open."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the server unless it has exited (a dead, reaped server has no pid)."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it exited between the poll and the kill
                os.kill(self._process.pid, signum)

    def stop(self) -> None:
        """Stop the server; one that already died (GStreamer's example server can abort) is reaped."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self.resume()
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._close_pipes()
        self._process = None
        if self._stderr is not None:
            self._stderr.unlink(missing_ok=True)
            self._stderr = None

    def _close_pipes(self) -> None:
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> RtspTestServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

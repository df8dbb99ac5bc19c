"""Shared fixtures for the streams tests: a real GStreamer RTSP server and camera factories."""

from __future__ import annotations

import os
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from streams.backoff import BackoffSchedule
from streams.config import CameraConfig, TamperConfig
from streams.health import CameraState, HealthEvent
from streams.source import CameraSource
from streams.testing.server import (
    Mount,
    RtspTestServer,
    gstreamer_missing,
    live_h264,
    unsupported_codec,
)

USER, PASSWORD = "admin", "Sup3r-Secret-pw"

# A short, jitter-free schedule so that reconnect tests take seconds.
FAST_BACKOFF = BackoffSchedule.constant(0.3)


def require_gstreamer() -> None:
    """Skip when the RTSP server cannot run, but fail under CI: it must never go untested."""
    missing = gstreamer_missing()
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but the RTSP test server cannot run: {missing}")
    pytest.skip(missing)


def standard_mounts() -> dict[str, Mount]:
    return {
        "/live": Mount(launch=live_h264("ball")),
        "/frozen": Mount(launch=live_h264("checkers-8")),
        "/black": Mount(launch=live_h264("black")),
        "/private": Mount(launch=live_h264("ball"), auth=True),
        "/unsupported": Mount(launch=unsupported_codec()),
    }


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[RtspTestServer]:
    require_gstreamer()
    server = RtspTestServer(standard_mounts(), credentials=(USER, PASSWORD))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rtsp_server(_shared_server: RtspTestServer) -> RtspTestServer:
    """The session's RTSP server, restarted first if a previous test brought it down."""
    _shared_server.ensure_running()
    return _shared_server


ServerFactory = Callable[..., RtspTestServer]


@pytest.fixture
def make_server() -> Iterator[ServerFactory]:
    """A private RTSP server for tests that kill or pause it."""
    require_gstreamer()
    servers: list[RtspTestServer] = []

    def factory(mounts: dict[str, Mount] | None = None, **kwargs: Any) -> RtspTestServer:
        server = RtspTestServer(mounts or {"/live": Mount(launch=live_h264())}, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@dataclass
class EventLog:
    """Collects a camera's health events (thread-safe) and waits for them."""

    events: queue.Queue[HealthEvent] = field(default_factory=queue.Queue)
    seen: list[HealthEvent] = field(default_factory=list)

    def __call__(self, event: HealthEvent) -> None:
        self.events.put(event)

    def wait_for(self, predicate: Callable[[HealthEvent], bool], timeout: float) -> HealthEvent:
        deadline = time.monotonic() + timeout
        for event in self.seen:
            if predicate(event):
                return event
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(event)
            if predicate(event):
                return event
        raise AssertionError(f"no matching event in {timeout} s; saw {self.drain()}")

    def wait_state(self, state: CameraState, timeout: float) -> HealthEvent:
        return self.wait_for(lambda e: e.tamper is None and e.state is state, timeout)

    def drain(self) -> list[HealthEvent]:
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen


@dataclass
class Camera:
    source: CameraSource
    log: EventLog


CameraFactory = Callable[..., Camera]


@pytest.fixture
def make_camera() -> Iterator[CameraFactory]:
    """Build, start and (at teardown) stop a camera; keyword arguments go to CameraConfig."""
    cameras: list[Camera] = []

    def factory(url: str, *, start: bool = True, **overrides: Any) -> Camera:
        settings: dict[str, Any] = {
            "id": f"cam{len(cameras)}", "url": url, "backoff": FAST_BACKOFF,
            "open_timeout_s": 3.0, "read_timeout_s": 2.0,
            "tamper": TamperConfig(frozen_after_s=2.0, black_after_s=1.0),
        }
        settings.update(overrides)
        log = EventLog()
        camera = Camera(CameraSource(CameraConfig(**settings), on_event=log,
                                     rng=random.Random(0)), log)
        cameras.append(camera)
        if start:
            camera.source.start()
        return camera

    yield factory
    for camera in cameras:
        camera.source.stop()


@contextmanager
def tcp_listener(on_accept: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that hands each accepted connection to ``on_accept``."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    server.settimeout(0.2)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)
            on_accept(conn)

    thread = threading.Thread(target=serve, name="tcp-listener", daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()

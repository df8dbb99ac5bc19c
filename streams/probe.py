"""Check a camera the way the service would read it (``estatewatch streams probe``)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from streams.backoff import BackoffSchedule
from streams.config import CameraConfig, DecodeDevice, Transport
from streams.credentials import mask_url
from streams.health import HealthEvent
from streams.source import CameraSource


@dataclass
class ProbeReport:
    """What a probe saw; every URL in it is masked.

    Attributes:
        url: The masked URL.
        seconds: How long the probe ran.
        codec, width, height, source_fps: From the stream (None if it never opened).
        decoder: Where it was decoded (``cpu`` or ``cuda``; None if it never opened).
        decoded_fps: Frames decoded per second (the camera's real rate over the probe).
        delivered_fps: Frames handed out at the requested detection rate.
        decode_cpu_percent: CPU of the whole probe process, % of one core.
        state: The camera's state at the end.
        reason: Why it is in that state.
        reconnects: Connection attempts after the first.
        events: Health events (state changes and tamper findings), as dicts.
    """

    url: str
    seconds: float
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    source_fps: float | None = None
    decoder: str | None = None
    decoded_fps: float = 0.0
    delivered_fps: float = 0.0
    decode_cpu_percent: float = 0.0
    state: str | None = None
    reason: str = ""
    reconnects: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe(url: str, seconds: float = 10.0, *, transport: Transport = Transport.TCP,
          detect_fps: float = 5.0, backoff: BackoffSchedule | None = None,
          decode_device: DecodeDevice = DecodeDevice.CPU) -> ProbeReport:
    """Read ``url`` for ``seconds`` with the service's settings and report what happened."""
    config = CameraConfig(id="probe", url=url, transport=transport, detect_fps=detect_fps,
                          backoff=backoff or BackoffSchedule(), decode_device=decode_device)
    events: list[HealthEvent] = []
    source = CameraSource(config, on_event=events.append)
    process = psutil.Process()
    cpu_before = sum(process.cpu_times()[:2])
    start = time.monotonic()
    source.start()
    try:
        while (left := start + seconds - time.monotonic()) > 0:
            source.latest(timeout=left)
    finally:
        elapsed = time.monotonic() - start
        stats = source.stats()
        source.stop()
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    report = ProbeReport(url=mask_url(url), seconds=round(elapsed, 2),
                         decoded_fps=round(stats.decoded / elapsed, 2),
                         delivered_fps=round(stats.delivered / elapsed, 2),
                         decode_cpu_percent=round(100.0 * cpu / elapsed, 1),
                         state=stats.state.value if stats.state else None, reason=stats.reason,
                         reconnects=stats.reconnects, events=[e.to_dict() for e in events])
    if stats.info is not None:
        report.codec, report.width, report.height = (stats.info.codec, stats.info.width,
                                                     stats.info.height)
        report.source_fps = stats.info.fps
        report.decoder = stats.info.decoder
    return report

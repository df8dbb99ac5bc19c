"""``estatewatch bench streams``: camera decode cost (PyAV vs OpenCV), detection and recovery times.

Serves synthetic 720p25 and 1080p25 H.264 clips from the GStreamer RTSP test server on
127.0.0.1, reads them over RTSP/TCP at the detection rate (5 fps) and measures this process's
CPU per stream; decodes the same files flat out for throughput; pauses (SIGSTOP) a live server
to time hung-camera detection and restarts it to time recovery, and times a hung camera that
resumes (SIGCONT) back to frames on the same reader. Writes
``benchmarks/results/streams.json`` and ``streams.md``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import cv2
import psutil
import typer

from benchmarks.machine import machine_info, results_dir
from benchmarks.record import write_result
from media.clips import h264_clip
from streams.config import CameraConfig, TamperConfig
from streams.frames import FrameSampler
from streams.health import CameraState, HealthEvent
from streams.source import CameraSource
from streams.testing.server import Mount, RtspTestServer, gstreamer_missing, live_h264

logger = logging.getLogger(__name__)

RESOLUTIONS = {"720p": (1280, 720), "1080p": (1920, 1080)}
DETECT_FPS = 5.0


def _cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def _measure(start_readers: Callable[[], Callable[[], None]], warmup_s: float,
             seconds: float) -> tuple[float, int]:
    """Start readers, warm up, then return (CPU % of one core, frames decoded) over ``seconds``."""
    finish = start_readers()
    time.sleep(warmup_s)
    cpu_before, count_before, t0 = _cpu_seconds(), _FRAME_COUNTER.value, time.monotonic()
    time.sleep(seconds)
    cpu = _cpu_seconds() - cpu_before
    elapsed = time.monotonic() - t0
    decoded = _FRAME_COUNTER.value - count_before
    finish()
    return 100.0 * cpu / elapsed, decoded


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n


_FRAME_COUNTER = _Counter()


def _pyav_readers(url: str, n: int) -> Callable[[], Callable[[], None]]:
    def start() -> Callable[[], None]:
        sources = [CameraSource(CameraConfig(id=f"bench{i}", url=url, detect_fps=DETECT_FPS,
                                             tamper=TamperConfig()))
                   for i in range(n)]
        stop = threading.Event()
        consumers = []
        last = [0] * n

        def consume(i: int) -> None:
            while not stop.is_set():
                sources[i].latest(timeout=0.5)
                decoded = sources[i].stats().decoded
                _FRAME_COUNTER.add(decoded - last[i])
                last[i] = decoded

        for source in sources:
            source.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
                source.state is not CameraState.ONLINE for source in sources):
            time.sleep(0.1)
        for i in range(n):
            consumers.append(threading.Thread(target=consume, args=(i,), daemon=True))
            consumers[-1].start()

        def finish() -> None:
            stop.set()
            for thread in consumers:
                thread.join()
            for source in sources:
                source.stop()

        return finish
    return start


def _opencv_readers(url: str, n: int) -> Callable[[], Callable[[], None]]:
    def start() -> Callable[[], None]:
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
        stop = threading.Event()

        def read() -> None:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 3000]
            capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
            sampler = FrameSampler(DETECT_FPS)
            while not stop.is_set() and capture.grab():
                _FRAME_COUNTER.add()
                if sampler.due(time.monotonic()):
                    capture.retrieve()
            capture.release()

        threads = [threading.Thread(target=read, daemon=True) for _ in range(n)]
        for thread in threads:
            thread.start()

        def finish() -> None:
            stop.set()
            for thread in threads:
                thread.join()

        return finish
    return start


def _file_throughput(path: str) -> dict[str, float]:
    """Frames per second decoding ``path`` flat out, to BGR, with each backend."""
    start = time.perf_counter()
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        frames = sum(1 for frame in container.decode(stream) if frame.to_ndarray(format="bgr24")
                     is not None)
    pyav = frames / (time.perf_counter() - start)
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    start, frames = time.perf_counter(), 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    opencv = frames / (time.perf_counter() - start)
    return {"pyav_fps": round(pyav, 1), "opencv_fps": round(opencv, 1)}


def _wait(events: list[HealthEvent], predicate: Callable[[HealthEvent], bool],
          timeout: float) -> HealthEvent | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in list(events):
            if predicate(event):
                return event
        time.sleep(0.02)
    return None


def _fault_times() -> dict[str, float | None]:
    """Seconds from SIGSTOP to stalled/offline, and from server restart to frames again."""
    server = RtspTestServer({"/live": Mount(launch=live_h264())})
    server.start()
    events: list[HealthEvent] = []
    source = CameraSource(CameraConfig(id="fault", url=server.url("live")),
                          on_event=events.append)
    source.start()
    try:
        _wait(events, lambda e: e.state is CameraState.ONLINE, 15)
        paused = time.monotonic()
        server.pause()
        stalled = _wait(events, lambda e: e.state is CameraState.STALLED, 15)
        offline = _wait(events, lambda e: e.state is CameraState.OFFLINE, 15)
        server.kill()
        server.start()
        back = time.monotonic()
        online = _wait(events, lambda e: e.state is CameraState.ONLINE and e.at.monotonic > back,
                       15)
        frame = source.latest(timeout=10)
        return {
            "hung_to_stalled_s": round(stalled.at.monotonic - paused, 2) if stalled else None,
            "hung_to_offline_s": round(offline.at.monotonic - paused, 2) if offline else None,
            "return_to_first_frame_s": round(online.at.monotonic - back, 2) if online else None,
            "return_to_delivered_frame_s": (round(frame.captured_at.monotonic - back, 2)
                                            if frame else None),
        }
    finally:
        source.stop()
        server.stop()


def _resume_time(hung_s: float = 10.0) -> dict[str, float | None]:
    """Seconds from SIGCONT after ``hung_s`` of SIGSTOP to frames again, on the same reader."""
    server = RtspTestServer({"/live": Mount(launch=live_h264())})  # its own: paused clients upset it
    server.start()
    events: list[HealthEvent] = []
    source = CameraSource(CameraConfig(id="resume", url=server.url("live")), on_event=events.append)
    source.start()
    try:
        _wait(events, lambda e: e.state is CameraState.ONLINE, 15)
        paused = time.monotonic()
        server.pause()
        time.sleep(hung_s)
        server.resume()
        resumed = time.monotonic()
        online = _wait(events, lambda e: e.state is CameraState.ONLINE and e.at.monotonic > resumed, 30)
        return {f"resume_after_{hung_s:g}s_hang_to_first_frame_s":
                round(online.at.monotonic - resumed, 2) if online else None,
                "hang_s": round(resumed - paused, 2)}
    finally:
        source.stop()
        server.stop()


def run_streams_benchmark(seconds: float = 8.0, streams: int = 2) -> dict[str, Any]:
    """Run every measurement and return the results (see the module docstring)."""
    missing = gstreamer_missing()
    if missing:
        raise RuntimeError(missing)
    results: dict[str, Any] = {"machine": machine_info(), "detect_fps": DETECT_FPS,
                               "streams_per_measurement": streams, "seconds": seconds,
                               "rtsp": [], "file_decode": {}}
    for label, (width, height) in RESOLUTIONS.items():
        clip = h264_clip(width, height, fps=25, seconds=30)
        results["file_decode"][label] = _file_throughput(str(clip))
        for backend, readers in (("pyav", _pyav_readers), ("opencv", _opencv_readers)):
            typer.echo(f"{label} over RTSP, {backend}, {streams} streams, {seconds:g} s ...")
            with RtspTestServer({"/clip": Mount(file=clip)}) as server:
                cpu, decoded = _measure(readers(server.url("clip"), streams), 3.0, seconds)
            per_stream = cpu / streams
            row = {"resolution": label, "backend": backend, "streams": streams,
                   "cpu_percent_per_stream": round(per_stream, 1),
                   "decoded_fps_per_stream": round(decoded / seconds / streams, 1),
                   "streams_per_core": int(100 // per_stream) if per_stream > 0 else None}
            logger.info("%s", row)
            results["rtsp"].append(row)
    typer.echo("hung camera detection and recovery ...")
    results["faults"] = {**_fault_times(), **_resume_time()}
    return results


def _markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        "# Streams benchmark",
        "",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores, "
        f"{machine['date']}. RTSP/TCP from the GStreamer test server on 127.0.0.1, "
        f"{results['streams_per_measurement']} streams at once, sampled at "
        f"{results['detect_fps']:g} fps, CPU of the reading process only.",
        "",
        "| resolution | backend | CPU per stream (% of a core) | decoded fps per stream "
        "| streams per core |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for row in results["rtsp"]:
        lines.append(f"| {row['resolution']}25 | {row['backend']} | "
                     f"{row['cpu_percent_per_stream']} | {row['decoded_fps_per_stream']} | "
                     f"{row['streams_per_core']} |")
    lines += ["", "File decode flat out, to BGR (fps):", "",
              "| resolution | PyAV | OpenCV |", "| --- | ---: | ---: |"]
    for label, row in results["file_decode"].items():
        lines.append(f"| {label} | {row['pyav_fps']} | {row['opencv_fps']} |")
    faults = results["faults"]
    lines += ["", "Faults (default camera config: stall 2 s, read timeout 3 s, backoff 1 s):", ""]
    lines += [f"- {key}: {value}" for key, value in faults.items()]
    return "\n".join(lines) + "\n"


def streams_command(
    seconds: float = typer.Option(8.0, min=2.0, help="Measurement window per configuration."),
    streams: int = typer.Option(2, min=1, max=32, help="Concurrent streams per configuration."),
) -> None:
    """Decode CPU per 720p/1080p stream (PyAV vs OpenCV), hung-camera and recovery times."""
    results = run_streams_benchmark(seconds, streams)
    markdown = _markdown(results)
    write_result(results, results_dir() / "streams", markdown)
    typer.echo(markdown)

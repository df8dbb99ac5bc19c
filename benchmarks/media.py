"""``estatewatch bench media``: CPU of the alarm-clip buffer per camera and of each WebRTC viewer.

One 720p25 H.264 camera (a synthetic clip, GOP 2 s, served by the GStreamer RTSP test server on
127.0.0.1, read over RTSP/TCP by a :class:`~streams.source.CameraSource` at 5 fps like the
service does). Measured in this process only:

- **clip buffer:** process CPU with and without a :class:`~streams.packets.PacketBuffer` on the
  camera's packet tap, alternating windows; and the same work timed directly (the camera's
  packets through the assembler and the buffer, CPU time per packet x 25 fps);
- **WebRTC viewers:** process CPU with 0, 1 and 2 viewers on :class:`~api.video.VideoHub` (H.264
  passthrough); the viewers are aiortc peers in child processes (their decoding is not counted)
  and report their time from offer to first decoded frame.

Writes ``benchmarks/results/media.json`` and ``media.md``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import psutil
import typer

from api.video import VideoHub, VideoSettings
from benchmarks.machine import machine_info, results_dir
from benchmarks.record import write_result
from media.clips import h264_clip
from streams.clips import write_mp4
from streams.config import CameraConfig
from streams.health import CameraState
from streams.packets import PacketAssembler, PacketBuffer, PacketTap
from streams.source import CameraSource
from streams.testing.server import Mount, RtspTestServer, gstreamer_missing

logger = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 1280, 720, 25
DETECT_FPS = 5.0
KEEP_S = 13.0  # the default clip window (5 s + 5 s) and its margin


def _cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def _cpu_percent(seconds: float) -> float:
    before, t0 = _cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (_cpu_seconds() - before) / (time.monotonic() - t0)


@contextmanager
def _camera(url: str) -> Iterator[CameraSource]:
    """A started camera whose sampled frames are taken (as the pipeline would)."""
    source = CameraSource(CameraConfig(id="bench", url=url, detect_fps=DETECT_FPS))
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            source.latest(timeout=0.5)

    source.start()
    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    deadline = time.monotonic() + 20
    while source.state is not CameraState.ONLINE and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield source
    finally:
        stop.set()
        consumer.join()
        source.stop()


def _buffer_cost(source: CameraSource, seconds: float, rounds: int) -> dict[str, Any]:
    """Process CPU with and without the clip buffer, alternating ``rounds`` times."""
    without, with_buffer = [], []
    window = seconds / rounds
    for _ in range(rounds):
        without.append(_cpu_percent(window))
        buffer = PacketBuffer(KEEP_S)
        unsubscribe = source.packets.subscribe(buffer)
        with_buffer.append(_cpu_percent(window))
        held = buffer.seconds()
        now = time.time()
        clip = buffer.window(now - 5.0, now)
        unsubscribe()
    a, b = sum(without) / rounds, sum(with_buffer) / rounds
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        info = write_mp4(clip, Path(folder) / "clip.mp4")
        write_ms = (time.perf_counter() - started) * 1000
    return {"clip_write_ms": round(write_ms, 1), "clip_seconds": round(info.duration_s, 2),
            "clip_packets": info.packets,
"camera_cpu_percent_without_buffer": round(a, 2), "camera_cpu_percent_with_buffer": round(b, 2),
            "buffer_cpu_percent_by_difference": round(b - a, 2), "buffer_seconds_held": round(held, 1),
            "window_s": seconds}


def _buffer_direct(url: str, packets: int = 750) -> dict[str, Any]:
    """CPU time of the assembler and buffer alone, per packet, on the camera's own packets."""
    with av.open(url, options={"rtsp_transport": "tcp"}) as container:
        stream = container.streams.video[0]
        demuxed = []
        for packet in container.demux(stream):
            if packet.size:
                demuxed.append(packet)
            if len(demuxed) >= packets:
                break
        tap = PacketTap("direct")
        buffer = PacketBuffer(KEEP_S)
        tap.subscribe(buffer)
        codec = stream.codec_context
        assembler = PacketAssembler(tap, codec.name, codec.width, codec.height, stream.time_base,
                                    codec.extradata, float(stream.average_rate or FPS))
        start = time.thread_time()
        for packet in demuxed:
            assembler.push(packet)
        spent = time.thread_time() - start
    per_packet_us = spent / len(demuxed) * 1e6
    return {"packets": len(demuxed), "cpu_us_per_packet": round(per_packet_us, 1),
            "buffer_cpu_percent_at_25fps": round(per_packet_us * FPS / 1e4, 3)}


def _viewer(conn: multiprocessing.connection.Connection, seconds: float) -> None:
    """A WebRTC viewer in its own process: offer over ``conn``, decode for ``seconds``, report."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamTrack

    async def run() -> dict[str, Any]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        tracks: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
        pc.on("track", tracks.put_nowait)
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        started = time.monotonic()
        conn.send(pc.localDescription.sdp)
        answer = await asyncio.to_thread(conn.recv)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        track = await asyncio.wait_for(tracks.get(), 15)
        first: float | None = None
        frames, size = 0, (0, 0)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            frame = await asyncio.wait_for(track.recv(), 15)
            if first is None:
                first = time.monotonic() - started
            frames += 1
            size = (frame.width, frame.height)  # type: ignore[union-attr]
        await pc.close()
        return {"first_frame_s": round(first or -1, 2), "frames": frames, "size": list(size)}

    conn.send(asyncio.run(run()))


def _viewer_cost(source: CameraSource, counts: list[int], seconds: float) -> list[dict[str, Any]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    hub = VideoHub(VideoSettings(max_viewers_per_camera=max(counts) + 1))
    context = multiprocessing.get_context("spawn")
    rows: list[dict[str, Any]] = []
    try:
        for count in counts:
            children, pipes = [], []
            for _ in range(count):
                parent, child = context.Pipe()
                process = context.Process(target=_viewer, args=(child, seconds + 8.0), daemon=True)
                process.start()
                offer = parent.recv()
                answer = asyncio.run_coroutine_threadsafe(hub.answer("bench", source.packets, offer), loop)
                parent.send(answer.result(30))
                children.append(process)
                pipes.append(parent)
            time.sleep(4.0)  # connected and past the first key frame
            cpu = _cpu_percent(seconds)
            reports = [pipe.recv() for pipe in pipes]
            for process in children:
                process.join(30)
            row: dict[str, Any] = {"viewers": count, "process_cpu_percent": round(cpu, 2),
                                   "viewer_reports": reports}
            logger.info("%s", row)
            rows.append(row)
            asyncio.run_coroutine_threadsafe(hub.close(), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    base = float(rows[0]["process_cpu_percent"])
    for row in rows[1:]:
        row["cpu_percent_per_viewer"] = round((row["process_cpu_percent"] - base) / row["viewers"], 2)
    return rows


def run_media_benchmark(seconds: float = 30.0, rounds: int = 3) -> dict[str, Any]:
    missing = gstreamer_missing()
    if missing:
        raise RuntimeError(missing)
    clip = h264_clip(WIDTH, HEIGHT, fps=FPS, seconds=30)
    with av.open(str(clip)) as container:
        mbps = container.bit_rate / 1e6
    results: dict[str, Any] = {"machine": machine_info(),
                               "camera": f"{WIDTH}x{HEIGHT}@{FPS} H.264, GOP 2 s, {mbps:.1f} Mbit/s",
                               "detect_fps": DETECT_FPS}
    with RtspTestServer({"/clip": Mount(file=clip)}) as server:
        url = server.url("clip")
        results["buffer_direct"] = _buffer_direct(url)
        with _camera(url) as source:
            results["buffer"] = _buffer_cost(source, seconds, rounds)
            results["viewers"] = _viewer_cost(source, [0, 1, 2], seconds / 2)
    return results


def _markdown(results: dict[str, Any]) -> str:
    machine, buffer, direct = results["machine"], results["buffer"], results["buffer_direct"]
    lines = [
        "# Media benchmark: alarm-clip buffer and WebRTC viewers",
        "",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores, {machine['date']}. "
        f"One camera: {results['camera']}, RTSP/TCP from the GStreamer test server on 127.0.0.1, "
        f"decoded and sampled at {results['detect_fps']:g} fps as the service does. "
        "CPU of this process only.",
        "",
        "Clip buffer (packets as demuxed, no re-encode; 13 s held):",
        "",
        f"- camera without buffer: {buffer['camera_cpu_percent_without_buffer']} % of a core; with: "
        f"{buffer['camera_cpu_percent_with_buffer']} % (difference "
        f"{buffer['buffer_cpu_percent_by_difference']} %, over {buffer['window_s']:g} s in "
        "alternating windows)",
        f"- timed directly: {direct['cpu_us_per_packet']} us per packet = "
        f"**{direct['buffer_cpu_percent_at_25fps']} % of a core per camera** at 25 fps",
        f"- writing a clip of {buffer['clip_seconds']} s ({buffer['clip_packets']} packets) from the buffer: "
        f"{buffer['clip_write_ms']} ms",
        "",
        "WebRTC viewers (H.264 passthrough, aiortc; viewers in other processes):",
        "",
        "| viewers | process CPU (% of a core) | per viewer | first frame (s) | frames received |",
        "| ---: | ---: | ---: | --- | --- |",
    ]
    for row in results["viewers"]:
        reports = row["viewer_reports"]
        lines.append(f"| {row['viewers']} | {row['process_cpu_percent']} | "
                     f"{row.get('cpu_percent_per_viewer', '-')} | "
                     f"{', '.join(str(r['first_frame_s']) for r in reports) or '-'} | "
                     f"{', '.join(str(r['frames']) for r in reports) or '-'} |")
    return "\n".join(lines) + "\n"


def media_command(
    seconds: float = typer.Option(30.0, min=4.0, help="Measurement window of the buffer (viewers: half)."),
    rounds: int = typer.Option(3, min=1, max=10, help="Alternations of without/with buffer."),
) -> None:
    """CPU per camera of the alarm-clip buffer and per WebRTC viewer (720p25)."""
    results = run_media_benchmark(seconds, rounds)
    markdown = _markdown(results)
    write_result(results, results_dir() / "media", markdown)
    typer.echo(markdown)

"""CameraSource against a real GStreamer RTSP server on 127.0.0.1 (and hostile TCP peers)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from pathlib import Path

import av
import psutil
import pytest

from media.clips import h264_clip
from streams import decoder
from streams.config import DecodeDevice
from streams.health import CameraState, TamperKind
from streams.testing.server import Mount, RtspTestServer
from tests.waiting import wait_until

from .conftest import PASSWORD, USER, CameraFactory, ServerFactory, tcp_listener

pytestmark = pytest.mark.rtsp


def test_frames_keep_coming_never_above_the_detection_rate(rtsp_server: RtspTestServer,
                                                          make_camera: CameraFactory) -> None:
    camera = make_camera(rtsp_server.url("live"), detect_fps=5)
    camera.log.wait_state(CameraState.ONLINE, timeout=30)
    frames = []
    for _ in range(12):
        frame = camera.source.latest(timeout=10.0)
        assert frame is not None, "frames stopped coming"
        frames.append(frame)
    seqs = [f.seq for f in frames]
    assert seqs == sorted(set(seqs)), "each frame delivered once, in order"
    assert all(f.dropped == b.seq - a.seq - 1 for a, b, f in zip(frames, frames[1:], frames[1:],
                                                                 strict=False))
    # Sampled at 5 fps whatever the load: never more frames than the rate allows over their span
    # (the sampler's 10 % slack and rounding aside), and the 25 fps source's others are dropped.
    span = frames[-1].captured_at.monotonic - frames[0].captured_at.monotonic
    assert len(frames) - 1 <= span * 5 + 1, (len(frames), span)
    assert sum(f.dropped for f in frames[1:]) > 0
    assert frames[-1].image.shape == (240, 320, 3) and frames[-1].camera_id == "cam0"
    stats = camera.source.stats()
    assert stats.info is not None and (stats.info.codec, stats.info.width) == ("h264", 320)


def test_slow_consumer_gets_the_newest_frame_not_a_backlog(rtsp_server: RtspTestServer,
                                                          make_camera: CameraFactory) -> None:
    camera = make_camera(rtsp_server.url("live"), detect_fps=10)
    camera.log.wait_state(CameraState.ONLINE, timeout=30)
    first = camera.source.latest(timeout=10.0)
    assert first is not None
    busy_from = camera.source.stats().decoded
    # A consumer busy while 2 s of the 25 fps stream (20 samples at 10 fps) go by.
    wait_until(lambda: camera.source.stats().decoded >= busy_from + 50, timeout=60, what="50 frames decoded")
    frame = camera.source.latest(timeout=10.0)
    assert frame is not None
    assert frame.dropped == frame.seq - first.seq - 1  # what it missed is counted, not queued
    assert frame.seq >= busy_from + 25, "a frame from the end of the busy time, not the next in line"


def test_a_server_that_died_on_its_own_is_restarted_and_stops_cleanly(make_server: ServerFactory) -> None:
    """GStreamer's example server can abort: once its death is seen (and the process reaped),
    pausing, resuming, restarting and stopping it must not fail on the pid it no longer has."""
    server = make_server()
    pid = server.pid
    assert pid is not None
    os.kill(pid, 9)  # as an abort() would, from outside the fixture's own methods
    wait_until(lambda: not server.running(), timeout=10, what="the server to be seen dead")  # reaps it
    server.pause()  # no-ops on a dead server
    server.resume()
    server.ensure_running()
    assert server.healthy() and server.pid != pid
    server.stop()
    assert not server.running()


@pytest.mark.slow
def test_server_killed_and_back_after_10_s(make_server: ServerFactory,
                                           make_camera: CameraFactory) -> None:
    server = make_server()
    camera = make_camera(server.url("live"))
    camera.log.wait_state(CameraState.ONLINE, timeout=30)
    server.kill()
    camera.log.wait_state(CameraState.OFFLINE, timeout=30)
    time.sleep(10)
    server.start()
    back = time.monotonic()
    camera.log.wait_for(lambda e: e.state is CameraState.ONLINE and e.at.monotonic > back, 30)
    frames = [camera.source.latest(timeout=10.0) for _ in range(5)]
    assert all(f is not None and f.captured_at.monotonic > back for f in frames)
    assert camera.source.stats().reconnects >= 3


@pytest.mark.slow
def test_hung_server_is_stalled_then_offline_then_recovers(make_server: ServerFactory,
                                                            make_camera: CameraFactory) -> None:
    server = make_server()
    camera = make_camera(server.url("live"), stall_after_s=1.0, read_timeout_s=2.0)
    camera.log.wait_state(CameraState.ONLINE, timeout=30)
    server.pause()  # SIGSTOP: sockets stay open, nothing is sent
    try:
        stalled = camera.log.wait_state(CameraState.STALLED, timeout=30)
        offline = camera.log.wait_state(CameraState.OFFLINE, timeout=30)
        assert offline.at.monotonic >= stalled.at.monotonic
    finally:
        server.resume()
    server.kill()  # GStreamer's server is unreliable after paused clients; restart it clean
    server.start()
    camera.log.wait_for(lambda e: e.state is CameraState.ONLINE and e.previous is not None
                        and e.previous is not CameraState.CONNECTING, timeout=30)


def _reader_threads(camera_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"camera-{camera_id}-")]


@pytest.mark.slow
def test_hung_server_that_resumes_comes_back_without_a_restart(make_server: ServerFactory,
                                                               make_camera: CameraFactory) -> None:
    """SIGSTOP for 10 s, then SIGCONT: the same reader (same threads) is online again by itself."""
    server = make_server()  # its own server: GStreamer is fragile after paused clients
    camera = make_camera(server.url("live"), stall_after_s=1.0, read_timeout_s=2.0)
    camera.log.wait_state(CameraState.ONLINE, timeout=30)
    source, threads = camera.source, _reader_threads(camera.source.config.id)
    assert len(threads) == 2
    paused = time.monotonic()
    server.pause()  # SIGSTOP: sockets stay open, nothing is sent
    try:
        camera.log.wait_for(lambda e: e.state is CameraState.STALLED and e.at.monotonic > paused, 15)
        time.sleep(max(0.0, paused + 10 - time.monotonic()))
        hung_state = source.state
    finally:
        server.resume()
    resumed = time.monotonic()
    camera.log.wait_for(lambda e: e.state is CameraState.ONLINE and e.at.monotonic > resumed, 60)
    assert server.healthy(), "the RTSP test server died after SIGCONT"
    frames = [source.latest(timeout=10.0) for _ in range(5)]
    assert all(f is not None and f.captured_at.monotonic > resumed for f in frames)
    seqs = [f.seq for f in frames if f is not None]
    assert seqs == sorted(set(seqs)), "fresh frames, each once, in order"
    # online -> stalled (-> offline) while hung, -> online once resumed (frames that were in
    # flight may briefly bring it online after the first stall: a loaded machine decodes late).
    assert hung_state in (CameraState.STALLED, CameraState.OFFLINE), hung_state
    states = [e.state for e in camera.log.drain() if not e.is_tamper and e.at.monotonic > paused]
    assert states[0] is CameraState.STALLED and CameraState.ONLINE in states, states
    assert camera.source is source and _reader_threads(source.config.id) == threads
    assert all(t.is_alive() for t in threads)


def _thread_and_fd_count() -> tuple[int, int]:
    process = psutil.Process()
    return threading.active_count(), process.num_fds()


@pytest.mark.slow
def test_silent_tcp_peer_goes_offline_without_leaks(make_camera: CameraFactory) -> None:
    held: list[socket.socket] = []
    baseline = _thread_and_fd_count()
    with tcp_listener(held.append) as port:
        cameras = [make_camera(f"rtsp://127.0.0.1:{port}/stream", open_timeout_s=1.0,
                               read_timeout_s=0.5) for _ in range(5)]
        for camera in cameras:
            event = camera.log.wait_state(CameraState.OFFLINE, timeout=15)
            assert "timed out" in event.reason or "not a valid stream" in event.reason
        deadline = time.monotonic() + 60
        while sum(c.source.stats().attempts for c in cameras) < 50:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert all(c.source.state is CameraState.OFFLINE for c in cameras)
        for camera in cameras:
            camera.source.stop()
    threads, fds = _thread_and_fd_count()
    assert threads <= baseline[0]
    assert fds <= baseline[1] + 2  # listener/test bookkeeping only; no socket per attempt
    assert len(held) >= 50


def test_wrong_password_is_auth_failed_with_backoff_and_masked(
        rtsp_server, make_camera: CameraFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-pa55word"
    camera = make_camera(rtsp_server.url("private", USER, wrong))
    event = camera.log.wait_state(CameraState.AUTH_FAILED, timeout=30)
    wait_until(lambda: camera.source.stats().attempts >= 3, timeout=30, what="three attempts")
    assert camera.source.state is CameraState.AUTH_FAILED
    assert "401" in event.reason
    texts = [caplog.text, event.reason, repr(camera.source.config),
             str(camera.source.stats()), *(e.reason for e in camera.log.drain())]
    assert not any(wrong in text for text in texts)
    assert f"{USER}:***@" in caplog.text
    # The right password works (the server really checks it).
    good = make_camera(rtsp_server.url("private"), username=USER, password=PASSWORD)
    good.log.wait_state(CameraState.ONLINE, timeout=30)
    assert PASSWORD not in caplog.text


def _send_garbage(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(os.urandom(4096) + b"\r\n\r\n")


@pytest.mark.parametrize("case", ["garbage", "not_found", "unsupported_codec"])
def test_bad_streams_give_a_clear_state(case: str, rtsp_server, make_camera: CameraFactory
                                        ) -> None:
    with tcp_listener(_send_garbage) as port:
        url = {
            "garbage": f"rtsp://127.0.0.1:{port}/stream",
            "not_found": rtsp_server.url("no-such-path"),
            "unsupported_codec": rtsp_server.url("unsupported"),
        }[case]
        camera = make_camera(url)
        event = camera.log.wait_state(CameraState.OFFLINE, timeout=30)
        expected = {"garbage": "not a valid stream", "not_found": "404",
                    "unsupported_codec": "unsupported codec"}[case]
        assert expected in event.reason
        # it keeps retrying without crashing
        wait_until(lambda: camera.source.stats().attempts >= 2, timeout=30, what="a second attempt")
        assert camera.source.state is CameraState.OFFLINE
        camera.source.stop()


@pytest.mark.parametrize(("mount", "kind"), [("frozen", TamperKind.FROZEN),
                                             ("black", TamperKind.BLACK)])
def test_frozen_and_black_streams_raise_tamper_events(mount: str, kind: TamperKind, rtsp_server,
                                                      make_camera: CameraFactory) -> None:
    camera = make_camera(rtsp_server.url(mount))
    camera.log.wait_state(CameraState.ONLINE, timeout=30)
    event = camera.log.wait_for(lambda e: e.tamper is kind, timeout=30)
    assert event.active and event.state is CameraState.ONLINE


def test_live_stream_raises_no_tamper_event(rtsp_server, make_camera: CameraFactory) -> None:
    camera = make_camera(rtsp_server.url("live"))
    camera.log.wait_state(CameraState.ONLINE, timeout=30)
    time.sleep(3.5)
    assert not [e for e in camera.log.drain() if e.is_tamper]


def test_local_file_loops_in_real_time(make_camera: CameraFactory) -> None:
    clip = h264_clip(160, 120, fps=25, seconds=1)
    started = time.monotonic()
    camera = make_camera(str(clip), detect_fps=25)
    camera.log.wait_state(CameraState.ONLINE, timeout=30)
    wait_until(lambda: camera.source.stats().decoded > 50, timeout=60, what="two loops of the clip")
    stats = camera.source.stats()
    elapsed = time.monotonic() - started
    assert stats.attempts == 1  # looped, not reconnected
    # Paced like a camera: never ahead of 25 fps (a slow machine only falls behind).
    assert stats.decoded <= 25 * elapsed + 2, (stats.decoded, elapsed)


def _with_corrupt_packets(source: Path, target: Path, damaged: set[int]) -> Path:
    """``source`` remuxed with the payload of packets ``damaged`` (demux order) overwritten."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4") as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for index, packet in enumerate(inp.demux(stream)):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            if index in damaged:
                bad = av.Packet(b"\xff" * packet.size)
                bad.pts, bad.dts, bad.time_base = packet.pts, packet.dts, packet.time_base
                packet = bad
            packet.stream = copy
            out.mux(packet)
    return target


def test_corrupt_packets_are_skipped_not_a_reconnect(make_camera: CameraFactory, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A damaged packet (a lossy link) is skipped as players do: the camera stays online on one
    connection (no camera.offline/online pair per bad packet) and the log says so once."""
    clip = _with_corrupt_packets(h264_clip(160, 120, fps=25, seconds=2), tmp_path / "damaged.mp4",
                                 {10, 11, 30})
    with caplog.at_level(logging.WARNING, logger="streams.decoder"):
        camera = make_camera(str(clip), detect_fps=25)
        camera.log.wait_state(CameraState.ONLINE, timeout=30)
        wait_until(lambda: camera.source.stats().decoded > 100, timeout=60,
                   what="two loops of the damaged clip")
    stats = camera.source.stats()
    assert (stats.attempts, stats.state) == (1, CameraState.ONLINE), stats
    assert [e.state for e in camera.log.drain() if e.tamper is None] == [CameraState.CONNECTING,
                                                                         CameraState.ONLINE]
    skipped = [r.getMessage() for r in caplog.records if "corrupt packet" in r.getMessage()]
    assert skipped and "1 corrupt packet(s) skipped" in skipped[0]
    assert len(skipped) < 6, "one line for the first, not one per packet"


def test_a_served_file_loops_for_every_client_without_a_reconnect(make_server: ServerFactory,
                                                                  make_camera: CameraFactory) -> None:
    """The test server replays a file as a live camera, pass after pass: clients never see the
    stream end, and one that joins later gets it from where it is without disturbing the first.
    (Its first design looped with segment seeks, which on a loaded machine sometimes left a
    server that sent nothing, to every client, for its whole life.)"""
    clip = h264_clip(320, 240, fps=25, seconds=2)
    server = make_server({"/clip": Mount(file=clip)})
    first = make_camera(server.url("clip"), detect_fps=5)
    first.log.wait_state(CameraState.ONLINE, timeout=30)
    wait_until(lambda: first.source.stats().decoded > 25, timeout=30, what="a second of the clip")
    second = make_camera(server.url("clip"), detect_fps=5)
    second.log.wait_state(CameraState.ONLINE, timeout=30)
    for camera in (first, second):  # three loops of the 2 s clip for each
        target = camera.source.stats().decoded + 150
        source = camera.source
        wait_until(lambda: source.stats().decoded > target, timeout=60,  # noqa: B023 (used at once)
                   what=f"three loops on {source.config.id}\n{server.diagnosis()}")
    for camera in (first, second):
        stats = camera.source.stats()
        assert (stats.attempts, stats.state) == (1, CameraState.ONLINE), (stats, server.diagnosis())
    assert "looped 1 time(s)" in server.diagnosis(lines=50)


def test_start_stop_cycles_leave_no_threads(rtsp_server, make_camera: CameraFactory) -> None:
    baseline = threading.active_count()
    for _ in range(5):
        camera = make_camera(rtsp_server.url("live"))
        camera.log.wait_state(CameraState.ONLINE, timeout=30)
        camera.source.stop()
        assert camera.source.latest(timeout=0.1) is None
    assert threading.active_count() == baseline


def test_a_camera_asking_for_gpu_decoding_decodes_there_or_on_the_cpu_saying_why_once(
        rtsp_server: RtspTestServer, make_camera: CameraFactory, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``decode_device: cuda`` on a machine without an NVIDIA driver (this one, and CI's) still
    decodes, on the CPU, with one warning for all cameras and the decoder in the stream's info;
    where the device opens (a GPU box) the stream decodes on it."""
    monkeypatch.setattr(decoder, "_gpu_unavailable", {})  # probe afresh: warned once per process
    with caplog.at_level(logging.WARNING, logger="streams.decoder"):
        cameras = [make_camera(rtsp_server.url("live"), decode_device="cuda") for _ in range(2)]
        for camera in cameras:
            camera.log.wait_state(CameraState.ONLINE, timeout=30)
            source = camera.source
            wait_until(lambda: source.stats().decoded > 10, timeout=30,  # noqa: B023 (used at once)
                       what="frames decoded")
    unavailable = decoder.gpu_decode_unavailable(DecodeDevice.CUDA)  # the cameras' probe, cached
    expected = "cpu" if unavailable else "cuda"
    for camera in cameras:
        info = camera.source.stats().info
        assert info is not None and info.decoder == expected, info
    warnings = [r.getMessage() for r in caplog.records if "decode_device cuda" in r.getMessage()]
    if unavailable:
        assert len(warnings) == 1, warnings
        assert "decode on the CPU" in warnings[0] and "NVIDIA driver" in warnings[0]
    else:
        assert warnings == []


def test_the_reading_thread_counts_its_cpu(rtsp_server: RtspTestServer,
                                           make_camera: CameraFactory) -> None:
    """``reader_cpu_s``: what decoding costs (benchmarks set GPU decode against it); one thread
    cannot use more CPU than the wall time it ran, and decoding 25 fps is not free."""
    start = time.monotonic()
    camera = make_camera(rtsp_server.url("live"))
    wait_until(lambda: camera.source.stats().decoded > 50, timeout=30, what="two seconds of frames")
    stats = camera.source.stats()
    assert 0 < stats.reader_cpu_s <= time.monotonic() - start, stats

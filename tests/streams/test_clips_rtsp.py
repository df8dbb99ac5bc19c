"""Clips cut from a real RTSP camera's packets decode, every frame, without a decoder error.

The cameras are MP4 files served by GStreamer's RTSP server without re-encode, looped: the
console's lobby clip (720p, no B-frames) and a clip with B-frames. FFmpeg's RTSP demuxer hands
out a connection's first packet (its key frame) without a timestamp and, with B-frames, the
next ones without a decode timestamp: a clip from the first GOP is where that shows.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from media.clips import demo_folder, lobby_clip
from streams.clips import write_mp4
from streams.packets import PacketBuffer
from streams.testing.server import Mount, RtspTestServer
from tests.waiting import wait_until

from .conftest import CameraFactory, require_gstreamer

pytestmark = pytest.mark.rtsp

FPS = 25
CLIP_S = 3.0


def _b_frame_clip(target: Path) -> Path:
    """2 s of 320x240 at 25 fps, GOP 1 s, two B-frames between references (ffmpeg).

    Shorter than a clip: the clip goes across the point where the server loops the file (a new
    connection would clear the packet buffer: three seconds held means one connection). Without
    an edit list: with one, qtdemux's loop gives the file's first picture the time of its last.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x240:rate={FPS}", "-t", "2", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-g", str(FPS), "-bf", "2", "-use_editlist", "0", str(target)],
                   check=True)
    return target


@pytest.fixture(scope="module")
def file_cameras(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspTestServer]:
    """``/lobby`` (the console's lobby camera) and ``/bframes`` on one real RTSP server."""
    require_gstreamer()
    folder = tmp_path_factory.mktemp("clips-rtsp")
    server = RtspTestServer({"/lobby": Mount(file=lobby_clip(demo_folder())),
                             "/bframes": Mount(file=_b_frame_clip(folder / "bframes.mp4"))})
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("mount", ["lobby", "bframes"])
def test_a_clip_from_the_first_key_frame_of_a_file_camera_decodes_every_frame(
        mount: str, file_cameras: RtspTestServer, make_camera: CameraFactory, tmp_path: Path) -> None:
    buffer = PacketBuffer(keep_s=30.0)
    camera = make_camera(file_cameras.url(mount), start=False, detect_fps=1)
    camera.source.packets.subscribe(buffer)
    camera.source.start()
    wait_until(lambda: buffer.seconds() >= CLIP_S, timeout=30.0, what="three seconds of packets")
    packets = buffer.window(0.0, buffer.newest_wall() or 0.0)  # from the connection's first key frame
    assert packets and packets[0].keyframe
    assert all(b.dts > a.dts for a, b in itertools.pairwise(packets))
    assert all(p.pts >= p.dts for p in packets)
    if mount == "bframes":  # decode order kept: presentation timestamps go back and forth
        assert any(b.pts < a.pts for a, b in itertools.pairwise(packets))

    clip = tmp_path / f"{mount}.mp4"
    info = write_mp4(packets, clip)
    with av.open(str(clip)) as container:
        samples = sum(1 for packet in container.demux(video=0) if packet.size)
    with av.open(str(clip)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    # One picture per sample: two pictures in one sample ("Frame num change") lose one.
    assert samples == decoded == info.packets
    # The server's loop leaves a frame's time out: a little less than duration * fps.
    assert 0.9 * info.duration_s * FPS <= decoded <= info.duration_s * FPS + 1, (decoded, info.duration_s)
    assert decoded >= (CLIP_S - 0.5) * FPS

    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    check = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", str(clip),
                            "-f", "null", "-"], capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0 and check.stderr == "", check.stderr

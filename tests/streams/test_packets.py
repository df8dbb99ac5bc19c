"""Encoded packets for clips and live view: assembly, the rolling buffer and MP4 clips (no network)."""

from __future__ import annotations

import itertools
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import av.packet
import pytest

from media.clips import h264_clip
from streams.clips import write_mp4
from streams.packets import (
    EncodedPacket,
    PacketAssembler,
    PacketBuffer,
    PacketTap,
    VideoParams,
    nal_types,
    split_nal_units,
)

SPS_PPS = b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68\xce"
PARAMS = VideoParams("h264", 320, 240, Fraction(1, 90000), SPS_PPS)


def _packet(n: int, *, key_every: int = 25, fps: int = 25, origin: float = 1000.0) -> EncodedPacket:
    key = n % key_every == 0
    pts = n * 90000 // fps
    return EncodedPacket(b"\x00\x00\x00\x01" + (b"\x65" if key else b"\x41") + bytes(8), pts, pts, key,
                         origin + n / fps, n / fps, PARAMS)


@pytest.fixture(scope="module")
def mp4_file() -> Path:
    """2 s of 320x240 at 25 fps, GOP 1 s (ffmpeg, cached): MP4 samples are length-prefixed (avcC)."""
    return h264_clip(320, 240, fps=25, seconds=2)


def _assemble(path: Path, loops: int = 1) -> tuple[list[EncodedPacket], PacketAssembler]:
    tap, out = PacketTap("file"), []
    tap.subscribe(out.append)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context
        assembler = PacketAssembler(tap, codec.name, codec.width, codec.height, stream.time_base,
                                    codec.extradata, float(stream.average_rate or 25))
        for _ in range(loops):
            container.seek(0)
            for packet in container.demux(stream):
                assembler.push(packet)
    return out, assembler


def test_mp4_samples_become_annex_b_access_units_with_parameter_sets(mp4_file: Path) -> None:
    packets, assembler = _assemble(mp4_file)
    assert assembler.params.parameter_sets.startswith(b"\x00\x00\x00\x01")
    assert nal_types(assembler.params.parameter_sets) == [7, 8]
    # The last access unit is handed out when the next one starts: one is still held back.
    assert len(packets) == 49
    assert packets[0].keyframe and [p.keyframe for p in packets].count(True) >= 1
    for packet in packets:
        types = nal_types(packet.data)
        assert types and all(t in (1, 5, 6, 7, 8, 9) for t in types)
        if packet.keyframe:
            assert types[:2] == [7, 8] or 7 in types
    assert all(b.pts > a.pts for a, b in itertools.pairwise(packets))


def test_a_looping_file_keeps_timestamps_growing_and_its_clip_plays(mp4_file: Path, tmp_path: Path) -> None:
    packets, _ = _assemble(mp4_file, loops=2)
    assert len(packets) == 99
    assert all(b.dts > a.dts for a, b in itertools.pairwise(packets))
    info = write_mp4(packets, tmp_path / "loop.mp4")
    assert info.packets == 99
    with av.open(str(tmp_path / "loop.mp4")) as container:
        frames = [f for f in container.decode(video=0)]
        assert container.streams.video[0].codec_context.name == "h264"
    assert len(frames) == 99 and (frames[0].width, frames[0].height) == (320, 240)
    assert 3.8 <= info.duration_s <= 4.1


def test_b_frames_keep_their_decode_order_and_the_clip_plays(tmp_path: Path) -> None:
    source = tmp_path / "bframes.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x120:rate=25", "-t", "2", "-c:v", "libx264", "-bf", "2", "-g", "25",
                    "-pix_fmt", "yuv420p", str(source)], check=True)
    packets, _ = _assemble(source)
    assert any(p.pts != p.dts for p in packets)
    assert all(b.dts > a.dts for a, b in itertools.pairwise(packets))
    write_mp4(packets, tmp_path / "clip.mp4")
    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == len(packets)


def test_pieces_of_one_access_unit_are_joined() -> None:
    tap, out = PacketTap("pieces"), []
    tap.subscribe(out.append)
    assembler = PacketAssembler(tap, "h264", 320, 240, Fraction(1, 90000), PARAMS.parameter_sets, 25.0)
    pieces = [(None, b"\x00\x00\x00\x01\x09\x10\x00\x00\x00\x01\x65\x01", True),  # no pts yet
              (0, b"\x00\x00\x00\x01\x65\x02", True),
              (3600, b"\x00\x00\x00\x01\x41\x03", False),
              (3600, b"\x00\x00\x00\x01\x41\x04", False),
              (7200, b"\x00\x00\x00\x01\x41\x05", False)]
    for pts, data, key in pieces:
        packet = av.packet.Packet(data)
        packet.pts = packet.dts = pts
        packet.is_keyframe = key
        assembler.push(packet)
    assert [(p.pts, p.keyframe) for p in out] == [(0, True), (3600, False)]
    assert split_nal_units(out[0].data)[:2] == [b"\x67\x42", b"\x68\xce"]  # parameter sets put in front
    assert nal_types(out[0].data) == [7, 8, 9, 5, 5]
    assert nal_types(out[1].data) == [1, 1]


def test_rtsp_packets_without_timestamps_stay_pictures_of_their_own_in_decode_order() -> None:
    # As FFmpeg's RTSP demuxer hands out a B-frame stream: the key frame without any timestamp,
    # the next two without a decode timestamp (0x88: a slice's first_mb_in_slice is 0).
    tap = PacketTap("rtsp")
    out: list[EncodedPacket] = []
    tap.subscribe(out.append)
    assembler = PacketAssembler(tap, "h264", 320, 240, Fraction(1, 90000), PARAMS.parameter_sets, 25.0)
    pieces = [(None, None, b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88", True),
              (10800, None, b"\x00\x00\x00\x01\x41\x88", False),
              (3600, None, b"\x00\x00\x00\x01\x01\x88", False),
              (7200, 3600, b"\x00\x00\x00\x01\x01\x88", False),
              (21600, 7200, b"\x00\x00\x00\x01\x41\x88", False),
              (14400, 7200, b"\x00\x00\x00\x01\x01\x88", False),  # a guessed dts that stalled
              (18000, 14400, b"\x00\x00\x00\x01\x01\x88", False)]
    for pts, dts, data, key in pieces:
        packet = av.packet.Packet(data)
        packet.pts, packet.dts = pts, dts
        packet.is_keyframe = key
        assembler.push(packet)
    assembler.push(av.packet.Packet(b"\x00\x00\x00\x01\x41\x88"))  # the next picture ends the last one
    assert [(p.pts, p.dts) for p in out] == [(-7200, -7200), (10800, -3600), (3600, 0), (7200, 3600),
                                             (21600, 7200), (14400, 7201), (18000, 14400)]
    assert [nal_types(p.data) for p in out] == [[7, 8, 5], [1], [1], [1], [1], [1], [1]]
    assert out[0].keyframe and not any(p.keyframe for p in out[1:])


def test_nothing_before_the_first_key_frame_and_other_codecs_are_ignored() -> None:
    tap, out = PacketTap("late"), []
    tap.subscribe(out.append)
    assembler = PacketAssembler(tap, "h264", 320, 240, Fraction(1, 90000), None, 25.0)
    hevc = PacketAssembler(tap, "hevc", 320, 240, Fraction(1, 90000), None, 25.0)
    for n, data in enumerate([b"\x00\x00\x01\x41\x01", b"\x00\x00\x01\x41\x02", b"\x00\x00\x01\x65\x03",
                              b"\x00\x00\x01\x41\x04"]):
        packet = av.packet.Packet(data)
        packet.pts = packet.dts = n * 3600
        assembler.push(packet)
        hevc.push(packet)
    assert [p.pts for p in out] == [7200]


def test_the_buffer_keeps_whole_groups_of_pictures_back_to_keep_s() -> None:
    buffer = PacketBuffer(keep_s=3.0)
    for n in range(25 * 10):  # 10 s, a key frame a second
        buffer(_packet(n))
    held = buffer.window(0, float("inf"))
    assert held[0].keyframe
    assert held[-1].wall - held[0].wall >= 3.0
    assert held[-1].wall - held[0].wall <= 3.0 + 1.0  # at most one group more than needed
    window = buffer.window(1000.0 + 7.5, 1000.0 + 8.5)
    assert window[0].keyframe and window[0].wall == 1000.0 + 7.0
    assert window[-1].wall <= 1000.0 + 8.5 and len(window) == 38
    older = buffer.window(1000.0, 1000.0 + 8.0)  # before the buffer: from its oldest key frame
    assert older[0] is held[0]
    assert buffer.window(1000.0 + 20, 1000.0 + 25) == []  # the camera went quiet: no stale video
    assert buffer.newest_wall() == held[-1].wall


def test_a_new_connection_empties_the_buffer() -> None:
    buffer = PacketBuffer(keep_s=3.0)
    for n in range(50):
        buffer(_packet(n))
    other = VideoParams("h264", 320, 240, Fraction(1, 90000), b"")
    buffer(EncodedPacket(b"\x00\x00\x01\x65", 0, 0, True, 2000.0, 0.0, other))
    assert [p.params for p in buffer.window(0, float("inf"))] == [other]


def test_write_mp4_refuses_what_would_not_play(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no packets"):
        write_mp4([], tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="key frame"):
        write_mp4([_packet(1), _packet(2)], tmp_path / "x.mp4")
    assert not list(tmp_path.iterdir())

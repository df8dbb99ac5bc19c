"""MP4 clips cut from buffered packets: H.264 copied as it came (no re-encode), ``moov`` first.

The file plays in browsers (``<video src=...>``) and is written atomically: a temporary file
in the same folder, fsync, rename; a reader never sees half a clip.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import av.packet

from streams.packets import EncodedPacket


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """What was written: packets, key frames, media duration (s), first and last arrival (Unix s)."""

    packets: int
    keyframes: int
    duration_s: float
    start_wall: float
    end_wall: float


def write_mp4(packets: Sequence[EncodedPacket], target: Path) -> ClipInfo:
    """Mux ``packets`` (one connection's, starting with a key frame) into ``target`` (MP4, faststart)."""
    if not packets:
        raise ValueError("no packets to write")
    if not packets[0].keyframe:
        raise ValueError("a clip must start with a key frame")
    params = packets[0].params
    if any(p.params is not params for p in packets):
        raise ValueError("the packets come from more than one connection")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.part")
    # The muxer needs a stream with the camera's codec parameters; the raw H.264 demuxer
    # builds them from the first key frame (SPS/PPS included), without decoding.
    with av.open(io.BytesIO(packets[0].data), format="h264") as template:
        try:
            with av.open(str(temporary), "w", format="mp4", options={"movflags": "+faststart"}) as output:
                stream = output.add_stream_from_template(template.streams.video[0])
                stream.time_base = params.time_base
                origin = packets[0].dts
                for n, packet in enumerate(packets):
                    following = packets[n + 1].dts if n + 1 < len(packets) else None
                    previous = packets[n - 1].dts if n > 0 else None
                    duration = (following - packet.dts if following is not None
                                else packet.dts - previous if previous is not None else 0)
                    out = av.packet.Packet(packet.data)
                    out.stream = stream
                    out.time_base = params.time_base
                    out.pts = packet.pts - origin
                    out.dts = packet.dts - origin
                    out.duration = max(duration, 0)
                    out.is_keyframe = packet.keyframe
                    output.mux(out)
            with open(temporary, "rb+") as written:
                os.fsync(written.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    last = packets[-1]
    span = (last.dts - packets[0].dts + (last.dts - packets[-2].dts if len(packets) > 1 else 0))
    return ClipInfo(len(packets), sum(p.keyframe for p in packets), float(span * params.time_base),
                    packets[0].wall, last.wall)

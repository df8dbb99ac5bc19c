"""Encoded video packets of a camera, as demuxed (no decode, no re-encode), for clips and live view.

The decoder thread of a :class:`~streams.source.CameraSource` already demuxes every packet;
when anybody listens on the source's :class:`PacketTap`, each H.264 access unit is handed out
once more as an :class:`EncodedPacket`: Annex B byte stream (start codes, as RTSP delivers it;
MP4 files' length-prefixed NAL units are converted), parameter sets in front of every key
frame, one packet per access unit, timestamps that only grow. Nobody listening costs nothing.

:class:`PacketBuffer` is a listener that keeps the last ``keep_s`` seconds from a key frame,
which alarm clips are cut from (:func:`streams.clips.write_mp4`).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av.packet

logger = logging.getLogger(__name__)

START_CODE = b"\x00\x00\x00\x01"
NAL_SPS = 7
NAL_IDR = 5
SUPPORTED_CODECS = frozenset({"h264"})
REORDER_MAX = 16
"""Frames a decode timestamp may go back without being a file's loop (H.264 keeps 16 pictures at most)."""


@dataclass(frozen=True, slots=True, eq=False)
class VideoParams:
    """One connection's video stream: codec, size, timestamp unit, parameter sets (Annex B).

    A new connection makes a new object: packets of different connections never mix in a clip.
    """

    codec: str
    width: int
    height: int
    time_base: Fraction
    parameter_sets: bytes


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One access unit: Annex B bytes, ``pts``/``dts`` in ``params.time_base``, arrival time."""

    data: bytes
    pts: int
    dts: int
    keyframe: bool
    wall: float
    monotonic: float
    params: VideoParams

    @property
    def seconds(self) -> float:
        """``pts`` in seconds (of this connection's timeline)."""
        return float(self.pts * self.params.time_base)


PacketListener = Callable[[EncodedPacket], None]


class PacketTap:
    """Hands a camera's packets to its listeners (called on the decoder thread: keep them quick)."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self._lock = threading.Lock()
        self._listeners: tuple[PacketListener, ...] = ()
        self.params: VideoParams | None = None

    @property
    def active(self) -> bool:
        return bool(self._listeners)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def subscribe(self, listener: PacketListener) -> Callable[[], None]:
        """Add ``listener``; returns the function that removes it again (idempotent)."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def publish(self, packet: EncodedPacket) -> None:
        for listener in self._listeners:
            try:
                listener(packet)
            except Exception:
                logger.exception("camera %s: packet listener failed", self.camera_id)


def split_nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (without start codes)."""
    units: list[bytes] = []
    starts: list[tuple[int, int]] = []  # (start code position, payload position)
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        begin = i - 1 if i > 0 and data[i - 1] == 0 else i
        starts.append((begin, i + 3))
        i = data.find(b"\x00\x00\x01", i + 3)
    for n, (_, payload) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(data)
        if end > payload:
            units.append(data[payload:end])
    return units


def annexb(units: Sequence[bytes]) -> bytes:
    return b"".join(START_CODE + unit for unit in units)


def avcc_to_annexb(data: bytes, length_size: int) -> bytes:
    """Length-prefixed NAL units (MP4 samples) -> Annex B."""
    units, i = [], 0
    while i + length_size <= len(data):
        size = int.from_bytes(data[i:i + length_size], "big")
        i += length_size
        units.append(data[i:i + size])
        i += size
    return annexb(units)


def parse_avcc(extradata: bytes) -> tuple[bytes, int]:
    """An ``avcC`` record (MP4 extradata) -> (SPS and PPS as Annex B, NAL length size)."""
    if len(extradata) < 7 or extradata[0] != 1:
        raise ValueError("not an avcC record")
    length_size = (extradata[4] & 3) + 1
    units: list[bytes] = []
    i = 6
    for count in (extradata[5] & 31, -1):  # the SPS count, then the PPS count read in place
        if count < 0:
            if i >= len(extradata):
                break
            count, i = extradata[i], i + 1
        for _ in range(count):
            size = int.from_bytes(extradata[i:i + 2], "big")
            units.append(extradata[i + 2:i + 2 + size])
            i += 2 + size
    return annexb(units), length_size


def nal_types(data: bytes) -> list[int]:
    return [unit[0] & 31 for unit in split_nal_units(data) if unit]


class PacketAssembler:
    """Turns one connection's demuxed packets into :class:`EncodedPacket` s on a tap.

    Joins the pieces of one access unit (FFmpeg's parser can split a multi-slice frame into
    several packets with one timestamp), converts MP4 samples to Annex B, puts the parameter
    sets in front of key frames that lack them and keeps timestamps growing (a looping file
    restarts at 0). Packets before the first key frame are not handed out.

    Access units are told apart by their content as well as by their timestamps: FFmpeg's RTSP
    demuxer hands out the first packet of a connection (the key frame) without any timestamp,
    and, for a stream with B-frames, the next ones without a decode timestamp until it has seen
    enough to guess it. Such a packet is a picture of its own, never a piece of the next one.
    Missing decode timestamps are counted back, one frame apart, from the first one known (or
    forward from the last one): decode order is kept as demuxed, a presentation timestamp is
    never moved below its decode timestamp and ``dts`` is never made up from ``pts`` (that
    reorders B-frame streams).
    """

    HOLD_MAX = 16
    """Access units without a decode timestamp held back at most, waiting for the first one known."""

    def __init__(self, tap: PacketTap, codec: str, width: int, height: int, time_base: Fraction | None,
                 extradata: bytes | None, fps: float | None) -> None:
        self._tap = tap
        self._length_size = 0
        parameter_sets = b""
        if extradata and extradata[0] == 1:
            parameter_sets, self._length_size = parse_avcc(extradata)
        elif extradata:
            parameter_sets = annexb(split_nal_units(extradata))
        self.supported = codec in SUPPORTED_CODECS
        self.params = VideoParams(codec, width, height, time_base or Fraction(1, 90000), parameter_sets)
        self._step = max(1, round(1 / ((fps or 25.0) * self.params.time_base)))
        self._parts: list[bytes] = []
        self._pts: int | None = None
        self._dts: int | None = None
        self._key = False
        self._vcl = False  # the parts hold a slice already
        self._held: list[tuple[bytes, int | None, int | None, bool]] = []
        self._demuxed_dts: int | None = None  # the last decode timestamp as demuxed (no loop offset)
        self._offset = 0
        self._last_dts: int | None = None
        self._keyed = False
        tap.params = self.params if self.supported else None

    def push(self, packet: av.packet.Packet[Any]) -> None:
        """One demuxed packet (on the decoder thread)."""
        if not self.supported or packet.size == 0:
            return
        data = bytes(packet)
        if self._length_size:
            data = avcc_to_annexb(data, self._length_size)
        pts = packet.pts if packet.pts is not None else packet.dts
        first, first_mb_zero = _first_nal(data)
        if self._parts and ((pts is not None and self._pts is not None and pts != self._pts)
                            or (self._vcl and _starts_access_unit(first, first_mb_zero))):
            self._flush()
        self._parts.append(data)
        self._key = self._key or packet.is_keyframe
        self._vcl = self._vcl or any(kind in _VCL for kind in nal_types(data))
        if self._pts is None and pts is not None:
            self._pts = pts
        if self._dts is None and packet.dts is not None:
            self._dts = packet.dts

    def _flush(self) -> None:
        parts, pts, dts, key = self._parts, self._pts, self._dts, self._key
        self._parts, self._pts, self._dts, self._key, self._vcl = [], None, None, False, False
        if not parts:
            return
        self._held.append((b"".join(parts), pts, dts, key))
        if dts is None and self._demuxed_dts is None and len(self._held) < self.HOLD_MAX:
            return  # no decode timestamp known yet: count back from the first one
        held, self._held = self._held, []
        if dts is not None:
            first = dts - (len(held) - 1) * self._step
        elif self._demuxed_dts is not None:
            first = self._demuxed_dts + self._step
        else:  # none known at all: number the pictures from the first presentation timestamp
            first = next((p for _, p, _, _ in held if p is not None), 0)
        for n, (data, unit_pts, unit_dts, unit_key) in enumerate(held):
            decode = unit_dts if unit_dts is not None else first + n * self._step
            self._demuxed_dts = decode
            self._emit(data, decode if unit_pts is None else max(unit_pts, decode), decode, unit_key)

    def _emit(self, data: bytes, pts: int, dts: int, key: bool) -> None:
        types = nal_types(data)
        key = key or NAL_IDR in types
        self._keyed = self._keyed or key
        if not self._keyed:
            return
        if key and NAL_SPS not in types and self.params.parameter_sets:
            data = self.params.parameter_sets + data
        decode = dts + self._offset
        if self._last_dts is not None and decode <= self._last_dts:
            if self._last_dts - decode > REORDER_MAX * self._step:  # a file looped: keep growing
                self._offset += self._last_dts + self._step - decode
                decode = self._last_dts + self._step
            else:  # a guessed decode timestamp stalled (B-frames): keep the order, not the picture's time
                decode = self._last_dts + 1
        self._last_dts = decode
        now = time.time()
        self._tap.publish(EncodedPacket(data, max(pts + self._offset, decode), decode, key, now,
                                        time.monotonic(), self.params))


_VCL = frozenset({1, 5})
_AU_START = frozenset({6, 7, 8, 9, 14, 15, 16, 17, 18})
"""NAL units that, after a slice, begin the next access unit (H.264 7.4.1.2.3)."""


def _first_nal(data: bytes) -> tuple[int, bool]:
    """The type of the first NAL unit of Annex B ``data`` and whether a slice's first_mb_in_slice is 0."""
    i = data.find(b"\x00\x00\x01", 0, 64)
    if i == -1 or i + 3 >= len(data):
        return -1, False
    header = i + 3
    return data[header] & 31, header + 1 < len(data) and bool(data[header + 1] & 0x80)


def _starts_access_unit(kind: int, first_mb_zero: bool) -> bool:
    """Whether a NAL unit of ``kind`` that follows a slice begins a new picture."""
    return kind in _AU_START or (kind in _VCL and first_mb_zero)


class PacketBuffer:
    """The last ``keep_s`` seconds of a camera's packets, whole groups of pictures (a packet listener).

    Always starts at a key frame, so that any cut from it decodes.
    """

    def __init__(self, keep_s: float) -> None:
        if keep_s <= 0:
            raise ValueError(f"keep_s must be > 0, got {keep_s}")
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._gops: collections.deque[list[EncodedPacket]] = collections.deque()

    def __call__(self, packet: EncodedPacket) -> None:
        with self._lock:
            if self._gops and self._gops[-1][0].params is not packet.params:
                self._gops.clear()  # a new connection: its timeline starts over
            if packet.keyframe:
                self._gops.append([packet])
            elif self._gops:
                self._gops[-1].append(packet)
            horizon = packet.wall - self.keep_s
            while len(self._gops) > 1 and self._gops[1][0].wall <= horizon:
                self._gops.popleft()

    def window(self, start_wall: float, end_wall: float) -> list[EncodedPacket]:
        """Packets from the last key frame at or before ``start_wall`` up to ``end_wall`` (Unix seconds).

        Starts at the oldest key frame kept when the buffer does not reach back that far; empty
        when no packet arrived between the two (the camera was down: no stale video instead).
        """
        with self._lock:
            gops = list(self._gops)
        first = 0
        for n, gop in enumerate(gops):
            if gop[0].wall <= start_wall:
                first = n
        packets = [p for gop in gops[first:] for p in gop if p.wall <= end_wall]
        if not packets or packets[-1].wall < start_wall:
            return []
        return packets

    def newest_wall(self) -> float | None:
        """When the newest packet arrived (Unix seconds), None when empty."""
        with self._lock:
            return self._gops[-1][-1].wall if self._gops else None

    def seconds(self) -> float:
        """How many seconds the buffer holds now."""
        with self._lock:
            if not self._gops:
                return 0.0
            return self._gops[-1][-1].wall - self._gops[0][0].wall

    def clear(self) -> None:
        with self._lock:
            self._gops.clear()

"""PyAV (FFmpeg) stream opening, decoding and failure classification.

PyAV was chosen over OpenCV's FFmpeg backend (numbers in ``benchmarks/results/streams.md``):
comparable decode cost once only sampled frames are converted to BGR, and it gives what a
supervisor needs: real open/read timeouts through FFmpeg's interrupt callback, typed errors
(401 -> ``auth_failed``, 404, refused, timeout) and codec/stream metadata.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import av
import av.container
import av.packet
import av.video.frame
from av.codec.codec import Codec
from av.codec.hwaccel import HWAccel

from streams.config import DecodeDevice, Transport, file_path
from streams.credentials import mask_url, redact
from streams.health import CameraState
from streams.packets import PacketAssembler, PacketTap

logger = logging.getLogger(__name__)

CORRUPT_LOG_EVERY = 100
"""After the first, every this many skipped corrupt packets of a connection are logged again."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What the camera sends, and where this connection decodes it.

    Codec name, frame size, nominal frame rate (None if unknown), ``decoder``: ``cpu`` or ``cuda``.
    """

    codec: str
    width: int
    height: int
    fps: float | None
    decoder: str = "cpu"


_gpu_lock = threading.Lock()
_gpu_unavailable: dict[DecodeDevice, str | None] = {}


def gpu_decode_unavailable(device: DecodeDevice = DecodeDevice.CUDA) -> str | None:
    """Why FFmpeg cannot open ``device`` to decode here (None when it can); probed once a process.

    PyAV's wheels carry FFmpeg's CUDA support but not the driver: on a machine without an
    NVIDIA driver creating the device fails (``Operation not permitted``), and a camera that
    asked for it decodes on the CPU instead (:class:`PyAVStream` says so once).
    """
    with _gpu_lock:
        if device not in _gpu_unavailable:
            try:
                HWAccel(device_type=device.value).create(Codec("h264", "r"))
                _gpu_unavailable[device] = None
            except (av.error.FFmpegError, OSError, ValueError, NotImplementedError) as exc:
                _gpu_unavailable[device] = (
                    f"FFmpeg cannot open the {device.value} device ({exc}; no NVIDIA driver here?)")
                logger.warning("decode_device %s asked, but %s: those cameras decode on the CPU",
                               device.value, _gpu_unavailable[device])
        return _gpu_unavailable[device]


class StreamFailure(Exception):
    """Opening or reading a stream failed; ``reason`` is already free of credentials."""

    def __init__(self, state: CameraState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


def classify_failure(exc: BaseException, secrets: list[str]) -> StreamFailure:
    """Map an exception from opening/decoding to a failure state and a masked reason."""
    if isinstance(exc, StreamFailure):
        return exc
    text = redact(_describe(exc), secrets)
    if isinstance(exc, av.error.HTTPUnauthorizedError) or _says_unauthorized(exc):
        return StreamFailure(CameraState.AUTH_FAILED, f"authentication failed: {text}")
    if isinstance(exc, av.error.HTTPNotFoundError):
        return StreamFailure(CameraState.OFFLINE, f"stream not found: {text}")
    if isinstance(exc, av.error.ExitError | TimeoutError):
        return StreamFailure(CameraState.OFFLINE, f"timed out: {text}")
    if isinstance(exc, av.error.InvalidDataError):
        return StreamFailure(CameraState.OFFLINE, f"not a valid stream (timeout or garbage): "
                                                  f"{text}")
    if isinstance(exc, av.error.EOFError | EOFError):
        return StreamFailure(CameraState.OFFLINE, "stream ended")
    return StreamFailure(CameraState.OFFLINE, text)


_UNAUTHORIZED = re.compile(r"(?<!\d)401(?!\d)|unauthori[sz]ed", re.IGNORECASE)


def _says_unauthorized(exc: BaseException) -> bool:
    """Whether the error's own message (not the URL it names: a port may read 40133) says 401."""
    message = exc.strerror if isinstance(exc, av.error.FFmpegError) else str(exc)
    return bool(_UNAUTHORIZED.search(str(message or "")))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, av.error.FFmpegError):
        # The filename attribute is the URL, credentials included; show the masked one.
        return f"{type(exc).__name__}: {exc.strerror}" + (
            f" ({exc.filename})" if getattr(exc, "filename", None) else "")
    return f"{type(exc).__name__}: {exc}"


class PyAVStream:
    """One open connection to a camera (or file) decoding video frames with PyAV.

    Use as a context manager; :meth:`frames` yields decoded frames until the stream fails
    (raising :class:`StreamFailure`) or ``stopped()`` turns true. Local files loop forever,
    paced in real time like a camera.
    """

    def __init__(self, url: str, *, transport: Transport, open_timeout_s: float,
                 read_timeout_s: float, watchdog_s: float, decode_threads: int,
                 is_file: bool, secrets: list[str],
                 decode_device: DecodeDevice = DecodeDevice.CPU) -> None:
        self._url = url
        self._transport = transport
        self._open_timeout_s = open_timeout_s
        self._read_timeout_s = read_timeout_s
        self._watchdog_s = watchdog_s
        self._decode_threads = decode_threads
        self._decode_device = decode_device
        self._is_file = is_file
        self._secrets = secrets
        self._container: av.container.InputContainer | None = None
        self.info: StreamInfo | None = None
        self.corrupt_packets = 0  # packets the decoder refused on this connection (skipped)

    def __enter__(self) -> PyAVStream:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def _hwaccel(self) -> HWAccel | None:
        """The GPU decoder asked for, if its device opens here (else decode on the CPU)."""
        if self._decode_device is DecodeDevice.CPU or gpu_decode_unavailable(self._decode_device):
            return None
        # A codec the GPU cannot decode (MJPEG on some boards) falls back to FFmpeg's own.
        return HWAccel(device_type=self._decode_device.value, allow_software_fallback=True)

    def _open(self) -> None:
        hwaccel = self._hwaccel()
        if self._is_file:
            path = file_path(self._url)
            if not path.is_file():
                raise StreamFailure(CameraState.OFFLINE, f"no such file: {path}")
            self._container = av.open(str(path), mode="r", hwaccel=hwaccel)
        else:
            options = {
                "rtsp_transport": self._transport.value,
                # FFmpeg's socket I/O timeout, in microseconds.
                "timeout": str(int(self._read_timeout_s * 1_000_000)),
            }
            self._container = av.open(self._url, mode="r", options=options,
                                      timeout=(self._open_timeout_s, self._read_timeout_s),
                                      hwaccel=hwaccel)
        if not self._container.streams.video:
            raise StreamFailure(CameraState.OFFLINE,
                                "no decodable video stream (unsupported codec?)")
        stream = self._container.streams.video[0]
        codec = stream.codec_context
        codec.thread_count = self._decode_threads
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        self.info = StreamInfo(codec.name, codec.width, codec.height,
                               float(rate) if rate else None,
                               self._decode_device.value if codec.is_hwaccel else "cpu")

    def _corrupt(self, exc: av.error.InvalidDataError) -> None:
        """A packet the decoder refused: skip it, as players do, and say so (not per packet).

        One damaged packet (a lossy link, a camera's glitch) must not end the connection: that
        would send ``camera.offline`` and ``camera.online`` to the guards and the property
        system for every bad packet. FFmpeg conceals the damage until the next key frame; a
        stream that never decodes again still ends by the watchdog.
        """
        self.corrupt_packets += 1
        if self.corrupt_packets == 1 or self.corrupt_packets % CORRUPT_LOG_EVERY == 0:
            logger.warning("%s: %d corrupt packet(s) skipped on this connection (%s)",
                           mask_url(redact(self._url, self._secrets)), self.corrupt_packets,
                           redact(_describe(exc), self._secrets))

    def packet_source(self, tap: PacketTap) -> PacketAssembler:
        """An assembler that hands this connection's encoded packets to ``tap``."""
        container = self._container
        if container is None:
            raise RuntimeError("stream is not open")
        stream = container.streams.video[0]
        codec = stream.codec_context
        return PacketAssembler(tap, codec.name, codec.width, codec.height, stream.time_base,
                               codec.extradata, self.info.fps if self.info else None)

    def frames(self, stopped: Callable[[], bool],
               on_packet: Callable[[av.packet.Packet[Any]], None] | None = None,
               ) -> Iterator[av.video.frame.VideoFrame]:
        """Decoded frames, in order, until ``stopped()`` or a failure.

        ``on_packet`` sees every demuxed video packet before it is decoded (the packet tap).
        """
        container = self._container
        if container is None:
            raise RuntimeError("stream is not open")
        last_frame = time.monotonic()
        pacer = _Pacer() if self._is_file else None
        keyed = False
        while not stopped():
            for packet in container.demux(video=0):
                if stopped():
                    return
                if on_packet is not None:
                    on_packet(packet)
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError as exc:
                    decoded = []
                    self._corrupt(exc)
                for frame in decoded:
                    if not isinstance(frame, av.video.frame.VideoFrame):
                        continue
                    # Joining mid-GOP, FFmpeg conceals missing references with grey
                    # blocks: hand out nothing before the first key frame.
                    keyed = keyed or frame.key_frame
                    if not keyed:
                        continue
                    if pacer is not None and not pacer.wait(frame, stopped):
                        return
                    last_frame = time.monotonic()
                    yield frame
                if time.monotonic() - last_frame > self._watchdog_s:
                    corrupt = f" ({self.corrupt_packets} corrupt packets)" if self.corrupt_packets else ""
                    raise StreamFailure(CameraState.OFFLINE,
                                        f"watchdog: data but no decoded frame for "
                                        f"{self._watchdog_s:.0f} s{corrupt}")
            if pacer is None:
                raise StreamFailure(CameraState.OFFLINE, "stream ended")
            container.seek(0)  # a file: loop
            pacer.restart()


class _Pacer:
    """Sleeps so that a file plays at its own frame rate, across loops."""

    def __init__(self) -> None:
        self._origin: float | None = None  # monotonic time of media time 0
        self._loop_offset = 0.0
        self._first_pts: float | None = None
        self._media_time = 0.0

    def restart(self) -> None:
        self._loop_offset = self._media_time + 0.04
        self._first_pts = None

    def wait(self, frame: av.video.frame.VideoFrame, stopped: Callable[[], bool]) -> bool:
        """Sleep until ``frame`` is due; False if ``stopped()`` turned true meanwhile."""
        pts = frame.time if frame.time is not None else self._media_time + 0.04
        if self._first_pts is None:
            self._first_pts = pts
        self._media_time = self._loop_offset + pts - self._first_pts
        if self._origin is None:
            self._origin = time.monotonic() - self._media_time
        while (delay := self._origin + self._media_time - time.monotonic()) > 0:
            if stopped():
                return False
            time.sleep(min(delay, 0.05))
        return True

"""Live video over WebRTC (aiortc): the camera's H.264 sent as it came, no decode, no re-encode.

``POST /api/v1/cameras/{id}/webrtc`` hands an SDP offer to :meth:`VideoHub.answer`, which makes a
peer connection with one :class:`PassthroughTrack` on the camera's
:class:`~streams.packets.PacketTap`: each viewer gets the camera's access units from the next key
frame on, packed into RTP by aiortc. A viewer that closes, fails or never connects is dropped
with its track (the tap forgets it). At most ``max_viewers_per_camera`` viewers per camera.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import av.packet
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field

from streams.packets import EncodedPacket, PacketTap

logger = logging.getLogger(__name__)

QUEUE_PACKETS = 120
"""Packets a slow viewer may lag behind before it skips to the next key frame (about 5 s at 25 fps)."""


class VideoSettings(BaseModel):
    """Live view limits (the ``live:`` section of the configuration)."""

    model_config = ConfigDict(extra="forbid")

    max_viewers_per_camera: int = Field(4, ge=1, le=64, description="WebRTC viewers per camera at once.")
    connect_timeout_s: float = Field(20.0, gt=0, le=300,
                                     description="Drop a viewer whose connection is not up after this long.")


class ViewerLimitError(Exception):
    """The camera already has its maximum number of viewers."""


class InvalidOfferError(ValueError):
    """The SDP offer cannot be used (its text says why)."""


class PassthroughTrack(MediaStreamTrack):
    """A video track that returns the camera's encoded packets (aiortc packs them into RTP as they are).

    Starts at a key frame; a viewer that lags more than :data:`QUEUE_PACKETS` skips to the next one.
    Timestamps continue smoothly across a camera reconnect.
    """

    kind = "video"

    def __init__(self, tap: PacketTap, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._event_loop = loop
        self._queue: asyncio.Queue[EncodedPacket] = asyncio.Queue(QUEUE_PACKETS)
        self._need_key = True
        self._origin: tuple[object, int, int] | None = None  # (params, first pts, output pts at it)
        self._last = 0
        self.sent = 0
        self._unsubscribe = tap.subscribe(self._from_camera)

    def _from_camera(self, packet: EncodedPacket) -> None:
        """On the camera's decoder thread."""
        if self.readyState != "live":
            self._unsubscribe()
            return
        try:
            self._event_loop.call_soon_threadsafe(self._enqueue, packet)
        except RuntimeError:  # the event loop is gone
            self._unsubscribe()

    def _enqueue(self, packet: EncodedPacket) -> None:
        if self._queue.full():
            while not self._queue.empty():
                self._queue.get_nowait()
            self._need_key = True
        if self._need_key and not packet.keyframe:
            return
        self._need_key = False
        self._queue.put_nowait(packet)

    async def recv(self) -> av.packet.Packet[Any]:  # aiortc sends packets as they are
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        params = packet.params
        if self._origin is None or self._origin[0] is not params:
            step = round(0.04 / params.time_base) if self._origin is not None else 0
            self._origin = (params, packet.pts, self._last + step)
        out = av.packet.Packet(packet.data)
        out.pts = out.dts = self._origin[2] + packet.pts - self._origin[1]
        out.time_base = params.time_base
        self._last = out.pts
        self.sent += 1
        return out

    def stop(self) -> None:
        super().stop()
        self._unsubscribe()


@dataclass(eq=False)
class _Viewer:
    camera_id: str
    pc: RTCPeerConnection
    track: PassthroughTrack | None = None
    closed: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class VideoHub(Collector):
    """Every WebRTC viewer of the app, per camera, with the viewer limit."""

    def __init__(self, settings: VideoSettings | None = None) -> None:
        self.settings = settings or VideoSettings()
        self._viewers: dict[str, set[_Viewer]] = {}

    def viewers(self, camera_id: str | None = None) -> int:
        """Open peer connections (of one camera or all)."""
        if camera_id is not None:
            return len(self._viewers.get(camera_id, ()))
        return sum(len(v) for v in self._viewers.values())

    def active_tracks(self) -> int:
        """Live tracks still subscribed to a camera (each one holds the camera's packets flowing)."""
        return sum(1 for v in self._all() if v.track is not None and v.track.readyState == "live")

    def _all(self) -> Iterator[_Viewer]:
        for viewers in self._viewers.values():
            yield from viewers

    async def answer(self, camera_id: str, tap: PacketTap, offer_sdp: str) -> str:
        """Accept an SDP offer for ``camera_id``'s video; returns the SDP answer.

        Raises :class:`ViewerLimitError` and :class:`InvalidOfferError`.
        """
        viewers = self._viewers.setdefault(camera_id, set())
        limit = self.settings.max_viewers_per_camera
        if len(viewers) >= limit:
            raise ViewerLimitError(f"camera {camera_id!r} already has {len(viewers)} live viewers (the limit "
                                   f"is {limit}); close another view first")
        check_offer(offer_sdp)
        viewer = _Viewer(camera_id, RTCPeerConnection(RTCConfiguration(iceServers=[])))
        viewers.add(viewer)  # taken at once: concurrent offers cannot pass the limit
        try:
            return await self._negotiate(viewer, tap, offer_sdp)
        except BaseException:
            await self._close(viewer)
            raise

    async def _negotiate(self, viewer: _Viewer, tap: PacketTap, offer_sdp: str) -> str:
        pc = viewer.pc
        viewer.track = PassthroughTrack(tap, asyncio.get_running_loop())
        sender = pc.addTrack(viewer.track)
        # Before the offer is read, so that the answer accepts H.264 only (the camera's packets).
        h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == "video/h264"]
        for transceiver in pc.getTransceivers():
            if transceiver.sender is sender:
                transceiver.setCodecPreferences(h264)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:
            raise InvalidOfferError(f"the SDP offer is not valid: {exc or type(exc).__name__}") from None

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            logger.debug("camera %s: viewer %s", viewer.camera_id, pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                await self._close(viewer)

        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            raise InvalidOfferError(f"cannot answer the SDP offer: {exc or type(exc).__name__}") from None
        task = asyncio.get_running_loop().create_task(self._expire(viewer))
        viewer.tasks.add(task)
        task.add_done_callback(viewer.tasks.discard)
        logger.info("camera %s: live viewer added (%d now)", viewer.camera_id, self.viewers(viewer.camera_id))
        return str(pc.localDescription.sdp)

    async def _expire(self, viewer: _Viewer) -> None:
        await asyncio.sleep(self.settings.connect_timeout_s)
        if viewer.pc.connectionState != "connected":
            logger.info("camera %s: live viewer never connected: dropped", viewer.camera_id)
            await self._close(viewer)

    async def _close(self, viewer: _Viewer) -> None:
        if viewer.closed:
            return
        viewer.closed = True
        self._viewers.get(viewer.camera_id, set()).discard(viewer)
        if viewer.track is not None:
            viewer.track.stop()
        for task in list(viewer.tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await viewer.pc.close()
        logger.info("camera %s: live viewer left (%d now)", viewer.camera_id, self.viewers(viewer.camera_id))

    async def close(self) -> None:
        """Drop every viewer (the app shuts down)."""
        for viewer in list(self._all()):
            await self._close(viewer)

    def collect(self) -> Iterator[Metric]:
        """Prometheus: viewers and live tracks per camera."""
        viewers = GaugeMetricFamily("estatewatch_webrtc_viewers", "Open WebRTC live-view connections",
                                    labels=["camera"])
        tracks = GaugeMetricFamily("estatewatch_webrtc_tracks",
                                   "Live-view tracks receiving a camera's packets", labels=["camera"])
        for camera_id, group in sorted(self._viewers.items()):
            viewers.add_metric([camera_id], len(group))
            tracks.add_metric([camera_id], sum(1 for v in group if v.track and v.track.readyState == "live"))
        yield viewers
        yield tracks


def check_offer(sdp: str) -> None:
    """Reject what cannot work before any connection is made (InvalidOfferError says why)."""
    lines = [line.strip() for line in sdp.splitlines()]
    if not lines or not lines[0].startswith("v=0"):
        raise InvalidOfferError("the SDP offer must start with 'v=0'")
    video = False
    h264 = False
    for line in lines:
        if line.startswith("m="):
            video = line.startswith("m=video")
        elif video and line.startswith("a=rtpmap:") and "h264/" in line.lower():
            h264 = True
    if not any(line.startswith("m=video") for line in lines):
        raise InvalidOfferError("the SDP offer has no video media section (m=video)")
    if not h264:
        raise InvalidOfferError("the SDP offer does not offer H.264 video: live view sends the camera's "
                                "H.264 as it is, without re-encoding")

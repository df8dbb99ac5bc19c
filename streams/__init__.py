"""Camera streams: RTSP (TCP/UDP) and local files, supervised, latest-frame, with health events.

Public interface (everything else is internal)::

    from streams import CameraConfig, CameraSource, Frame, HealthEvent, CameraState, mask_url

    config = CameraConfig(id="gate-north", url="rtsp://admin:${PW}@cam/stream1",
                          sub_url="rtsp://admin:${PW}@cam/stream2", detect_fps=5)
    source = CameraSource(config, on_event=events.put)   # role=StreamRole.MAIN for snapshots
    source.start()                                        # decoder + watchdog threads
    frame = source.latest(timeout=1.0)                    # newest frame or None
    for frame in source: ...                              # at detect_fps until stop()
    source.stop()                                         # joins its threads

- :class:`CameraConfig` (pydantic, ``extra="forbid"``): ``id``, ``name``, ``url``, ``sub_url``,
  ``username``/``password``, ``transport`` (tcp/udp), ``detect_fps``, ``run``,
  ``open_timeout_s``, ``read_timeout_s``, ``stall_after_s``, ``watchdog_s``, ``decode_threads``,
  ``decode_device`` (``cpu``; ``cuda`` decodes on the NVIDIA GPU, else on the CPU with one warning),
  ``backoff`` (:class:`BackoffSchedule`: default 1 s x5, 5 s x5, 10 s x10, then 60 s, +-10 %
  jitter) and ``tamper`` (:class:`TamperConfig`). ``public_dict()`` for API output.
- :class:`Frame`: ``camera_id``, ``image`` (``(H, W, 3)`` uint8 BGR), ``captured_at``
  (:class:`Instant`: monotonic + wall seconds), ``seq`` (decoded-frame counter), ``dropped``
  (decoded frames skipped since the previous delivered one), ``stream`` ("detect"/"main").
- :class:`CameraSource`: decodes with PyAV on its own thread; frames are sampled at
  ``detect_fps`` into a one-frame slot, so a slow consumer gets the newest frame, never a
  backlog. Failures never kill it: it reconnects on the backoff schedule forever. Open and
  read timeouts (FFmpeg interrupt callback + socket timeout) catch servers that accept and
  never answer; a watchdog marks a camera ``stalled`` after ``stall_after_s`` without frames and
  restarts the decoder when data arrives but nothing decodes for ``watchdog_s``. A packet the
  decoder refuses (a lossy link) is skipped and logged (the first, then every 100th), not a
  reconnect: one bad packet must not send ``camera.offline``/``camera.online``.
- :class:`HealthEvent`: ``camera_id``, ``state``, ``previous``, ``reason`` (credentials masked),
  ``at``, and for tamper findings ``tamper`` (frozen/black/defocus) with ``active``.
  :class:`CameraState`: connecting, online, stalled, offline, auth_failed. The alarm layer
  turns offline/auth_failed into ``camera.offline``.
- :class:`PacketTap` (``source.packets``): the encoded H.264 access units the decoder thread
  demuxes anyway, handed to listeners (Annex B, parameter sets before key frames, growing
  timestamps; nothing is copied while nobody listens). :class:`PacketBuffer` keeps the last
  seconds of them from a key frame; :func:`streams.clips.write_mp4` cuts an MP4 (no re-encode).
- :func:`mask_url`: ``rtsp://user:***@host/...``; used for every log line, error and report.
- ``estatewatch streams probe URL [--seconds S] [--json]`` (:func:`streams.probe.probe`).
"""

from streams.backoff import BackoffSchedule, BackoffStep
from streams.config import CameraConfig, StreamRole, TamperConfig, Transport
from streams.credentials import mask_url
from streams.decoder import StreamInfo
from streams.frames import Frame, Instant
from streams.health import CameraState, HealthEvent, TamperKind
from streams.packets import EncodedPacket, PacketBuffer, PacketTap
from streams.source import CameraSource, SourceStats

__all__ = [
    "BackoffSchedule",
    "BackoffStep",
    "CameraConfig",
    "CameraSource",
    "CameraState",
    "EncodedPacket",
    "Frame",
    "HealthEvent",
    "Instant",
    "PacketBuffer",
    "PacketTap",
    "SourceStats",
    "StreamInfo",
    "StreamRole",
    "TamperConfig",
    "TamperKind",
    "Transport",
    "mask_url",
]

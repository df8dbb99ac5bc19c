"""A real RTSP server for tests and benchmarks: Debian's GStreamer RTSP server.

Runs under the system Python (``/usr/bin/python3``), because the GObject bindings
(``python3-gi``, ``gir1.2-gst-rtsp-server-1.0``) come from Debian, not from PyPI::

    /usr/bin/python3 streams/testing/rtsp_server.py --spec '{"port": 8554, "mounts": {...}}'

The spec is JSON::

    {
      "port": 8554,
      "credentials": {"user": "admin", "password": "s3cret"},   # optional
      "mounts": {
        "/loop": {"file": "/path/clip.mp4"},                     # H.264 MP4, looped, no re-encode
        "/private": {"file": "/path/clip.mp4", "auth": true},    # needs the credentials
        "/raw": {"launch": "videotestsrc ! ... ! rtpgstpay name=pay0"}  # any launch line
      }
    }

A file mount is a live camera that loops: the server reads the file's H.264 access units
into memory once, at start (a file it cannot read is an error then, exit status 2), and an
``appsrc`` replays them in real time, pass after pass with the timestamps running on, while
any client watches; a client that joins later gets the stream from where it is, from the next
key frame, as from a camera. Nothing seeks: the first design looped the file with segment
seeks, and on a loaded machine about one start in 15-20 left a media that sent nothing, to
every client, for the server's life (the seek raced the media's preparation, or was refused).
The server prints ``READY <port>`` on stdout once it listens; its stderr notes each
media's start, its first loop and every 100th.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

_FEED_LEAD = Gst.SECOND // 5
"""How far ahead of its running time each buffer is pushed (the sinks sync to the timestamps)."""
_NOTE_EVERY_LOOPS = 100


def note(text: str) -> None:
    """One line on stderr (``RtspTestServer.diagnosis()`` shows the last ones in failures)."""
    sys.stderr.write(f"{GLib.get_monotonic_time() / 1e6:.3f}: {text}\n")
    sys.stderr.flush()


class Clip:
    """A file's H.264 access units in memory, read once, replayed in a loop by every media of it.

    Timestamps are relative to the first frame; ``duration`` is one pass through the file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such file")
        pipeline = Gst.parse_launch(f'filesrc location="{path}" ! qtdemux ! h264parse '
                                    "! video/x-h264,alignment=au ! appsink name=sink sync=false")
        sink = pipeline.get_by_name("sink")
        bus = pipeline.get_bus()
        buffers: list[Gst.Buffer] = []
        caps: Gst.Caps | None = None
        error = ""
        pipeline.set_state(Gst.State.PLAYING)
        try:
            deadline = GLib.get_monotonic_time() + 60_000_000
            while not sink.get_property("eos") and GLib.get_monotonic_time() < deadline:
                sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
                if sample is not None:
                    caps = caps or sample.get_caps()
                    buffers.append(sample.get_buffer())
                    continue
                message = bus.pop_filtered(Gst.MessageType.ERROR)
                if message is not None:
                    error = message.parse_error()[0].message
                    break
            if not error and not sink.get_property("eos"):
                error = "still reading after 60 s"
        finally:
            pipeline.set_state(Gst.State.NULL)
        if error:
            raise ValueError(f"{path}: not an H.264 MP4 the server can loop: {error}")
        if not buffers or caps is None:
            raise ValueError(f"{path}: no H.264 frame in it")
        first = min(_dts(b) for b in buffers)
        self.caps = caps
        self.frames = [(b, _dts(b) - first, b.pts - first) for b in buffers]
        last = buffers[-1]
        step = last.duration if last.duration != Gst.CLOCK_TIME_NONE else (
            (_dts(last) - first) // max(len(buffers) - 1, 1))
        self.duration = _dts(last) - first + step

    def feed(self, media: GstRtspServer.RTSPMedia) -> None:
        """Replay the clip into ``media``'s ``appsrc`` while the media lives, as a camera would."""
        source = media.get_element().get_by_name("src")
        source.set_property("caps", self.caps)
        gone = threading.Event()
        media.connect("unprepared", lambda _media: gone.set())
        threading.Thread(target=self._push, args=(source, gone), daemon=True,
                         name=f"feed {os.path.basename(self.path)}").start()

    def _push(self, source: Gst.Element, gone: threading.Event) -> None:
        # A live media plays while it prepares (its payloader's caps, hence the SDP, need
        # data), before any client's PLAY: feed from then on.
        while source.get_state(0)[1] != Gst.State.PLAYING:
            if gone.wait(0.02):
                return
        clock = source.get_clock()
        if clock is None:
            note(f"{self.path}: the media plays without a clock: nothing fed")
            return

        def running_time() -> int:
            return int(clock.get_time() - source.get_base_time())

        start = running_time() + _FEED_LEAD
        note(f"{self.path}: media playing: feeding from running time {start / 1e9:.3f} s")
        passes = 0
        while not gone.is_set():
            offset = start + passes * self.duration
            for buffer, dts, pts in self.frames:
                wait = offset + dts - _FEED_LEAD - running_time()
                if wait > 0 and gone.wait(wait / 1e9):
                    return
                out = buffer.copy()
                out.dts = offset + dts
                out.pts = offset + pts
                result = source.emit("push-buffer", out)
                if result != Gst.FlowReturn.OK:
                    if not gone.is_set():
                        note(f"{self.path}: feeding stopped: {result.value_nick}")
                    return
            passes += 1
            if passes == 1 or passes % _NOTE_EVERY_LOOPS == 0:
                note(f"{self.path}: looped {passes} time(s)")


def _dts(buffer: Gst.Buffer) -> int:
    return int(buffer.dts if buffer.dts != Gst.CLOCK_TIME_NONE else buffer.pts)


_FILE_LAUNCH = ("( appsrc name=src is-live=true format=time ! h264parse config-interval=-1 "
                "! rtph264pay name=pay0 pt=96 config-interval=-1 )")


def _factory(mount: dict[str, Any], clip: Clip | None,
             auth_role: str | None) -> GstRtspServer.RTSPMediaFactory:
    factory = GstRtspServer.RTSPMediaFactory()
    if clip is not None:
        factory.set_launch(_FILE_LAUNCH)
        factory.connect("media-configure", lambda _f, media: clip.feed(media))
    else:
        factory.set_launch(f"( {mount['launch']} )")
    factory.set_shared(True)
    permissions = GstRtspServer.RTSPPermissions()
    role = auth_role if mount.get("auth") else "anonymous"
    # Everyone may see the mount, so that the server answers 401 (not 404) and clients
    # retry with credentials; only the role may construct (play) it.
    permissions.add_permission_for_role("anonymous", "media.factory.access", True)
    permissions.add_permission_for_role(role, "media.factory.access", True)
    permissions.add_permission_for_role(role, "media.factory.construct", True)
    factory.set_permissions(permissions)
    return factory


def _auth(credentials: dict[str, str]) -> GstRtspServer.RTSPAuth:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    basic = GstRtspServer.RTSPAuth.make_basic(credentials["user"], credentials["password"])
    auth.add_basic(basic, token)
    anonymous = GstRtspServer.RTSPToken()
    anonymous.set_string("media.factory.role", "anonymous")
    auth.set_default_token(anonymous)
    return auth


def serve(spec: dict[str, Any]) -> None:
    """Serve the mounts in ``spec`` until SIGTERM/SIGINT."""
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(spec["port"]))
    credentials = spec.get("credentials")
    if credentials:
        server.set_auth(_auth(credentials))
    clips: dict[str, Clip] = {}
    try:
        for mount in spec["mounts"].values():
            if "file" in mount and mount["file"] not in clips:
                clips[mount["file"]] = Clip(mount["file"])
    except (ValueError, GLib.Error) as exc:
        sys.stderr.write(f"{exc}\n")
        sys.exit(2)
    mounts = server.get_mount_points()
    for path, mount in spec["mounts"].items():
        clip = clips.get(mount["file"]) if "file" in mount else None
        mounts.add_factory(path, _factory(mount, clip, "user" if credentials else None))
    if server.attach(None) == 0:
        sys.stderr.write(f"cannot listen on 127.0.0.1:{spec['port']}\n")
        sys.exit(2)
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    sys.stdout.write(f"READY {spec['port']}\n")
    sys.stdout.flush()
    loop.run()


def main() -> None:
    """Parse ``--spec JSON`` and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON server spec (see module docstring)")
    serve(json.loads(parser.parse_args().spec))


if __name__ == "__main__":
    main()

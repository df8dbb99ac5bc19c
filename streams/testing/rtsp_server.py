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

Files loop seamlessly: the media starts with a flushing segment seek and answers every
``SEGMENT_DONE`` with a non-flushing one, so the RTP clock keeps running. The server prints
``READY <port>`` on stdout once it listens.
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
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

_SEGMENT = Gst.SeekFlags.SEGMENT
SEEK_FAILED_EXIT = 3
"""The server's exit status when a looping seek failed (its media would serve nothing)."""
_FLUSH = Gst.SeekFlags.FLUSH


def _loop_forever(media: GstRtspServer.RTSPMedia) -> None:
    """Play ``media``'s file in a loop: segment seeks, never EOS (which ends the RTSP stream).

    A seek with the segment flag ends the file with ``SEGMENT_DONE`` instead of EOS; each
    ``SEGMENT_DONE`` is answered with a non-flushing segment seek to 0, so the RTP clock keeps
    running. Segment mode starts with a flushing segment seek when the first client plays, and
    again after any other flushing seek, such as the media's own on a client's PLAY (FFmpeg asks
    for ``npt=0-``) when the shared media is past 0.

    Flushing seeks go through the media (``seek_full``), which blocks its streams, waits for the
    preroll and keeps its state. A flushing seek sent to the pipeline behind the media's back
    (this function's first design) raced with the media's own preparation: on a loaded machine,
    about one start in 15, the seek never finished and no client got a frame for the server's
    life. ``seek_full`` blocks until the preroll, which the main loop completes, so it runs on
    a thread of its own. Each step is written to stderr, which the test harness shows when a
    test fails.
    """
    pipeline = media.get_element().get_parent()
    bus = pipeline.get_bus()
    bus.enable_sync_message_emission()
    looping = False  # a flushing segment seek of ours succeeded: SEGMENT_DONE comes, not EOS
    ours = False  # a flushing seek of this function's is in flight
    lock = threading.Lock()

    def note(text: str) -> None:
        sys.stderr.write(f"loop {GLib.get_monotonic_time() / 1e6:.3f}: {text}\n")
        sys.stderr.flush()

    def flushing_seek(why: str) -> None:
        nonlocal looping, ours
        # get_status waits while the media is preparing (its own seek prerolling), up to 20 s.
        status = media.get_status()
        if status != GstRtspServer.RTSPMediaStatus.PREPARED:
            with lock:
                ours = False
            note(f"{why}: the media is {status.value_nick}, not prepared: no seek")
            return
        _, start = GstRtsp.rtsp_range_parse("npt=0-")
        done = media.seek_full(start, _FLUSH | _SEGMENT)
        with lock:
            looping = looping or done
            if not done:
                ours = False
        note(f"{why}: flushing segment seek {'done' if done else 'FAILED'}")
        if not done:
            # A refused seek leaves the shared media serving nothing, to every client, while the
            # server still listens (a CI run of test_serve_crash: 300 s without a frame). Dead
            # is detectable (RtspTestServer.healthy() turns false and harnesses restart it).
            note(f"exiting with status {SEEK_FAILED_EXIT}: this media serves nothing now")
            os._exit(SEEK_FAILED_EXIT)

    def start_seek(why: str) -> None:
        nonlocal ours
        with lock:
            ours = True
        threading.Thread(target=flushing_seek, args=(why,), daemon=True).start()

    def loop_again() -> bool:
        pipeline.seek(1.0, Gst.Format.TIME, _SEGMENT, Gst.SeekType.SET, 0, Gst.SeekType.NONE, 0)
        return False

    def on_new_state(_media: GstRtspServer.RTSPMedia, state: int) -> None:
        # The first PLAY: the media has its transport now (a seek needs it).
        with lock:
            first = state == Gst.State.PLAYING and not looping and not ours
        if first:
            start_seek("first client playing")

    def on_message(_bus: Gst.Bus, message: Gst.Message) -> None:
        nonlocal ours
        # Sync handlers run on a streaming thread; seek from the main loop or a thread instead.
        if message.type == Gst.MessageType.SEGMENT_DONE:
            GLib.idle_add(loop_again)  # non-flushing: the running time goes on
        elif message.type == Gst.MessageType.ASYNC_DONE:
            with lock:
                theirs = looping and not ours
                ours = False
            if theirs:
                start_seek("the media seeked for a client")

    media.connect("new-state", on_new_state)
    bus.connect("sync-message", on_message)


def _file_launch(path: str) -> str:
    return (f'( filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 '
            "! rtph264pay name=pay0 pt=96 config-interval=-1 )")


def _factory(mount: dict[str, Any], auth_role: str | None) -> GstRtspServer.RTSPMediaFactory:
    factory = GstRtspServer.RTSPMediaFactory()
    if "file" in mount:
        factory.set_launch(_file_launch(mount["file"]))
        factory.connect("media-configure", lambda _f, media: _loop_forever(media))
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
    mounts = server.get_mount_points()
    for path, mount in spec["mounts"].items():
        mounts.add_factory(path, _factory(mount, "user" if credentials else None))
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

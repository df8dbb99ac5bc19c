"""Live video over WebRTC and alarm clips, against a real RTSP camera and the real service.

The camera is GStreamer's RTSP server (H.264, key frame every second); the viewer is an aiortc
peer connection on loopback that decodes what the route sends; the clip is opened with PyAV.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from fastapi.testclient import TestClient

from alarms.types import AlarmDraft, Subject
from api.accounts.principal import STATIC_KEY
from api.accounts.store import Actor
from api.app import create_app
from api.video import VideoHub, VideoSettings
from estatewatch.config import ServiceConfig
from estatewatch.service import Service
from media.clips import h264_clip
from streams.testing.server import Mount, RtspTestServer, gstreamer_missing, live_h264
from tests.waiting import wait_until

pytestmark = pytest.mark.rtsp

KEY = "live-video-key-0123456789"
PRE_S, POST_S = 2.0, 2.0
MAX_VIEWERS = 2
CONNECT_TIMEOUT_S = 3.0


@dataclass
class Site:
    service: Service
    client: TestClient
    hub: VideoHub
    other_key: str  # may read cameras and alarms, but only of the camera "other"


@pytest.fixture(scope="module")
def site(site_dir: Path) -> Iterator[Site]:
    missing = gstreamer_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the RTSP test server cannot run: {missing}")
        pytest.skip(missing)
    server = RtspTestServer({"/live": Mount(launch=live_h264("ball", 320, 240))})
    server.start()
    config = ServiceConfig.model_validate({
        "cameras": [{"id": "gate", "url": server.url("live"), "detect_fps": 1, "run": ["faces"]},
                    {"id": "other", "url": server.url("live"), "detect_fps": 1, "run": ["faces"]},
                    # A local file, as the demo's cameras: MP4 samples, converted for WebRTC.
                    {"id": "file", "url": str(h264_clip(320, 240, fps=25, seconds=2)), "detect_fps": 1,
                     "run": ["faces"]}],
        "alarms": {"clips": {"pre_s": PRE_S, "post_s": POST_S}},
    })
    service = Service(config)
    service.start()
    try:
        app = create_app(service, frozenset([KEY]), video=VideoSettings(max_viewers_per_camera=MAX_VIEWERS,
                                                     connect_timeout_s=CONNECT_TIMEOUT_S))
        other_key, _ = app.state.accounts.create_key(Actor(STATIC_KEY, None), "other camera only",
                                                     ["cameras:read", "alarms:read"], cameras=["other"])
        with TestClient(app) as client:
            yield Site(service, client, app.state.video, other_key)
    finally:
        service.stop()
        server.stop()


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _offer(pc: RTCPeerConnection) -> str:
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


async def _connected(pc: RTCPeerConnection, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while pc.connectionState != "connected":
        assert time.monotonic() < deadline, f"no connection in {timeout} s: {pc.connectionState}"
        await asyncio.sleep(0.05)


async def _watch(site: Site, camera_id: str, frames: int, timeout: float) -> list[tuple[int, int]]:
    """Connect as a browser would, decode ``frames`` frames, leave; returns their sizes."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    tracks: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
    pc.on("track", tracks.put_nowait)
    try:
        sdp = await _offer(pc)
        response = await asyncio.to_thread(site.client.post, f"/api/v1/cameras/{camera_id}/webrtc",
                                           json={"sdp": sdp, "type": "offer"}, headers=auth())
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["type"] == "answer" and "H264" in answer["sdp"]
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        track = await asyncio.wait_for(tracks.get(), timeout)
        sizes = []
        for _ in range(frames):
            frame = await asyncio.wait_for(track.recv(), timeout)
            assert isinstance(frame, av.VideoFrame)
            sizes.append((frame.width, frame.height))
        assert site.hub.active_tracks() >= 1
        return sizes
    finally:
        await pc.close()


@pytest.mark.parametrize("camera", ["gate", "file"])
def test_a_viewer_gets_decoded_frames_and_its_track_is_freed_when_it_leaves(site: Site, camera: str) -> None:
    sizes = asyncio.run(_watch(site, camera, frames=10, timeout=10.0))
    assert sizes == [(320, 240)] * 10
    wait_until(lambda: site.hub.active_tracks() == 0 and site.hub.viewers() == 0, timeout=10.0,
               what="the viewer's track to be released",
               seen=lambda: f"{site.hub.active_tracks()} tracks, {site.hub.viewers()} viewers")
    assert site.service.pipeline is not None
    assert site.service.pipeline.sources[camera].packets.listeners == 1  # only the clip buffer
    metrics = site.client.get("/metrics").text
    assert f'estatewatch_webrtc_tracks{{camera="{camera}"}} 0.0' in metrics


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"sdp": "hello", "type": "offer"}, 400, "v=0"),
    ({"sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "type": "offer"}, 400, "no video"),
    ({"sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", "type": "offer"}, 400,
     "H.264"),
    ({"sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n", "type": "offer"}, 400,
     "not valid"),
    ({"sdp": "v=0", "type": "answer"}, 422, "offer"),
    ({"type": "offer"}, 422, "sdp"),
])
def test_an_unusable_offer_is_a_clear_4xx_and_leaves_no_viewer(site: Site, body: dict[str, str], status: int,
                                                              says: str) -> None:
    response = site.client.post("/api/v1/cameras/gate/webrtc", json=body, headers=auth())
    assert response.status_code == status, response.text
    assert says in response.text
    assert site.hub.viewers() == 0 and site.hub.active_tracks() == 0


def test_the_viewer_limit_answers_429_and_frees_up(site: Site) -> None:
    async def scenario() -> None:
        peers = [RTCPeerConnection(RTCConfiguration(iceServers=[])) for _ in range(MAX_VIEWERS + 1)]
        try:
            for n, pc in enumerate(peers):
                sdp = await _offer(pc)
                response = await asyncio.to_thread(site.client.post, "/api/v1/cameras/gate/webrtc",
                                                   json={"sdp": sdp, "type": "offer"}, headers=auth())
                if n < MAX_VIEWERS:
                    assert response.status_code == 200, response.text
                    await pc.setRemoteDescription(RTCSessionDescription(**response.json()))
                    await _connected(pc)
                else:
                    assert response.status_code == 429
                    assert f"the limit is {MAX_VIEWERS}" in response.json()["detail"]
            assert site.hub.viewers("gate") == MAX_VIEWERS
        finally:
            for pc in peers:
                await pc.close()

    asyncio.run(scenario())
    wait_until(lambda: site.hub.viewers() == 0 and site.hub.active_tracks() == 0, timeout=10.0,
               what="the viewers to be released", seen=lambda: (site.hub.viewers(), site.hub.active_tracks()))


def test_a_viewer_that_never_connects_is_dropped(site: Site) -> None:
    async def offer_only() -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        sdp = await _offer(pc)
        response = await asyncio.to_thread(site.client.post, "/api/v1/cameras/gate/webrtc",
                                           json={"sdp": sdp, "type": "offer"}, headers=auth())
        assert response.status_code == 200, response.text
        await pc.close()  # gone before it read the answer: no ICE, no DTLS, nothing to say goodbye

    asyncio.run(offer_only())
    assert site.hub.viewers("gate") == 1
    wait_until(lambda: site.hub.viewers() == 0 and site.hub.active_tracks() == 0,
               timeout=CONNECT_TIMEOUT_S + 10, what="the unconnected viewer to be dropped",
               seen=lambda: site.hub.viewers())


def test_camera_scope_and_unknown_cameras_answer_404(site: Site) -> None:
    body = {"sdp": "v=0", "type": "offer"}
    hidden = site.client.post("/api/v1/cameras/gate/webrtc", json=body, headers=auth(site.other_key))
    assert hidden.status_code == 404 and "no camera 'gate'" in hidden.text
    unknown = site.client.post("/api/v1/cameras/nowhere/webrtc", json=body, headers=auth())
    assert unknown.status_code == 404 and "no camera 'nowhere'" in unknown.text
    assert site.client.post("/api/v1/cameras/gate/webrtc", json=body).status_code == 401


def test_an_alarm_gets_a_browser_playable_clip_that_retention_deletes(site: Site) -> None:
    store, clips = site.service.store, site.service.clips
    assert store is not None and clips is not None
    wait_until(lambda: site.service.clip_buffers["gate"].seconds() >= PRE_S + 1, timeout=15.0,
               what="the clip buffer to fill")
    now = dt.datetime.now(dt.UTC)
    draft = AlarmDraft(type="unknown_person", severity="medium", rule_id="test", camera_id="gate", zone=None,
                       occurred_at=now, subject=Subject(kind="unknown_track", id="gate:1"),
                       dedup_key="test|t1|gate")
    alarm = store.raise_alarm(draft)
    url = f"/api/v1/alarms/{alarm.id}/clip"
    early = site.client.get(url, headers=auth())
    assert early.status_code == 404 and "no clip (yet)" in early.json()["detail"]
    assert site.client.get(f"/api/v1/alarms/{alarm.id}", headers=auth()).json()["clip_url"] is None
    assert clips.idle(POST_S + 10)

    body = site.client.get(f"/api/v1/alarms/{alarm.id}", headers=auth()).json()
    assert body["clip_url"].endswith(url)
    ready = [e for _, _, e in store.events("alarm.clip_ready") if e["data"]["id"] == alarm.id]
    assert len(ready) == 1 and ready[0]["data"]["clip_url"] == body["clip_url"]
    response = site.client.get(url, headers=auth())
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    content = response.content
    assert content[4:8] == b"ftyp" and content.find(b"moov") < content.find(b"mdat")  # faststart
    clip = store.clip_file(alarm.id)
    assert clip is not None
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert container.format.name.startswith("mov,mp4")
        assert stream.codec_context.name == "h264"
        duration = float(container.duration or 0) / av.time_base
        decoded = sum(1 for _ in container.decode(video=0))
    # From the key frame at or before pre_s (one a second) to post_s after the alarm.
    assert PRE_S + POST_S - 0.5 <= duration <= PRE_S + POST_S + 1.5, duration
    assert decoded >= 25 * (PRE_S + POST_S - 0.5)

    assert 'estatewatch_alarm_clips{outcome="written"} 1.0' in site.client.get("/metrics").text
    assert site.client.get(url, headers=auth(site.other_key)).status_code == 404
    assert site.client.get(f"/api/v1/alarms/{alarm.id}/clip").status_code == 401
    assert store.purge(dt.timedelta(seconds=0), now=now + dt.timedelta(seconds=1)) >= 1
    assert not clip.exists()
    gone = site.client.get(url, headers=auth())
    assert gone.status_code == 404 and "no alarm" in gone.json()["detail"]


def test_an_alarm_without_video_has_no_clip(site: Site) -> None:
    store = site.service.store
    assert store is not None
    draft = AlarmDraft(type="care_not_seen", severity="low", rule_id="test", camera_id=None, zone=None,
                       occurred_at=dt.datetime.now(dt.UTC), subject=Subject(kind="resident", id="r2"),
                       dedup_key="test|t2|-")
    alarm = store.raise_alarm(draft)
    response = site.client.get(f"/api/v1/alarms/{alarm.id}/clip", headers=auth())
    assert response.status_code == 404 and "no clip" in response.json()["detail"]
    assert site.client.get(f"/api/v1/alarms/{alarm.id}", headers=auth()).json()["clip_url"] is None

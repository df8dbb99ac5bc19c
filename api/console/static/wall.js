// The camera wall: one tile per camera the guard may see, with its health badge and live video
// over WebRTC (POST /api/v1/cameras/{id}/webrtc, recvonly). Where the service offers no video
// the tile says so. The camera of the newest alarm comes first; tiles keep their <video> when
// reordered (CSS order), and every peer connection is closed when the wall is hidden.

import { ApiError, post } from "./api.js";
import { t } from "./i18n.js";

const RETRY_MS = 5000;
const ICE_GATHER_MS = 2000;

export function badgeOf(camera, tampered) {
  if (tampered) return "tampered";
  const state = camera.status?.state;
  if (state === "online" || state === "stalled" || state === "offline") return state;
  if (state === "auth_failed") return "offline";
  return "connecting";
}

export class CameraWall {
  constructor(root) {
    this.root = root;
    this.tiles = new Map(); // camera id -> {el, video, peer, retry, videoState}
    this.visible = false;
    this.order = [];
    this.unsupported = false; // the service has no WebRTC endpoint (404/405)
  }

  /** Cameras from GET /api/v1/cameras; `tampered`: ids with an active tamper event. */
  update(cameras, tampered) {
    const seen = new Set();
    for (const camera of cameras) {
      seen.add(camera.id);
      const tile = this.tiles.get(camera.id) ?? this.addTile(camera);
      tile.camera = camera;
      const badge = badgeOf(camera, tampered.has(camera.id));
      tile.el.dataset.health = badge;
      tile.badge.textContent = t(`health.${badge}`);
      tile.name.textContent = camera.name || camera.id;
    }
    for (const [id, tile] of this.tiles) {
      if (!seen.has(id)) {
        this.disconnect(tile);
        tile.el.remove();
        this.tiles.delete(id);
      }
    }
    this.arrange();
  }

  addTile(camera) {
    const el = document.createElement("figure");
    el.className = "tile";
    el.dataset.camera = camera.id;
    el.innerHTML = `<video autoplay muted playsinline></video>
      <p class="tile-novideo"></p>
      <figcaption><span class="tile-name"></span><span class="badge"></span></figcaption>`;
    const tile = {
      el, camera, peer: null, retry: null, videoState: "none",
      video: el.querySelector("video"), note: el.querySelector(".tile-novideo"),
      name: el.querySelector(".tile-name"), badge: el.querySelector(".badge"),
    };
    this.root.append(el);
    this.tiles.set(camera.id, tile);
    this.setVideoState(tile, "none");
    if (this.visible) this.connect(tile);
    return tile;
  }

  /** Camera ids, most urgent first (the camera of the newest alarm leads). */
  prioritise(cameraIds, alarmed) {
    this.order = cameraIds;
    for (const [id, tile] of this.tiles) tile.el.classList.toggle("alarmed", alarmed.has(id));
    this.arrange();
  }

  arrange() {
    const rank = new Map(this.order.map((id, i) => [id, i]));
    for (const [id, tile] of this.tiles) tile.el.style.order = String(rank.get(id) ?? this.order.length);
    const first = [...this.tiles.values()].sort((a, b) => a.el.style.order - b.el.style.order)[0];
    for (const tile of this.tiles.values()) tile.el.classList.toggle("lead", tile === first);
  }

  show(visible) {
    this.visible = visible;
    for (const tile of this.tiles.values()) {
      if (visible) this.connect(tile);
      else this.disconnect(tile);
    }
  }

  setVideoState(tile, state) {
    tile.videoState = state;
    tile.el.dataset.video = state;
    tile.note.textContent = state === "playing" ? "" : t(`wall.video_${state}`);
  }

  relabel() {
    for (const tile of this.tiles.values()) {
      this.setVideoState(tile, tile.videoState);
      tile.badge.textContent = t(`health.${tile.el.dataset.health}`);
    }
  }

  async connect(tile) {
    if (tile.peer || this.unsupported || !window.RTCPeerConnection) {
      if (!tile.peer) this.setVideoState(tile, "none");
      return;
    }
    clearTimeout(tile.retry);
    const peer = new RTCPeerConnection({ iceServers: [] });
    tile.peer = peer;
    this.setVideoState(tile, "connecting");
    peer.addTransceiver("video", { direction: "recvonly" });
    peer.ontrack = (event) => {
      tile.video.srcObject = event.streams[0] ?? new MediaStream([event.track]);
      tile.video.play().catch(() => {});
    };
    tile.video.onplaying = () => this.setVideoState(tile, "playing");
    peer.onconnectionstatechange = () => {
      tile.el.dataset.peer = peer.connectionState; // shown to tests and to whoever inspects a tile
      if (["failed", "closed", "disconnected"].includes(peer.connectionState) && tile.peer === peer) {
        this.disconnect(tile);
        this.setVideoState(tile, "lost");
        if (this.visible) tile.retry = setTimeout(() => this.connect(tile), RETRY_MS);
      }
    };
    try {
      await peer.setLocalDescription(await peer.createOffer());
      await gathered(peer);
      const answer = await post(`/api/v1/cameras/${encodeURIComponent(tile.camera.id)}/webrtc`,
        { sdp: peer.localDescription.sdp, type: "offer" });
      if (tile.peer !== peer) return;
      await peer.setRemoteDescription(answer);
    } catch (error) {
      tile.el.dataset.error = error.message;
      if (tile.peer !== peer) return;
      this.disconnect(tile);
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
        // FastAPI's own 404 ("Not Found") or 405: this service has no WebRTC route at all
        this.unsupported = error.status === 405 || error.message === "Not Found";
        this.setVideoState(tile, "none");
      } else {
        this.setVideoState(tile, "lost");
      }
      // 503: the cameras are starting; 429: the viewer limit; anything else: try again later
      if (this.visible && !this.unsupported) tile.retry = setTimeout(() => this.connect(tile), RETRY_MS);
    }
  }

  disconnect(tile) {
    clearTimeout(tile.retry);
    if (tile.peer) {
      const peer = tile.peer;
      tile.peer = null;
      for (const receiver of peer.getReceivers()) receiver.track?.stop();
      peer.close();
    }
    tile.video.srcObject = null;
    if (tile.videoState === "playing" || tile.videoState === "connecting") this.setVideoState(tile, "none");
  }

  closeAll() {
    for (const tile of this.tiles.values()) this.disconnect(tile);
  }

  clear() {
    this.closeAll();
    this.tiles.clear();
    this.root.replaceChildren();
  }
}

function gathered(peer) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); resolve(); };
    const timer = setTimeout(done, ICE_GATHER_MS);
    peer.addEventListener("icegatheringstatechange", () => {
      if (peer.iceGatheringState === "complete") done();
    });
  });
}

// The camera wall: one tile per camera the guard may see, with its health badge and live video
// over WebRTC (POST /api/v1/cameras/{id}/webrtc, recvonly). Where the service offers no video
// the tile says so. The camera of the newest alarm comes first; tiles keep their <video> when
// reordered (CSS order), and every peer connection is closed when the wall is hidden.
// A guard holding alarms:write can snooze a tile's camera (5/15/30/60 minutes: its alarms, watchlist
// matches excepted, are held back) and end the snooze; a snoozed tile says until when.

import { ApiError, post, request } from "./api.js";
import { t } from "./i18n.js";

const RETRY_MS = 5000;
export const SNOOZE_MINUTES = [5, 15, 30, 60];
const ICE_GATHER_MS = 2000;

export function badgeOf(camera, tampered) {
  if (tampered) return "tampered";
  const state = camera.status?.state;
  if (state === "online" || state === "stalled" || state === "offline") return state;
  if (state === "auth_failed") return "offline";
  return "connecting";
}

/** "HH:MM" of an ISO time, in the browser's time zone. */
export function clockTime(iso) {
  const at = new Date(iso);
  return `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;
}

export class CameraWall {
  /** `canWrite()`: may the guard snooze; `changed()`: a snooze changed (refresh the cameras). */
  constructor(root, { canWrite = () => false, changed = () => {} } = {}) {
    this.root = root;
    this.canWrite = canWrite;
    this.changed = changed;
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
      this.renderSnooze(tile);
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
      <div class="tile-snooze"><span class="snoozed" hidden></span>
        <span class="snooze-for"></span><button type="button" class="snooze-end" hidden></button></div>
      <figcaption><span class="tile-name"></span><span class="badge"></span></figcaption>`;
    const tile = {
      el, camera, peer: null, retry: null, videoState: "none",
      video: el.querySelector("video"), note: el.querySelector(".tile-novideo"),
      name: el.querySelector(".tile-name"), badge: el.querySelector(".badge"),
      snoozed: el.querySelector(".snoozed"), snoozeFor: el.querySelector(".snooze-for"),
      snoozeEnd: el.querySelector(".snooze-end"),
    };
    for (const minutes of SNOOZE_MINUTES) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.minutes = String(minutes);
      button.addEventListener("click", () => this.snooze(tile, minutes));
      tile.snoozeFor.append(button);
    }
    tile.snoozeEnd.addEventListener("click", () => this.snooze(tile, null));
    this.root.append(el);
    this.tiles.set(camera.id, tile);
    this.setVideoState(tile, "none");
    if (this.visible) this.connect(tile);
    return tile;
  }

  renderSnooze(tile) {
    const until = tile.camera.snoozed_until;
    const writer = this.canWrite();
    tile.el.dataset.snoozed = until ? "true" : "false";
    tile.snoozed.hidden = !until;
    tile.snoozed.textContent = until ? t("wall.snoozed_until", { time: clockTime(until) }) : "";
    tile.snoozed.title = until ? t("wall.snoozed_by", { name: tile.camera.snoozed_by ?? "" }) : "";
    tile.snoozeEnd.hidden = !until || !writer;
    tile.snoozeEnd.textContent = t("wall.snooze_end");
    tile.snoozeFor.hidden = !writer;
    for (const button of tile.snoozeFor.children) {
      button.textContent = t("wall.snooze_minutes", { minutes: button.dataset.minutes });
      button.title = t("wall.snooze_title", { minutes: button.dataset.minutes });
    }
  }

  /** Snooze the tile's camera for `minutes`, or end its snooze (`null`). */
  async snooze(tile, minutes) {
    const path = `/api/v1/cameras/${encodeURIComponent(tile.camera.id)}/snooze`;
    try {
      if (minutes === null) await request(path, { method: "DELETE" });
      else await post(path, { minutes });
      delete tile.el.dataset.snoozeError;
    } catch (error) {
      tile.el.dataset.snoozeError = error.message;
    }
    this.changed();
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
      this.renderSnooze(tile);
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

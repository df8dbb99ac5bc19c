// The guard console: login, the live alarm list with sound, the alarm detail, the camera wall
// and lookup. All data comes from the authenticated API; see feed.js for the live feed.

import * as api from "./api.js";
import { SEVERITY_RANK, fillItem, listItem } from "./alarms.js";
import { AlarmDetail } from "./detail.js";
import { AlarmFeed } from "./feed.js";
import { formatTime, initialLanguage, language, onLanguage, setLanguage, t } from "./i18n.js";
import { setUpLookup } from "./lookup.js";
import { AlarmSound, MUTE_MINUTES, SOUNDING_SEVERITIES } from "./sound.js";
import { CameraWall } from "./wall.js";

const LIST_LIMIT = 100;     // alarms read over REST on each refresh
const KEEP = 300;           // alarms kept in memory (newest)
const CAMERA_REFRESH_MS = 10_000;
const WIDE = window.matchMedia("(min-width: 900px)");
const STATE_ORDER = { open: 0, acknowledged: 1, resolved: 2 };
const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  alarms: new Map(),      // id -> public alarm JSON
  items: new Map(),       // id -> <li>
  cameras: new Map(),     // id -> camera
  snapshots: new Map(),   // id -> Promise<object URL | null>
  cameraTimer: null,
  refreshing: null,
};

const sound = new AlarmSound($("alarm-sound"), () => renderMute());
const wall = new CameraWall($("wall"), {
  canWrite: () => Boolean(state.me?.scopes.includes("alarms:write")),
  changed: () => refreshCameras(),
});
const detail = new AlarmDetail({
  snapshot: (id) => snapshot(id),
  changed: (alarm) => upsert([alarm]),
  canWrite: () => Boolean(state.me?.scopes.includes("alarms:write")),
});
const feed = new AlarmFeed({
  token: api.token,
  alarm: (alarm) => upsert([alarm], true),
  event: (message) => { if (String(message.type).startsWith("camera.")) refreshCameras(); },
  refresh: () => refreshAlarms(),
  state: (name) => {
    $("feed-state").dataset.state = name;
    $("feed-state").textContent = t(`feed.${name}`);
  },
});

// -- session ---------------------------------------------------------------------------------
async function boot() {
  await setLanguage(initialLanguage());
  api.whenUnauthorized(() => endSession());
  bindControls();
  if (api.token()) await startSession();
  else showLogin();
}

function showLogin() {
  document.body.dataset.screen = "login";
  document.querySelector("#login-form input[name=username]").focus();
}

async function startSession() {
  try {
    state.me = await api.get("/api/v1/auth/me");
  } catch {
    showLogin();
    return;
  }
  document.body.dataset.screen = "console";
  $("whoami").textContent = `${state.me.name} (${t(`role.${state.me.role ?? "key"}`)})`;
  await refreshCameras();
  await refreshAlarms();
  state.cameraTimer = setInterval(refreshCameras, CAMERA_REFRESH_MS);
  feed.start();
  layout();
}

function endSession() {
  feed.stop();
  clearInterval(state.cameraTimer);
  closeDetail();
  wall.clear();
  sound.want(false);
  for (const url of state.snapshots.values()) url.then((u) => u && URL.revokeObjectURL(u));
  state.snapshots.clear();
  state.alarms.clear();
  state.items.clear();
  state.cameras.clear();
  $("alarm-list").replaceChildren();
  state.me = null;
  showLogin();
}

// -- data ------------------------------------------------------------------------------------
async function refreshAlarms() {
  if (state.refreshing) return state.refreshing; // one REST read at a time
  state.refreshing = api.get(`/api/v1/alarms?limit=${LIST_LIMIT}`)
    .then((page) => upsert(page.items))
    .catch(() => {})
    .finally(() => { state.refreshing = null; });
  return state.refreshing;
}

async function refreshCameras() {
  try {
    const [cameras, events] = await Promise.all([
      api.get("/api/v1/cameras"), api.get("/api/v1/cameras/events?limit=200")]);
    state.cameras = new Map(cameras.map((c) => [c.id, c]));
    wall.update(cameras, tamperedCameras(events));
    $("wall-empty").hidden = cameras.length > 0;
    prioritiseWall();
  } catch {
    // shown by the feed state / the next refresh; a 401 already ended the session
  }
}

/** Cameras whose newest event of some tamper check is a raise (events come newest first). */
function tamperedCameras(events) {
  const seen = new Set();
  const tampered = new Set();
  for (const event of events) {
    if (!event.tamper) continue;
    const key = `${event.camera_id}/${event.tamper}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (event.active) tampered.add(event.camera_id);
  }
  return tampered;
}

/** Add or update alarms in place (by id); `live`: from the feed (a new one leads the wall). */
function upsert(alarms, live = false) {
  for (const alarm of alarms) {
    const known = state.alarms.get(alarm.id);
    // an alarm only moves forward (open -> acknowledged -> resolved): an older copy (a list read
    // that started before an action, a replayed event) never takes it back
    if (known && STATE_ORDER[alarm.state] < STATE_ORDER[known.state]) continue;
    state.alarms.set(alarm.id, alarm);
    if (detail.id === alarm.id) detail.update(alarm);
  }
  if (state.alarms.size > KEEP) {
    const sorted = [...state.alarms.values()].sort(byTime);
    for (const old of sorted.slice(KEEP)) forgetSnapshot(old.id);
    state.alarms = new Map(sorted.slice(0, KEEP).map((a) => [a.id, a]));
  }
  renderList();
  prioritiseWall();
  if (live) refreshCameras();
}

const byTime = (a, b) => (a.occurred_at < b.occurred_at ? 1 : a.occurred_at > b.occurred_at ? -1 : 0);

function forgetSnapshot(id) {
  const url = state.snapshots.get(id);
  state.snapshots.delete(id);
  url?.then((u) => u && URL.revokeObjectURL(u));
}

function snapshot(id) {
  if (!state.snapshots.has(id)) {
    state.snapshots.set(id, api.blobUrl(`/api/v1/alarms/${id}/snapshot`).catch(() => null));
  }
  return state.snapshots.get(id);
}

// -- rendering -------------------------------------------------------------------------------
function renderList() {
  const showAll = $("show-all").checked;
  const shown = [...state.alarms.values()].filter((a) => showAll || a.state !== "resolved").sort(byTime);
  const list = $("alarm-list");
  const wanted = new Set(shown.map((a) => a.id));
  for (const [id, li] of state.items) {
    if (!wanted.has(id)) {
      li.remove();
      state.items.delete(id);
    }
  }
  shown.forEach((alarm, index) => {
    let li = state.items.get(alarm.id);
    if (!li) {
      li = listItem(alarm);
      state.items.set(alarm.id, li);
      if (alarm.snapshot_url) {
        snapshot(alarm.id).then((url) => { if (url) li.querySelector(".thumb").src = url; });
      }
    }
    fillItem(li, alarm, state.cameras);
    li.classList.toggle("selected", detail.id === alarm.id);
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] ?? null);
  });
  $("alarms-empty").hidden = shown.length > 0;
  const open = [...state.alarms.values()].filter((a) => a.state === "open");
  $("open-count").hidden = open.length === 0;
  $("open-count").textContent = String(open.length);
  sound.want(open.some((a) => SOUNDING_SEVERITIES.has(a.severity)));
  document.title = open.length ? `(${open.length}) ${t("app.title")}` : t("app.title");
}

/** The camera of the newest open alarm first, then by severity of its open alarms. */
function prioritiseWall() {
  const open = [...state.alarms.values()].filter((a) => a.state === "open" && a.camera_id).sort(byTime);
  const order = [];
  for (const alarm of open) if (!order.includes(alarm.camera_id)) order.push(alarm.camera_id);
  const rest = [...state.cameras.values()].filter((c) => !order.includes(c.id))
    .sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id)).map((c) => c.id);
  wall.prioritise([...order, ...rest], new Set(order));
}

function renderMute() {
  const button = $("mute");
  if (sound.muted) {
    const until = new Date(sound.mutedUntil).toISOString();
    button.textContent = t("sound.muted_until", { time: formatTime(until) });
    button.title = t("sound.unmute");
  } else {
    button.textContent = t("sound.mute", { minutes: MUTE_MINUTES });
    button.title = "";
  }
  $("enable-sound").hidden = !(sound.blocked && sound.wanted && !sound.muted);
}

// -- navigation ------------------------------------------------------------------------------
function openDetail(id) {
  const alarm = state.alarms.get(id);
  if (!alarm) return;
  document.body.dataset.detail = "open";
  detail.open(alarm, state.cameras);
  renderList();
  layout();
}

function closeDetail() {
  delete document.body.dataset.detail;
  detail.close();
  renderList();
  layout();
}

function selectTab(tab) {
  document.body.dataset.tab = tab;
  if (document.body.dataset.detail) closeDetail();
  layout();
}

/** Which view the main pane shows, and whether the wall is on screen (else its video is closed). */
function layout() {
  const { tab, detail: open, screen } = document.body.dataset;
  const main = open ? "detail" : tab === "lookup" ? "lookup" : tab === "wall" || WIDE.matches ? "wall" : "none";
  document.body.dataset.main = main;
  const current = main === "wall" || main === "lookup" ? main : tab;
  for (const button of document.querySelectorAll(".tabs [data-tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === current));
  }
  wall.show(screen === "console" && main === "wall");
}

function bindControls() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const error = $("login-error");
    error.hidden = true;
    try {
      await api.login(form.get("username"), form.get("password"));
    } catch (failure) {
      error.textContent = failure.status === 401 ? t("login.wrong") : failure.status === 429
        ? t("login.too_many") : t("login.failed", { reason: failure.message });
      error.hidden = false;
      return;
    }
    event.target.reset();
    await startSession();
  });
  $("logout").addEventListener("click", async () => {
    await api.logout();
    endSession();
  });
  for (const button of document.querySelectorAll(".lang-switch")) {
    button.addEventListener("click", () => setLanguage(language() === "zh-CN" ? "en" : "zh-CN"));
  }
  for (const button of document.querySelectorAll(".tabs [data-tab]")) {
    button.addEventListener("click", () => selectTab(button.dataset.tab));
  }
  $("alarm-list").addEventListener("click", (event) => {
    const li = event.target.closest("li.alarm");
    if (li) openDetail(li.dataset.id);
  });
  $("alarm-list").addEventListener("keydown", (event) => {
    const li = event.target.closest("li.alarm");
    if (li && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      openDetail(li.dataset.id);
    }
  });
  $("detail-close").addEventListener("click", closeDetail);
  $("show-all").addEventListener("change", renderList);
  $("mute").addEventListener("click", () => (sound.muted ? sound.unmute() : sound.mute()));
  $("enable-sound").addEventListener("click", () => sound.apply());
  WIDE.addEventListener("change", layout);
  window.addEventListener("pagehide", () => wall.closeAll());
  setUpLookup((id) => state.cameras.get(id)?.name || id);
  onLanguage(() => {
    if (state.me) $("whoami").textContent = `${state.me.name} (${t(`role.${state.me.role ?? "key"}`)})`;
    $("feed-state").textContent = t(`feed.${$("feed-state").dataset.state}`);
    renderList();
    renderMute();
    wall.relabel();
    detail.relabel();
  });
}

window.estatewatch = { feed, state }; // for troubleshooting from the browser's console (and tests)
boot();

// The alarm detail: snapshot with the subject's box, the clip, the registry entry matched,
// the history (with comments) and the acknowledge / resolve / comment actions with a note.

import { ApiError, blobUrl, get, post } from "./api.js";
import { boxOf, facts, fillFacts } from "./alarms.js";
import { formatTime, t, tOr } from "./i18n.js";

const ENTRY_ROUTES = { resident: "residents", visitor: "visitors", watchlist: "watchlist" };
const CLIP_WAIT_MS = 120_000;  // how long after an alarm its clip may still be coming
const CLIP_RETRY_MS = 3000;
const $ = (id) => document.getElementById(id);

export class AlarmDetail {
  /** `snapshot(id)`: a promise of the snapshot's object URL (shared with the list's thumbnails). */
  constructor({ snapshot, changed, canWrite }) {
    this.snapshot = snapshot;
    this.changed = changed;
    this.canWrite = canWrite;
    this.alarm = null;
    this.cameras = new Map();
    this.clipUrl = null;
    this.commentsAvailable = true;
    $("acknowledge").addEventListener("click", () => this.act("acknowledge"));
    $("resolve").addEventListener("click", () => this.act("resolve"));
    $("comment").addEventListener("click", () => this.act("comments"));
  }

  get id() {
    return this.alarm?.id ?? null;
  }

  open(alarm, cameras) {
    const other = this.alarm?.id !== alarm.id;
    this.alarm = alarm;
    this.cameras = cameras;
    if (other) {
      $("detail-note").value = "";
      $("detail-error").hidden = true;
      this.drawSnapshot();
      this.showCrop();
      this.loadClip();
      this.loadEntry();
    }
    this.render();
    this.loadHistory();
  }

  close() {
    this.alarm = null;
    clearTimeout(this.clipRetry);
    if (this.clipUrl) URL.revokeObjectURL(this.clipUrl);
    this.clipUrl = null;
    const clip = $("detail-clip");
    clip.removeAttribute("src");
    clip.load();
  }

  /** The alarm changed (live feed or an action): refresh what depends on its state. */
  update(alarm) {
    if (alarm.id !== this.id) return;
    const stateChanged = alarm.state !== this.alarm.state;
    this.alarm = alarm;
    this.render();
    if (stateChanged) this.loadHistory();
  }

  render() {
    const alarm = this.alarm;
    $("detail-title").textContent = `${t(`severity.${alarm.severity}`)} · ${t(`type.${alarm.type}`)}`;
    $("detail-view").dataset.severity = alarm.severity;
    $("detail-view").dataset.state = alarm.state;
    fillFacts($("detail-facts"), facts(alarm, this.cameras));
    $("acknowledge").hidden = !this.canWrite();
    $("resolve").hidden = !this.canWrite();
    $("acknowledge").disabled = alarm.state !== "open";
    $("resolve").disabled = alarm.state === "resolved";
    $("comment").hidden = !this.canWrite() || !this.commentsAvailable;
    $("detail-actions").hidden = !this.canWrite();
  }

  relabel() {
    if (!this.alarm) return;
    this.render();
    this.loadEntry();
    this.loadHistory();
  }

  /** The face crop, where the caller's role may see it (faces:read; else the API answers 403). */
  async showCrop() {
    const alarm = this.alarm;
    const figure = $("detail-crop-figure");
    const image = $("detail-crop");
    figure.hidden = true;
    if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
    image.removeAttribute("src");
    if (!alarm || alarm.redacted || alarm.subject?.kind === "plate") return;
    const url = await blobUrl(`/api/v1/alarms/${alarm.id}/crop`).catch(() => null);
    if (!url || this.alarm?.id !== alarm.id) {
      if (url) URL.revokeObjectURL(url);
      return;
    }
    image.src = url;
    figure.hidden = false;
  }

  async drawSnapshot() {
    const alarm = this.alarm;
    const canvas = $("detail-canvas");
    const url = alarm.snapshot_url ? await this.snapshot(alarm.id).catch(() => null) : null;
    if (this.alarm !== alarm && this.alarm?.id !== alarm.id) return;
    $("detail-nosnapshot").hidden = Boolean(url);
    canvas.hidden = !url;
    if (!url) return;
    const image = new Image();
    image.src = url;
    await image.decode().catch(() => {});
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const box = boxOf(alarm);
    canvas.dataset.box = box ? box.join(",") : "";
    if (box) {
      const [x1, y1, x2, y2] = box;
      context.lineWidth = Math.max(2, canvas.width / 300);
      context.strokeStyle = alarm.severity === "critical" ? "#ff3b30" : "#ffcc00";
      context.strokeRect(x1, y1, x2 - x1, y2 - y1);
    }
  }

  /** The clip, once written (a few seconds after the alarm): re-checked while the alarm is recent. */
  async loadClip() {
    const alarm = this.alarm;
    const clip = $("detail-clip");
    clearTimeout(this.clipRetry);
    clip.hidden = true;
    $("detail-noclip").hidden = false;
    if (this.clipUrl) URL.revokeObjectURL(this.clipUrl);
    this.clipUrl = null;
    if (!alarm.camera_id || alarm.subject?.kind === "camera") return;
    const url = alarm.clip_url === null ? null
      : await blobUrl(`/api/v1/alarms/${alarm.id}/clip`).catch(() => null);
    if (this.alarm?.id !== alarm.id) {
      if (url) URL.revokeObjectURL(url);
      return;
    }
    if (!url) {
      if (Date.now() - Date.parse(alarm.occurred_at) < CLIP_WAIT_MS) {
        this.clipRetry = setTimeout(() => this.recheckClip(alarm.id), CLIP_RETRY_MS);
      }
      return;
    }
    this.clipUrl = url;
    clip.src = url;
    clip.hidden = false;
    $("detail-noclip").hidden = true;
  }

  async recheckClip(id) {
    if (this.alarm?.id !== id) return;
    try {
      this.changed(await get(`/api/v1/alarms/${id}`)); // the list and this view take the fresh alarm
    } catch {
      return;
    }
    if (this.alarm?.id === id) this.loadClip();
  }

  async loadEntry() {
    const alarm = this.alarm;
    const dl = $("detail-entry");
    const route = ENTRY_ROUTES[alarm.subject?.kind];
    if (!route) {
      fillFacts(dl, [[t("entry.none"), alarm.subject?.kind === "plate" ? t("entry.unregistered") : "—"]]);
      return;
    }
    let entry;
    try {
      entry = await get(`/api/v1/${route}/${encodeURIComponent(alarm.subject.id)}`);
    } catch (error) {
      if (this.alarm?.id === alarm.id) {
        const gone = error instanceof ApiError && error.status === 404;
        fillFacts(dl, [[t(`entry.kind.${alarm.subject.kind}`), gone ? t("entry.gone") : t("entry.forbidden")]]);
      }
      return;
    }
    if (this.alarm?.id !== alarm.id) return;
    fillFacts(dl, entryFacts(alarm.subject.kind, entry));
  }

  async loadHistory() {
    const alarm = this.alarm;
    const [events, comments] = await Promise.all([this.events(alarm), this.comments(alarm)]);
    if (this.alarm?.id !== alarm.id) return;
    const items = [...events, ...comments].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    $("detail-history").replaceChildren(...items.map((item) => {
      const li = document.createElement("li");
      li.dataset.kind = item.kind;
      const time = document.createElement("time");
      time.dateTime = item.at;
      time.textContent = formatTime(item.at);
      const what = document.createElement("span");
      what.className = "what";
      what.textContent = [tOr(`history.${item.kind}`, item.kind), item.by].filter(Boolean).join(" · ");
      li.append(time, what);
      if (item.note) {
        const note = document.createElement("q");
        note.textContent = item.note;
        li.append(note);
      }
      return li;
    }));
    this.render();
  }

  /** The alarm's events from the API, or (where the service has no events route) from its fields. */
  async events(alarm) {
    try {
      const body = await get(`/api/v1/alarms/${alarm.id}/events`);
      return (Array.isArray(body) ? body : body.items ?? []).map((e) => ({
        kind: String(e.type ?? e.kind ?? "").replace(/^alarm\./, ""),
        at: e.timestamp ?? e.at ?? e.created_at ?? e.occurred_at,
        by: e.actor?.name ?? e.by ?? "",
        note: e.note ?? "",
      })).filter((e) => e.kind !== "commented");
    } catch {
      const out = [{ kind: "raised", at: alarm.occurred_at }];
      if (alarm.acknowledged_at) out.push({ kind: "acknowledged", at: alarm.acknowledged_at, by: alarm.acknowledged_by });
      if (alarm.resolved_at) {
        out.push({ kind: "resolved", at: alarm.resolved_at, by: alarm.resolved_by, note: alarm.resolution_note });
      }
      return out;
    }
  }

  async comments(alarm) {
    try {
      const body = await get(`/api/v1/alarms/${alarm.id}/comments`);
      this.commentsAvailable = true;
      return (Array.isArray(body) ? body : body.items ?? []).map((c) => ({
        kind: "commented",
        at: c.created_at ?? c.timestamp ?? c.at,
        by: c.author?.name ?? c.by ?? "",
        note: c.text ?? "",
      }));
    } catch {
      this.commentsAvailable = false;
      return [];
    }
  }

  async act(action) {
    const alarm = this.alarm;
    const note = $("detail-note").value.trim();
    const error = $("detail-error");
    error.hidden = true;
    if (action === "comments" && !note) {
      error.textContent = t("detail.note_required");
      error.hidden = false;
      return;
    }
    const body = action === "comments" ? { text: note } : { note };
    for (const id of ["acknowledge", "resolve", "comment"]) $(id).disabled = true;
    try {
      const result = await post(`/api/v1/alarms/${alarm.id}/${action}`, body);
      $("detail-note").value = "";
      if (action !== "comments" && result?.id === alarm.id) this.changed(result);
    } catch (failure) {
      error.textContent = t("detail.failed", { reason: failure.message });
      error.hidden = false;
    }
    if (this.alarm?.id === alarm.id) {
      this.render();
      this.loadHistory();
    }
  }
}

function entryFacts(kind, entry) {
  const rows = [[t("entry.kind"), t(`entry.kind.${kind}`)]];
  if (kind === "watchlist") {
    rows.push([t("entry.label"), entry.label], [t("entry.severity"), t(`severity.${entry.severity}`)]);
    if (entry.reason) rows.push([t("entry.reason"), entry.reason]);
    if (entry.plate) rows.push([t("entry.plate"), entry.plate]);
  } else if (kind === "resident") {
    rows.push([t("entry.name"), entry.name], [t("entry.address"), address(entry)],
      [t("entry.status"), t(`resident_status.${entry.status}`)]);
    if (entry.phone) rows.push([t("entry.phone"), entry.phone]);
  } else {
    rows.push([t("entry.name"), entry.name],
      [t("entry.valid"), `${formatTime(entry.valid_from)} – ${formatTime(entry.valid_until)}`]);
  }
  return rows;
}

export function address(resident) {
  return [resident.building, resident.unit, resident.room].filter(Boolean).join("-") || "—";
}

// What an alarm says to a guard: its who/what line, its facts, and the list item that shows it.

import { formatTime, t, tOr } from "./i18n.js";

export const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };

/** The plate with its colour, e.g. "沪A12345 · 蓝牌". */
export function plateLabel(alarm) {
  const text = alarm.plate_text;
  if (!text) return "";
  const colour = alarm.details?.plate_colour ?? alarm.details?.colour;
  return colour ? `${text} · ${tOr(`plate_colour.${colour}`, colour)}` : text;
}

/** Who or what the alarm is about: resident/visitor/watchlist name, watchlist label, plate. */
export function whoLabel(alarm) {
  const d = alarm.details ?? {};
  const parts = [];
  if (typeof d.name === "string" && d.name) parts.push(d.name);
  if (typeof d.label === "string" && d.label) parts.push(d.label);
  const plate = plateLabel(alarm);
  if (plate) parts.push(plate);
  if (!parts.length) {
    if (alarm.subject?.kind === "unknown_track") parts.push(t("who.unknown_person"));
    else if (alarm.subject?.kind === "camera") parts.push(t(`type.${alarm.type}`));
  }
  if (alarm.redacted) parts.push(t("who.redacted"));
  return parts.join(" · ");
}

export function cameraName(cameras, id) {
  if (!id) return t("alarm.no_camera");
  return cameras.get(id)?.name || id;
}

/** [label, value] pairs for the detail view. */
export function facts(alarm, cameras) {
  const rows = [
    [t("fact.type"), t(`type.${alarm.type}`)],
    [t("fact.severity"), t(`severity.${alarm.severity}`)],
    [t("fact.state"), t(`state.${alarm.state}`)],
    [t("fact.camera"), cameraName(cameras, alarm.camera_id)],
    [t("fact.time"), formatTime(alarm.occurred_at)],
    [t("fact.who"), whoLabel(alarm) || "—"],
  ];
  if (alarm.zone) rows.push([t("fact.zone"), alarm.zone]);
  if (alarm.similarity !== null && alarm.similarity !== undefined) {
    rows.push([t("fact.similarity"), alarm.similarity.toFixed(2)]);
  }
  if (alarm.acknowledged_at) {
    rows.push([t("fact.acknowledged"), `${alarm.acknowledged_by ?? ""} · ${formatTime(alarm.acknowledged_at)}`]);
  }
  if (alarm.resolved_at) {
    rows.push([t("fact.resolved"), `${alarm.resolved_by ?? ""} · ${formatTime(alarm.resolved_at)}`]);
    if (alarm.resolution_note) rows.push([t("fact.note"), alarm.resolution_note]);
  }
  return rows;
}

export function fillFacts(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([label, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    return [dt, dd];
  }));
}

export function listItem(alarm) {
  const li = document.createElement("li");
  li.className = "alarm";
  li.tabIndex = 0;
  li.dataset.id = alarm.id;
  li.innerHTML = `<img class="thumb" alt="">
    <div class="alarm-body">
      <div class="alarm-head"><span class="sev"></span><span class="type"></span><span class="state"></span></div>
      <div class="who"></div>
      <div class="meta"><span class="camera"></span><time></time></div>
    </div>`;
  return li;
}

export function fillItem(li, alarm, cameras) {
  li.dataset.severity = alarm.severity;
  li.dataset.state = alarm.state;
  li.dataset.camera = alarm.camera_id ?? "";
  li.querySelector(".sev").textContent = t(`severity.${alarm.severity}`);
  li.querySelector(".type").textContent = t(`type.${alarm.type}`);
  li.querySelector(".state").textContent = t(`state.${alarm.state}`);
  li.querySelector(".who").textContent = whoLabel(alarm);
  li.querySelector(".camera").textContent = cameraName(cameras, alarm.camera_id);
  const time = li.querySelector("time");
  time.dateTime = alarm.occurred_at;
  time.textContent = formatTime(alarm.occurred_at);
}

/** The box of the alarm's subject in snapshot pixels, if its details carry one. */
export function boxOf(alarm) {
  const d = alarm.details ?? {};
  for (const key of ["box", "bbox", "face_box", "vehicle_box", "plate_box"]) {
    const box = d[key];
    if (Array.isArray(box) && box.length === 4 && box.every((v) => typeof v === "number")) return box;
  }
  return null;
}

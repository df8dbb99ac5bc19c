// Lookup: residents and visitors by name, a vehicle by (part of) its plate with its owner, and
// the plate's recent sightings on the cameras this user may see (the recognitions route).

import { ApiError, get } from "./api.js";
import { address } from "./detail.js";
import { formatTime, t, tOr } from "./i18n.js";

const SIGHTINGS_SCANNED = 500; // recent recognitions searched for a plate

const $ = (id) => document.getElementById(id);

/** `cameraName(id)`: the camera's name for the sightings. */
export function setUpLookup(cameraName) {
  $("resident-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = new FormData(event.target).get("name").trim();
    search(async () => {
      const [residents, visitors] = await Promise.all([
        get(`/api/v1/residents?${new URLSearchParams({ name, limit: "50" })}`),
        get("/api/v1/visitors"),
      ]);
      const wanted = name.toLowerCase();
      return [
        ...residents.items.map((r) => line(r.name, t("entry.kind.resident"), address(r),
          t(`resident_status.${r.status}`), r.phone)),
        ...visitors.filter((v) => v.name.toLowerCase().includes(wanted)).slice(0, 50).map((v) => line(
          v.name, t("entry.kind.visitor"), `${formatTime(v.valid_from)} – ${formatTime(v.valid_until)}`)),
      ];
    });
  });
  $("plate-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const plate = new FormData(event.target).get("plate").trim();
    if (!plate) return;
    search(async () => {
      const whole = normalise(plate).length >= 7; // a whole plate: also ask for look-alikes
      const [vehicles, recognitions, match] = await Promise.all([
        get(`/api/v1/vehicles?${new URLSearchParams({ plate })}`),
        get(`/api/v1/recognitions?limit=${SIGHTINGS_SCANNED}`).catch(() => []),
        whole ? get(`/api/v1/vehicles/match?${new URLSearchParams({ plate })}`).catch(() => null) : null,
      ]);
      const registered = await Promise.all(vehicles.slice(0, 50).map(async (v) => line(
        v.plate, v.plate_colour ? tOr(`plate_colour.${v.plate_colour}`, v.plate_colour) : "",
        await owner(v), v.parking_permit)));
      return [...matched(match), ...registered, ...sightings(recognitions, plate, cameraName)];
    });
  });
}

/** The registry's match of a whole plate: an OCR look-alike of a registered plate, and watchlist
 * entries (a vehicle's own line comes from the vehicles list). */
function matched(match) {
  if (!match || match.status === "unknown") return [];
  const near = match.status === "near";
  return match.owners.filter((o) => near || o.kind === "watchlist").map((o) => line(
    match.plate, near ? t("lookup.near_match", { query: match.query }) : "",
    o.kind === "watchlist" ? `${t("entry.kind.watchlist")}: ${o.label ?? ""}` : (o.label ?? t(`entry.kind.${o.owner_kind}`)),
    near ? `${Math.round(match.confidence * 100)}%` : ""));
}

/** Plate readings containing the query (any case, spaces and dots ignored), newest first. */
function sightings(recognitions, query, cameraName) {
  const wanted = normalise(query);
  const seen = [];
  for (const r of recognitions) {
    for (const p of r.plates ?? []) {
      if (!normalise(p.text).includes(wanted)) continue;
      seen.push(line(p.text, t("lookup.seen"), cameraName(r.camera_id),
        formatTime(new Date(r.captured_at * 1000).toISOString()),
        p.colour ? tOr(`plate_colour.${p.colour}`, p.colour) : ""));
    }
  }
  return seen.slice(0, 50);
}

const normalise = (text) => String(text).toUpperCase().replace(/[\s·.\-]/g, "");

async function search(find) {
  const status = $("lookup-status");
  const results = $("lookup-results");
  status.textContent = t("lookup.searching");
  results.replaceChildren();
  try {
    const lines = await find();
    results.replaceChildren(...lines);
    status.textContent = lines.length ? t("lookup.found", { count: lines.length }) : t("lookup.none");
  } catch (error) {
    status.textContent = error instanceof ApiError && error.status === 403 ? t("lookup.forbidden")
      : t("lookup.failed", { reason: error.message });
  }
}

async function owner(vehicle) {
  try {
    if (vehicle.resident_id) {
      const r = await get(`/api/v1/residents/${encodeURIComponent(vehicle.resident_id)}`);
      return `${t("entry.kind.resident")} ${r.name} (${address(r)})`;
    }
    if (vehicle.visitor_id) {
      const v = await get(`/api/v1/visitors/${encodeURIComponent(vehicle.visitor_id)}`);
      return `${t("entry.kind.visitor")} ${v.name}`;
    }
  } catch {
    return "";
  }
  return "";
}

function line(title, ...rest) {
  const li = document.createElement("li");
  const strong = document.createElement("strong");
  strong.textContent = title;
  li.append(strong);
  for (const part of rest.filter(Boolean)) {
    const span = document.createElement("span");
    span.textContent = part;
    li.append(span);
  }
  return li;
}

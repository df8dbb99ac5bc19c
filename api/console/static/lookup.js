// Lookup: a resident by name, a vehicle by (part of) its plate, from the registry routes.

import { ApiError, get } from "./api.js";
import { address } from "./detail.js";
import { t, tOr } from "./i18n.js";

const $ = (id) => document.getElementById(id);

export function setUpLookup() {
  $("resident-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = new FormData(event.target).get("name").trim();
    search(async () => {
      const found = await get(`/api/v1/residents?${new URLSearchParams({ name, limit: "50" })}`);
      return found.items.map((r) => line(r.name, address(r), t(`resident_status.${r.status}`), r.phone));
    });
  });
  $("plate-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const plate = new FormData(event.target).get("plate").trim();
    if (!plate) return;
    search(async () => {
      const vehicles = await get(`/api/v1/vehicles?${new URLSearchParams({ plate })}`);
      return Promise.all(vehicles.slice(0, 50).map(async (v) => line(
        v.plate, v.plate_colour ? tOr(`plate_colour.${v.plate_colour}`, v.plate_colour) : "", await owner(v), v.parking_permit)));
    });
  });
}

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

// The authenticated REST API: the bearer token lives in sessionStorage (gone with the tab);
// any 401 ends the session and shows the login screen again.

const TOKEN_KEY = "estatewatch.token";
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
  }
}

export const token = () => sessionStorage.getItem(TOKEN_KEY);

export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export async function login(username, password) {
  const response = await fetch("/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) throw new ApiError(response.status, await detail(response));
  const body = await response.json();
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  return body;
}

export async function logout() {
  const current = token();
  sessionStorage.removeItem(TOKEN_KEY);
  if (current) {
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${current}` } })
      .catch(() => {});
  }
}

async function detail(response) {
  try {
    const body = await response.json();
    return body.detail ?? body;
  } catch {
    return response.statusText;
  }
}

/** A request with the token; JSON in and out. `raw` returns the Response (for blobs). */
export async function request(path, { method = "GET", body, raw = false, signal } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    onUnauthorized();
    throw new ApiError(401, "unauthorized");
  }
  if (!response.ok) throw new ApiError(response.status, await detail(response));
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export const get = (path, options) => request(path, options);
export const post = (path, body) => request(path, { method: "POST", body });

/** An authenticated binary (snapshot, clip) as an object URL; null when the API has none (404). */
export async function blobUrl(path) {
  try {
    const response = await request(path, { raw: true });
    return URL.createObjectURL(await response.blob());
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

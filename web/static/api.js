// api.js — where the dashboard's server is. Addresses are resolved against
// the page's own URL, so the dashboard works behind a reverse proxy that
// mounts it under a path, and a `?token=` in the page URL is passed on to
// `/ws` and `/api` (a browser cannot set headers on a WebSocket).

const token = new URLSearchParams(window.location.search).get("token");

function withToken(url) {
  if (token) url.searchParams.set("token", token);
  return url;
}

/** The WebSocket URL: `ws(s)://same-host/.../ws?token=…`. */
export function wsUrl() {
  const url = withToken(new URL("ws", window.location.href));
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  return url.toString();
}

/** GETs `api/<path>` with the query `params` and returns its JSON. */
export async function getJson(path, params = {}) {
  const url = withToken(new URL(`api/${path}`, window.location.href));
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  url.hash = "";
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = typeof body.error === "string" ? body.error : response.statusText;
    // The status travels with the error: a 404 can mean "nothing kept
    // there", which a page words differently from a failure.
    throw Object.assign(new Error(`${response.status}: ${message}`), { status: response.status });
  }
  return body;
}

/** `k=v,k2=v2`, the label syntax of `/api/series`. */
export function labelQuery(labels) {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/**
 * Sends `method` to `api/<path>` with `body` as JSON (none when undefined)
 * and returns the answer's JSON; an error answer throws its message.
 */
export async function sendJson(method, path, body) {
  const url = withToken(new URL(`api/${path}`, window.location.href));
  url.hash = "";
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(typeof answer.error === "string" ? answer.error : `${response.status} ${response.statusText}`);
  }
  return answer;
}

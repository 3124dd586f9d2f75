// The viewer's identity, shared by the watch and class pages: a signed token from
// POST /api/viewers on the first visit, kept in localStorage (in memory where storage is off),
// or an account's after signing in with a phone (shared/signin.js, adoptViewer).

const VIEWER_KEY = "stallcast.viewer";

let viewer = null;

function saved() {
  try {
    const value = JSON.parse(localStorage.getItem(VIEWER_KEY) || "null");
    return value && typeof value.token === "string" ? value : null;
  } catch {
    return null;
  }
}

/** {viewer_id, token} once known, else null. */
export function currentViewer() {
  viewer ??= saved();
  return viewer;
}

/** The bearer token; a new identity when `fresh` (the old one was refused); "" if none
 * could be had: the page goes on anonymously and buying or chatting says so. */
export async function viewerToken(fresh = false) {
  if (!fresh && currentViewer()) return viewer.token;
  const stored = saved();
  if (fresh && stored && stored.token !== viewer?.token) {
    viewer = stored; // another tab signed in (this identity was merged): use the account
    return viewer.token;
  }
  try {
    const resp = await fetch("/api/viewers", { method: "POST" });
    if (!resp.ok) return "";
    adoptViewer(await resp.json());
    return viewer.token;
  } catch {
    return "";
  }
}

/** Keep this identity: a new one, or the account's once POST /api/account/signin answered
 * it (the page's anonymous identity was merged into it and is refused from then on). */
export function adoptViewer({ viewer_id, token }) {
  viewer = { viewer_id, token };
  try {
    localStorage.setItem(VIEWER_KEY, JSON.stringify(viewer));
  } catch {
    // Storage disabled: this page keeps the identity in memory.
  }
}

/** fetch() with the viewer's bearer token; a rejected token is replaced once. */
export async function viewerApi(path, { method = "GET", body, keepalive = false } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const headers = { Authorization: `Bearer ${await viewerToken(attempt > 0)}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, {
      method, headers, keepalive, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (resp.status !== 401 || attempt > 0) return resp;
  }
}

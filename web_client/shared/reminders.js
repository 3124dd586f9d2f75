// Show reminders on any Stallcast page: when a host this viewer follows (or a show it asked
// about) goes live, a banner says so, once. The page polls GET /api/me/reminders every 15 s
// and when its tab becomes visible; a reminder shown here is marked seen on the server and
// remembered in this browser, so neither a later poll nor another open tab shows it again.
// On the watch page, arriving from a reminder's link (?from=reminder&show=...) is counted
// once for the host. Pages include it with one <script type="module"> tag.
import { catalog } from "./catalog.js";
import { currentViewer, viewerApi } from "./viewer.js";

const POLL_MS = 15000;
const SHOWN_KEY = "stallcast.reminders.shown";
const SHOWN_MAX = 50;
const state = { timer: null, busy: false, words: null, shown: [], polls: 0 };

let say = (key) => key;

async function words() {
  state.words ??= catalog("reminders").then((found) => { say = found; });
  await state.words;
}

function shownIds() {
  try {
    const ids = JSON.parse(localStorage.getItem(SHOWN_KEY) || "[]");
    return Array.isArray(ids) ? ids : [];
  } catch {
    return state.shown;
  }
}

function remember(id) {
  const ids = [...shownIds().filter((x) => x !== id), id].slice(-SHOWN_MAX);
  state.shown = ids;
  try {
    localStorage.setItem(SHOWN_KEY, JSON.stringify(ids));
  } catch {
    // Storage off: this page remembers in memory.
  }
}

function stack() {
  let box = document.getElementById("sc-reminders");
  if (!box) {
    box = document.createElement("div");
    box.id = "sc-reminders";
    box.className = "sc-reminders";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    document.body.prepend(box);
  }
  return box;
}

function banner(reminder) {
  const node = document.createElement("div");
  node.className = "sc-reminder";
  node.dataset.reminder = reminder.id;
  const text = document.createElement("p");
  text.className = "sc-reminder-text";
  text.textContent = reminder.host_name
    ? say("reminders.live_by", { host: reminder.host_name, title: reminder.title })
    : say("reminders.live", { title: reminder.title });
  const link = document.createElement("a");
  link.className = "sc-reminder-watch";
  // Only our own watch pages: the link is made by the server, keep to its path and query.
  const url = new URL(reminder.watch_url, location.href);
  link.href = url.pathname.startsWith("/watch/") ? url.pathname + url.search : "/";
  link.textContent = say("reminders.watch");
  const close = document.createElement("button");
  close.type = "button";
  close.className = "sc-reminder-close";
  close.setAttribute("aria-label", say("reminders.dismiss"));
  close.textContent = "×";
  close.addEventListener("click", () => node.remove());
  node.append(text, link, close);
  return node;
}

/** One poll: show what is new, mark it seen. Exported for tests and pages. */
export async function poll() {
  if (state.busy || !currentViewer()) return [];
  state.busy = true;
  try {
    const resp = await viewerApi("/api/me/reminders");
    if (!resp.ok) return [];
    const { reminders } = await resp.json();
    state.polls += 1;
    const seen = new Set(shownIds());
    const fresh = reminders.filter((r) => !seen.has(r.id));
    if (fresh.length) await words();
    for (const reminder of fresh) {
      remember(reminder.id);
      stack().append(banner(reminder));
    }
    if (reminders.length) {
      await viewerApi("/api/me/reminders/seen", {
        method: "POST", body: { ids: reminders.map((r) => r.id).slice(0, SHOWN_MAX) } });
    }
    return fresh;
  } catch {
    return []; // offline: the next poll tries again
  } finally {
    state.busy = false;
  }
}

function schedule() {
  clearTimeout(state.timer);
  if (!document.hidden) state.timer = setTimeout(tick, POLL_MS);
}

async function tick() {
  await poll();
  schedule();
}

async function arrived() {
  const params = new URLSearchParams(location.search);
  const show = params.get("show");
  if (params.get("from") !== "reminder" || !/^sh_[0-9a-f]{12}$/.test(show || "")) return;
  if (!location.pathname.startsWith("/watch/") || !currentViewer()) return;
  try {
    await viewerApi(`/api/shows/${show}/arrivals`, { method: "POST" });
  } catch {
    // Not counted: nothing for the viewer to do about it.
  }
}

function start() {
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = "/static/shared/reminders.css";
  document.head.append(css);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) tick();
  });
  arrived();
  tick();
  window.stallcastReminders = { state, poll };
}

start();

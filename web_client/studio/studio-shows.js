// The studio's audience-return card (settings pane): the host's followers count, its
// scheduled shows with how many viewers each reminded and how many came back from the
// reminder, and a form to schedule a show in this room (title, start, repeat, channel).
// Self-contained: studio.html carries its container (#studio-shows) and this script tag.
import { catalog } from "../shared/catalog.js";
import { errorText, responseError } from "../shared/errors.js";
import { hostToken } from "./studio-api.js";

const POLL_MS = 15000;
const parts = location.pathname.replace(/\/+$/, "").split("/");
const roomId = parts.length > 2 ? decodeURIComponent(parts.pop()) : "";
const state = { data: null, channels: [], timer: null };
let say = (key) => key;

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${hostToken()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (!resp.ok) throw await responseError(resp);
  return resp.status === 204 ? null : resp.json();
}

function make(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function field(id, label, input) {
  input.id = id;
  return make("div", { className: "field" }, [make("label", { htmlFor: id,
    textContent: say(label) }), input]);
}

function showRow(show) {
  const at = show.next_at ? new Date(show.next_at * 1000).toLocaleString() : say("studio_shows.past");
  const link = make("a", { href: `/shows/${show.show_id}`, textContent: show.title,
    target: "_blank", rel: "noopener" });
  const stats = make("span", { className: "muted", textContent: say("studio_shows.stats", {
    reminded: show.reminded, came: show.from_reminders }) });
  stats.dataset.from = String(show.from_reminders);
  const remove = make("button", { type: "button", textContent: say("studio_shows.remove") });
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    try {
      await call("DELETE", `/api/shows/${show.show_id}`);
    } catch (err) {
      report(errorText(err));
    }
    await refresh();
  });
  const li = make("li", {}, [link, make("span", { textContent: ` · ${at}` }), make("br"), stats,
    remove]);
  li.dataset.show = show.show_id;
  return li;
}

function report(text) {
  const line = document.getElementById("studio-shows-error");
  if (!line) return;
  line.textContent = text;
  line.hidden = !text;
}

async function schedule(form) {
  const data = new FormData(form);
  const starts = new Date(String(data.get("starts_at") || "")).getTime() / 1000;
  const body = { room_id: roomId, title: String(data.get("title") || ""), starts_at: starts,
    repeat: String(data.get("repeat") || "none"), category: String(data.get("category") || "") };
  try {
    await call("POST", "/api/shows", body);
    form.reset();
    report("");
  } catch (err) {
    report(errorText(err));
  }
  await refresh();
}

function form() {
  const repeat = make("select", { name: "repeat" }, ["none", "daily", "weekly"].map(
    (r) => make("option", { value: r, textContent: say(`studio_shows.repeat_${r}`) })));
  const category = make("select", { name: "category" }, [
    make("option", { value: "", textContent: say("studio_shows.no_channel") }),
    ...state.channels.map((c) => make("option", { value: c.slug, textContent: c.name }))]);
  const node = make("form", { className: "studio-shows-form" }, [
    field("show-title", "studio_shows.title", make("input", { name: "title", required: true,
      maxLength: 120 })),
    field("show-start", "studio_shows.start", make("input", { name: "starts_at",
      type: "datetime-local", required: true })),
    field("show-repeat", "studio_shows.repeat", repeat),
    field("show-channel", "studio_shows.channel", category),
    make("button", { type: "submit", textContent: say("studio_shows.schedule") })]);
  node.addEventListener("submit", (event) => {
    event.preventDefault();
    schedule(node);
  });
  return node;
}

function alertLine() {
  const line = make("p", { id: "studio-shows-error", className: "error", hidden: true });
  line.setAttribute("role", "alert");
  return line;
}

function render() {
  const box = document.getElementById("studio-shows");
  if (!box || !state.data) return;
  const mine = state.data.shows.filter((s) => !roomId || s.room_id === roomId);
  const followers = make("p", { id: "studio-followers", textContent: say(
    "studio_shows.followers", { n: state.data.followers }) });
  followers.dataset.count = String(state.data.followers);
  box.replaceChildren(
    make("h3", { textContent: say("studio_shows.heading") }), followers,
    make("ul", { className: "studio-shows-list" }, mine.map(showRow)),
    alertLine(),
    ...(roomId ? [form()] : []));
}

async function refresh() {
  clearTimeout(state.timer);
  try {
    state.data = await call("GET", "/api/host/audience");
    render();
  } catch {
    // Not signed in yet (or offline): look again later.
  }
  if (!document.hidden) state.timer = setTimeout(refresh, POLL_MS);
}

async function main() {
  if (!document.getElementById("studio-shows")) return;
  const css = make("link", { rel: "stylesheet", href: "/static/studio/studio-shows.css" });
  document.head.append(css);
  say = await catalog("shows");
  try {
    state.channels = (await (await fetch("/api/channels")).json()).channels;
  } catch {
    state.channels = [];
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
  await refresh();
  window.stallcastStudioShows = { state, refresh };
}

main();

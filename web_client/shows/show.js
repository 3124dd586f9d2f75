// A scheduled show's page (/shows/{show_id}): when it starts, a countdown, "follow" the
// host, "remind me", the .ics calendar file and the products it will feature. When the
// host goes live the page becomes the live room: it opens /watch/{room_id}.
import { errorText, responseError } from "../shared/errors.js";
import { formatMoney, initI18n, language, languageSwitcher, t, tn } from "../shared/i18n.js";
import { viewerApi, currentViewer } from "../shared/viewer.js";
import { when } from "../front/front-cards.js";

const NAMESPACES = ["shows", "front"];
const POLL_MS = 15000;
const SOON_POLL_MS = 5000; // once the start has come, look more often
const $ = (id) => document.getElementById(id);
const SHOW_ID = location.pathname.split("/").filter(Boolean)[1] || "";
const state = { show: null, timer: null, ticker: null, error: null, redirecting: false };

function countdown(seconds) {
  if (seconds <= 0) return t("shows.starting");
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  const pad = (n) => String(n).padStart(2, "0");
  return d > 0 ? t("shows.in_days", { d, h, m: pad(m) })
    : t("shows.in_time", { time: `${pad(h)}:${pad(m)}:${pad(s)}` });
}

function renderCountdown() {
  const show = state.show;
  if (!show) return;
  if (show.live) {
    $("countdown").textContent = t("shows.live_now");
  } else if (show.next_at == null) {
    $("countdown").textContent = t("shows.ended");
  } else {
    $("countdown").textContent = countdown(show.next_at - Date.now() / 1000);
  }
}

function press(button, on, onKey, offKey, vars = {}) {
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.textContent = t(on ? onKey : offKey, vars);
}

function render() {
  const show = state.show;
  $("show-error").hidden = !state.error;
  if (state.error) $("show-error").textContent = state.error;
  if (!show) return;
  $("show").hidden = false;
  document.title = t("shows.page_title", { title: show.title });
  $("title").textContent = show.title;
  $("host").textContent = tn("shows.host", show.followers, { name: show.host_name });
  $("when").textContent = show.next_at ? when(show.next_at) : "";
  const img = $("cover");
  if (show.cover && img.getAttribute("src") !== show.cover) {
    img.src = show.cover;
    img.hidden = false;
    img.addEventListener("error", () => { img.hidden = true; }, { once: true });
  }
  $("cover-initial").textContent = (show.title || "?").trim().charAt(0).toUpperCase();
  press($("follow"), show.following, "shows.following", "shows.follow", { name: show.host_name });
  press($("remind"), show.asked, "shows.reminder_set", "shows.remind_me");
  $("remind").hidden = show.next_at == null && !show.live;
  $("calendar").href = new URL(show.calendar_url, location.href).pathname;
  $("watch").href = `/watch/${show.room_id}`;
  $("watch").hidden = !show.live;
  $("featured").hidden = show.products.length === 0;
  $("products").replaceChildren(...show.products.map((p) => {
    const li = document.createElement("li");
    const pic = document.createElement("img");
    pic.alt = "";
    if (p.thumb) pic.src = p.thumb;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = p.title;
    const price = document.createElement("span");
    price.textContent = formatMoney(Number(p.price), p.currency);
    li.append(pic, name, price);
    return li;
  }));
  renderCountdown();
}

async function load() {
  clearTimeout(state.timer);
  try {
    const resp = currentViewer() ? await viewerApi(`/api/shows/${SHOW_ID}`)
      : await fetch(`/api/shows/${SHOW_ID}`, { cache: "no-store" });
    if (!resp.ok) throw await responseError(resp);
    state.show = await resp.json();
    state.error = null;
  } catch (err) {
    state.error = errorText(err);
  }
  render();
  const show = state.show;
  if (show && show.live && !state.redirecting) {
    state.redirecting = true; // the show has become the live room
    location.assign(`/watch/${show.room_id}`);
    return;
  }
  const soon = show && show.next_at != null && show.next_at * 1000 <= Date.now() + POLL_MS;
  if (!document.hidden) state.timer = setTimeout(load, soon ? SOON_POLL_MS : POLL_MS);
}

async function toggle(button, path, on) {
  $("action-error").hidden = true;
  button.disabled = true;
  try {
    const resp = await viewerApi(path, { method: on ? "DELETE" : "POST" });
    if (!resp.ok) throw await responseError(resp);
    await load();
  } catch (err) {
    $("action-error").textContent = errorText(err);
    $("action-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function main() {
  await initI18n(NAMESPACES);
  languageSwitcher($("lang"), NAMESPACES, render);
  $("follow").addEventListener("click", () => toggle(
    $("follow"), `/api/hosts/${state.show.host_id}/follow`, state.show.following));
  $("remind").addEventListener("click", () => toggle(
    $("remind"), `/api/shows/${SHOW_ID}/remind`, state.show.asked));
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) load();
  });
  state.ticker = setInterval(renderCountdown, 1000);
  await load();
  window.stallcastShow = { state, load, language };
}

main();

// The front door (/): who is live now and what is coming, from the public GET /api/shows,
// and the ways in: the host studio, the class store, the operator dashboard.
import { initI18n, language, languageSwitcher, t } from "../shared/i18n.js";

const NAMESPACES = ["front"];
const REFRESH_MS = 10000;
const $ = (id) => document.getElementById(id);

const state = { shows: null, timer: null, failed: false };

function locale() {
  const lang = language();
  return lang === "zh" ? "zh-CN" : lang === "ja" ? "ja-JP" : "en";
}

// "Today 19:30", "Tomorrow 08:00" or "Sat 14 Dec 19:30", in the page's language.
export function when(seconds, now = Date.now()) {
  const at = new Date(seconds * 1000);
  const time = new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(at);
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(at) - day(new Date(now))) / 86400000);
  if (days === 0) return t("front.when.today", { time });
  if (days === 1) return t("front.when.tomorrow", { time });
  const date = new Intl.DateTimeFormat(locale(), { weekday: "short", month: "short", day: "numeric" })
    .format(at);
  return t("front.when.later", { date, time });
}

function card(show) {
  const node = $("show-card").content.firstElementChild.cloneNode(true);
  const link = node.querySelector(".show-link");
  // Only our own pages: a watch_url is built by the server, but keep to its path.
  link.href = new URL(show.watch_url, location.href).pathname;
  node.dataset.room = show.room_id;
  const img = node.querySelector("img");
  if (show.thumb) {
    img.src = show.thumb;
    img.hidden = false;
    img.addEventListener("error", () => { img.hidden = true; }, { once: true });
  }
  node.querySelector(".initial").textContent = (show.title || "?").trim().charAt(0).toUpperCase();
  node.querySelector(".live-badge").hidden = !show.live;
  node.querySelector(".live-badge").textContent = t("front.badge.live");
  node.querySelector(".show-title").textContent = show.title;
  node.querySelector(".show-host").textContent = show.host_name
    ? t("front.show.by", { name: show.host_name }) : "";
  const meta = node.querySelector(".show-meta");
  if (show.live) {
    meta.textContent = t("front.show.viewers", { n: show.viewers });
    meta.classList.add("viewers");
  } else if (show.starts_at) {
    const late = show.starts_at * 1000 < Date.now();
    meta.textContent = late ? t("front.show.soon") : when(show.starts_at);
  }
  link.setAttribute("aria-label", show.live
    ? t("front.show.watch_live", { title: show.title, n: show.viewers })
    : t("front.show.upcoming_label", { title: show.title, when: meta.textContent }));
  return node;
}

function render() {
  const shows = state.shows;
  $("shows-error").hidden = !state.failed;
  if (state.failed) $("shows-error").textContent = t("front.error.load");
  if (!shows) return;
  $("live-list").replaceChildren(...shows.live.map(card));
  $("upcoming-list").replaceChildren(...shows.upcoming.map(card));
  $("live-empty").hidden = shows.live.length > 0;
  $("upcoming-empty").hidden = shows.upcoming.length > 0;
  document.title = shows.live.length
    ? t("front.title_live", { n: shows.live.length }) : t("front.title");
}

async function refresh() {
  clearTimeout(state.timer);
  try {
    const resp = await fetch("/api/shows", { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    state.shows = await resp.json();
    state.failed = false;
  } catch {
    state.failed = true;
  }
  render();
  if (!document.hidden) state.timer = setTimeout(refresh, REFRESH_MS);
}

async function main() {
  await initI18n(NAMESPACES);
  languageSwitcher($("lang"), NAMESPACES, render);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
  await refresh();
  window.stallcastFront = { state, refresh };
}

main();

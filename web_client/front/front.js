// The front door (/): who is live now and what is coming, from the public GET /api/shows,
// and the ways in: the host studio, the class store, the operator dashboard.
import { initI18n, languageSwitcher, t } from "../shared/i18n.js";
import { card } from "./front-cards.js";

const NAMESPACES = ["front"];
const REFRESH_MS = 10000;
const $ = (id) => document.getElementById(id);

const state = { shows: null, timer: null, failed: false };

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

// The operators' channels as links to their pages (/channels/{slug}).
async function channels() {
  try {
    const resp = await fetch("/api/channels");
    if (!resp.ok) return;
    const { channels: list } = await resp.json();
    $("channel-list").replaceChildren(...list.map((channel) => {
      const link = document.createElement("a");
      link.className = "channel-chip";
      link.href = `/channels/${encodeURIComponent(channel.slug)}`;
      link.textContent = channel.name;
      return link;
    }));
    $("channel-list").hidden = list.length === 0;
  } catch {
    // No channels shown: the shows below still are.
  }
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
  channels();
  await refresh();
  window.stallcastFront = { state, refresh };
}

main();

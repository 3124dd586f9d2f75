// A channel's page (/channels/{slug}): its live shows first (ranked by viewers and the
// hosts' followers), then its upcoming ones, from GET /api/channels/{slug}.
import { errorText, responseError } from "../shared/errors.js";
import { initI18n, languageSwitcher, t } from "../shared/i18n.js";
import { card } from "../front/front-cards.js";

const NAMESPACES = ["shows", "front"];
const REFRESH_MS = 10000;
const $ = (id) => document.getElementById(id);
const SLUG = location.pathname.split("/").filter(Boolean)[1] || "";
const state = { data: null, error: null, timer: null };

function render() {
  $("channel-error").hidden = !state.error;
  if (state.error) $("channel-error").textContent = state.error;
  const data = state.data;
  if (!data) return;
  $("channel-name").textContent = data.channel.name;
  document.title = t("channels.page_title", { name: data.channel.name });
  $("live-list").replaceChildren(...data.live.map(card));
  $("upcoming-list").replaceChildren(...data.upcoming.map(card));
  $("live-empty").hidden = data.live.length > 0;
  $("upcoming-empty").hidden = data.upcoming.length > 0;
}

async function refresh() {
  clearTimeout(state.timer);
  try {
    const resp = await fetch(`/api/channels/${encodeURIComponent(SLUG)}`, { cache: "no-store" });
    if (!resp.ok) throw await responseError(resp);
    state.data = await resp.json();
    state.error = null;
  } catch (err) {
    state.error = errorText(err);
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
  window.stallcastChannel = { state, refresh };
}

main();

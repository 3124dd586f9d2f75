// The watch page's follow button (#follow-box, its own script tag): follow the host from
// its live room, so its next show reminds this viewer (shared/reminders.js).
import { catalog } from "../shared/catalog.js";
import { errorText, responseError } from "../shared/errors.js";
import { currentViewer, viewerApi } from "../shared/viewer.js";

const roomId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const state = { host: null, busy: false };
let say = (key) => key;

async function load() {
  const path = `/api/rooms/${encodeURIComponent(roomId)}/host`;
  const resp = currentViewer() ? await viewerApi(path) : await fetch(path);
  if (!resp.ok) throw await responseError(resp);
  state.host = await resp.json();
}

function render(button) {
  const host = state.host;
  button.hidden = !host;
  if (!host) return;
  // A round "+" beside the host's name (a phone's top bar has no room for a word); the
  // words are its label: "Follow Lychee grove".
  button.setAttribute("aria-pressed", host.following ? "true" : "false");
  button.firstChild.textContent = host.following ? "✓" : "+";
  button.title = say(host.following ? "watch_follow.following" : "watch_follow.follow",
    { name: host.name });
  button.setAttribute("aria-label", button.title);
}

async function toggle(button) {
  if (state.busy || !state.host) return;
  state.busy = true;
  try {
    const resp = await viewerApi(`/api/hosts/${state.host.host_id}/follow`,
      { method: state.host.following ? "DELETE" : "POST" });
    if (!resp.ok) throw await responseError(resp);
    const body = await resp.json();
    state.host = { ...state.host, following: body.following, followers: body.followers };
    render(button);
  } catch (err) {
    button.title = errorText(err);
  } finally {
    state.busy = false;
  }
}

async function main() {
  const box = document.getElementById("follow-box");
  if (!box || !roomId) return;
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = "/static/watch/watch-follow.css";
  document.head.append(css);
  say = await catalog("shows");
  const button = document.createElement("button");
  button.type = "button";
  button.id = "follow";
  button.className = "follow-button";
  button.hidden = true;
  const mark = document.createElement("span");
  mark.setAttribute("aria-hidden", "true");
  button.append(mark);
  button.addEventListener("click", () => toggle(button));
  box.append(button);
  try {
    await load();
  } catch {
    return; // no host to follow (an unknown room): no button
  }
  render(button);
  window.stallcastFollow = { state };
}

main();

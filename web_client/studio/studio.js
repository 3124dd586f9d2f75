// Stallcast host studio. /studio: sign in with the host token, list and create rooms.
// /studio/{room_id}: go live over WHIP (the #key=<stream key> fragment alone is enough for
// that), and, signed in, sell (products, pinned card, flash sales), handle orders, moderate
// chat and turn finished recordings into classes. Panels live in studio-*.js.

import { initI18n, languageSwitcher, t } from "../shared/i18n.js";
import {
  api, busy, el, every, hostToken, say, sayAgain, setHostToken,
} from "./studio-api.js";
import { ChatPanel } from "./studio-chat.js";
import { RoomFeed } from "./studio-feed.js";
import { LivePanel } from "./studio-live.js";
import { OrdersPanel } from "./studio-orders.js";
import { SellPanel } from "./studio-sell.js";
import { SessionsPanel } from "./studio-sessions.js";

const NAMESPACES = ["studio"];
const AUDIENCE_POLL_MS = 5000;

const $ = (id) => document.getElementById(id);
const stallcast = { pc: null, feedPc: null, events: [], health: null };
window.stallcast = stallcast;

const parts = location.pathname.replace(/\/+$/, "").split("/");
const roomId = parts.length > 2 ? decodeURIComponent(parts.pop()) : "";
stallcast.roomId = roomId;

const page = {
  room: null, // GET /api/rooms/{id} when signed in as its host
  publicRoom: null, // GET /api/rooms/{id}/public
  live: null,
  feed: null,
  sell: null,
  orders: null,
  chat: null,
  sessions: null,
  audience: null,
  rooms: [],
  roomsError: "",
};

function keyFromFragment() {
  return new URLSearchParams(location.hash.slice(1)).get("key") || "";
}

// -- sign in, sign out, rooms ----------------------------------------------------------------
async function signIn(token) {
  // Any host call tells whether the token is good.
  await api("GET", "/api/rooms", undefined, { token });
  setHostToken(token);
  location.reload();
}

function signOut() {
  setHostToken("");
  location.href = "/studio";
}

function renderRooms() {
  const list = $("rooms");
  list.replaceChildren(...page.rooms.map((r) => el("li", { dataset: { roomId: r.room_id } },
    el("div", { className: "item-main" },
      el("a", { className: "item-title", href: `/studio/${encodeURIComponent(r.room_id)}` },
        r.title),
      " ", r.live ? el("span", { className: "badge live" }, t("common.live")) : null,
      el("div", { className: "muted" }, t("studio.rooms.viewersN", { n: r.viewers }))),
    el("div", { className: "item-actions" },
      el("a", { className: "button primary", href: `/studio/${encodeURIComponent(r.room_id)}`,
        "aria-label": t("studio.rooms.openNamed", { title: r.title }) },
      t("studio.rooms.open")),
      el("a", { className: "button", href: `/watch/${encodeURIComponent(r.room_id)}`,
        target: "_blank", rel: "noopener",
        "aria-label": t("studio.rooms.watchNamed", { title: r.title }) },
      t("studio.watchPage"))))));
  if (!page.rooms.length && !page.roomsError) say($("rooms-msg"), "studio.rooms.none", {});
}

async function loadRooms() {
  try {
    const body = await api("GET", "/api/rooms");
    page.rooms = (body.rooms || []).sort((a, b) => b.created_at - a.created_at);
    page.roomsError = "";
  } catch (err) {
    page.roomsError = err.message;
    if (err.status === 401) {
      setHostToken("");
      $("rooms-panel").hidden = true;
      $("signout").hidden = true;
      $("signin-panel").hidden = false;
      say($("signin-msg"), "studio.signIn.expired", {}, "error");
      return;
    }
    say($("rooms-msg"), "studio.failed", { message: err.message }, "error");
  }
  renderRooms();
}

function wireAccount() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    busy($("signin"), $("signin-msg"), async () => {
      try {
        await signIn(token);
      } catch (err) {
        if (err.status === 401) throw new Error(t("studio.signIn.wrong"));
        throw err;
      }
    });
  });
  $("signout").addEventListener("click", signOut);
  $("room-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const title = $("room-title").value.trim();
    if (!title) return;
    busy($("room-create"), $("rooms-msg"), async () => {
      const room = await api("POST", "/api/rooms", { title });
      location.href = `/studio/${encodeURIComponent(room.room_id)}`;
    });
  });
}

// -- the room --------------------------------------------------------------------------------
function showTitle() {
  const title = (page.room && page.room.title) || (page.publicRoom && page.publicRoom.title);
  $("title").textContent = title ? t("studio.headingRoom", { title }) : t("studio.heading");
  document.title = title ? t("studio.documentTitleRoom", { title }) : t("studio.documentTitle");
}

async function loadRoom(signedIn) {
  const enc = encodeURIComponent(roomId);
  if (signedIn) {
    try {
      page.room = await api("GET", `/api/rooms/${enc}`);
    } catch (err) {
      if (err.status === 401) {
        setHostToken("");
        say($("page-msg"), "studio.signIn.expired", {}, "error");
      } else if (err.status === 403) {
        say($("page-msg"), "studio.room.notYours", {}, "error");
      } else if (err.status === 404) {
        return false;
      } else {
        say($("page-msg"), "studio.failed", { message: err.message }, "error");
      }
    }
  }
  try {
    const resp = await fetch(`/api/rooms/${enc}/public`);
    if (resp.status === 404) return false;
    if (resp.ok) page.publicRoom = await resp.json();
  } catch {
    // The title is a nicety; going live does not depend on it.
  }
  return true;
}

function liveElements() {
  return {
    preview: $("preview"), previewNote: $("preview-note"), form: $("controls"),
    camera: $("camera"), mic: $("mic"), keyField: $("key-field"), key: $("key"),
    golive: $("golive"), stop: $("stop"), status: $("status"), health: $("health"),
    healthLevel: $("health-level"), hBitrate: $("h-bitrate"), hFps: $("h-fps"),
    hSize: $("h-size"), hLoss: $("h-loss"), hRtt: $("h-rtt"),
  };
}

function sellElements() {
  return {
    productForm: $("product-form"), productLegend: $("product-legend"),
    productSave: $("product-save"), productCancel: $("product-cancel"),
    productMsg: $("product-msg"), products: $("products"), title: $("p-title"),
    price: $("p-price"), currency: $("p-currency"), stock: $("p-stock"), limit: $("p-limit"),
    image: $("p-image"), saleForm: $("sale-form"), saleProduct: $("s-product"),
    salePrice: $("s-price"), saleQty: $("s-qty"), saleStartIn: $("s-start"),
    saleDuration: $("s-duration"), saleStart: $("sale-start"), saleMsg: $("sale-msg"),
    sales: $("sales"),
  };
}

/** Viewers and session figures of this room's live session (GET /api/ops/sessions). */
async function loadAudience() {
  const body = await api("GET", "/api/ops/sessions");
  const mine = (body.sessions || []).find((s) => s.room_id === roomId);
  page.audienceFigures = mine ? mine.figures : null;
  renderAudience();
}

function renderAudience() {
  const f = page.audienceFigures;
  // The studio's own events connection carries the host's token, so the server leaves it
  // out of the audience.
  $("viewers-now").textContent = f ? String(f.viewers) : "–";
  $("viewers-peak").textContent = f ? String(f.peak_viewers) : "–";
  $("session-orders").textContent = f ? String(f.orders) : "–";
  $("likes").textContent = page.feed ? String(page.feed.likes) : "–";
}

function onFeedChange(what) {
  if (what === "chat" || what === "chat_deleted" || what === "viewer_muted" ||
      what === "snapshot") page.chat.render();
  if (what !== "chat" && what !== "likes") page.sell.render();
  renderAudience();
}

async function openRoom() {
  const signedIn = Boolean(hostToken());
  $("room-view").hidden = false;
  $("rooms-link").hidden = !signedIn;
  const watch = $("watch-link");
  watch.href = `/watch/${encodeURIComponent(roomId)}`;
  watch.hidden = false;
  const key = $("key");
  key.value = keyFromFragment();
  // Signed in, the key comes with the room: keep the field hidden while it loads.
  $("key-field").hidden = signedIn || Boolean(key.value);
  window.addEventListener("hashchange", () => {
    const k = keyFromFragment();
    if (k && !page.live.session) key.value = k;
  });
  page.live = new LivePanel(liveElements(), {
    roomId, stallcast, getKey: () => key.value.trim(),
    onState: (kind) => {
      if (kind === "ended" && page.sessions) page.sessions.soon();
      if (page.audience && (kind === "live" || kind === "ended")) page.audience.now();
    },
  });
  page.live.startPreview().catch(() => {});
  if (!(await loadRoom(signedIn))) {
    say($("page-msg"), "studio.room.missing", {}, "error");
    page.missing = true;
  }
  if (!key.value && page.room) key.value = page.room.stream_key;
  $("key-field").hidden = Boolean(key.value);
  showTitle();
  if (!hostToken() || !page.room) {
    // Going live comes first here; signing in (to sell and see orders) sits beside it.
    $("live-panel").after($("signin-panel"));
    $("signin-panel").hidden = Boolean(hostToken());
    return;
  }
  for (const id of ["chat-panel", "products-panel", "sales-panel", "orders-panel",
    "sessions-panel", "audience"]) $(id).hidden = false;
  page.feed = new RoomFeed(roomId, { onChange: onFeedChange, stallcast });
  stallcast.feed = page.feed;
  page.sell = new SellPanel(sellElements(), { roomId, feed: page.feed });
  page.chat = new ChatPanel({ list: $("chat"), empty: $("chat-empty"), msg: $("chat-msg") },
    { roomId, feed: page.feed });
  page.orders = new OrdersPanel({ list: $("orders"), empty: $("orders-empty"),
    msg: $("orders-msg"), count: $("orders-count"), csv: $("orders-csv"),
    csvLink: $("orders-csv-link"), more: $("orders-more") }, { roomId });
  page.sessions = new SessionsPanel({ list: $("sessions"), empty: $("sessions-empty"),
    msg: $("sessions-msg") }, { roomId });
  page.sell.load().catch((err) => say($("product-msg"), "studio.failed",
    { message: err.message }, "error"));
  page.orders.start();
  page.sessions.start();
  page.audience = every(AUDIENCE_POLL_MS, loadAudience);
}

function rerender() {
  showTitle();
  sayAgain();
  if (page.live) page.live.render();
  if (page.sell) page.sell.render();
  if (page.chat) page.chat.render();
  if (page.orders) page.orders.render();
  if (page.sessions) page.sessions.render();
  if (page.feed) renderAudience();
  if (!roomId && hostToken()) renderRooms();
}

async function main() {
  await initI18n(NAMESPACES);
  languageSwitcher($("lang"), NAMESPACES, rerender);
  wireAccount();
  const signedIn = Boolean(hostToken());
  $("signout").hidden = !signedIn;
  if (roomId) {
    await openRoom();
    $("signout").hidden = !hostToken(); // an expired token was dropped meanwhile
    $("rooms-link").hidden = !hostToken();
  } else if (signedIn) {
    $("rooms-panel").hidden = false;
    showTitle();
    await loadRooms();
  } else {
    $("signin-panel").hidden = false;
    showTitle();
    $("token").focus();
  }
  document.body.dataset.ready = "1";
}

main();

// Stallcast host studio. /studio: sign in with the host token, list and create rooms.
// /studio/{room_id}: the phone's live console: the camera full screen, go live over WHIP
// (the #key=<stream key> fragment alone is enough for that; #signin=<host token> signs this
// browser in), the product chips to pin and start flash sales from, and the management
// panels (catalogue, sales, orders, chat, replays, settings) behind tabs in a sheet.

import { initI18n, languageSwitcher, t } from "../shared/i18n.js";
import {
  api, busy, el, every, hostToken, say, sayAgain, setHostToken,
} from "./studio-api.js";
import { Catalog } from "./studio-catalog.js";
import { AuctionPanel } from "./studio-auction.js";
import { ChatPanel } from "./studio-chat.js";
import { CouponsPanel } from "./studio-coupons.js";
import { RoomFeed } from "./studio-feed.js";
import { LivePanel } from "./studio-live.js";
import { OrdersPanel } from "./studio-orders.js";
import { SellPanel } from "./studio-sell.js";
import { SessionsPanel } from "./studio-sessions.js";
import { ManageSheet, wireModals } from "./studio-sheet.js";
import { Ticker } from "./studio-ticker.js";

const NAMESPACES = ["studio"];
const AUDIENCE_POLL_MS = 5000;
const ROOM_POLL_MS = 4000;

const $ = (id) => document.getElementById(id);
const stallcast = { pc: null, feedPc: null, events: [], health: null };
window.stallcast = stallcast;

// The sign-in handoff: a link carrying the host token in its fragment (never sent to the
// server) signs this browser in once; the fragment leaves the address bar at once.
(() => {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("signin");
  if (!token) return;
  setHostToken(token.trim());
  params.delete("signin");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
})();

const parts = location.pathname.replace(/\/+$/, "").split("/");
const roomId = parts.length > 2 ? decodeURIComponent(parts.pop()) : "";
stallcast.roomId = roomId;

const page = {
  room: null, // GET /api/rooms/{id} when signed in as its host
  publicRoom: null, // GET /api/rooms/{id}/public
  live: null, feed: null, catalog: null, sell: null, orders: null, chat: null,
  sessions: null, audience: null, ticker: null, sheet: null,
  rooms: [],
  roomsError: "",
};

function keyFromFragment() {
  return new URLSearchParams(location.hash.slice(1)).get("key") || "";
}

/** A short line over the picture (or on the account pages), gone after a few seconds. */
function toast(key, vars = {}, kind = "") {
  const node = roomId ? $("toast") : $("page-msg");
  say(node, key, vars, kind);
  clearTimeout(toast.timer);
  if (roomId) toast.timer = setTimeout(() => { node.textContent = ""; }, 4000);
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
  $("signout-room").addEventListener("click", signOut);
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
        toast("studio.signIn.expired", {}, "error");
      } else if (err.status === 403) {
        toast("studio.room.notYours", {}, "error");
      } else if (err.status === 404) {
        return false;
      } else {
        toast("studio.failed", { message: err.message }, "error");
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

/** Is the room live now, and with what session (for the takeover check)? */
async function roomLive() {
  const enc = encodeURIComponent(roomId);
  if (page.room) {
    const view = await api("GET", `/api/rooms/${enc}`);
    return { live: Boolean(view.live), session: view.session || null };
  }
  const resp = await fetch(`/api/rooms/${enc}/public`, { cache: "no-store" });
  const body = resp.ok ? await resp.json() : {};
  return { live: Boolean(body.live), session: null };
}

/** Signed in: who is live in this room, so a second device sees it instead of "offline". */
async function pollRoom() {
  if (!page.live || page.live.session) return;
  const asked = performance.now();
  const view = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}`);
  page.room = { ...page.room, ...view };
  page.live.setRemote(view.live ? (view.session || {}) : null, asked);
}

function liveElements() {
  const ids = {
    preview: "preview", previewNote: "preview-note", camera: "camera", mic: "mic",
    keyField: "key-field", key: "key", golive: "golive", stop: "stop", flip: "flip",
    mute: "mute", status: "status", health: "health", healthLevel: "health-level",
    hBitrate: "h-bitrate", hFps: "h-fps", hSize: "h-size", hCodec: "h-codec", hLoss: "h-loss",
    hRtt: "h-rtt", remote: "remote-live", remoteFacts: "remote-facts",
  };
  return Object.fromEntries(Object.entries(ids).map(([k, id]) => [k, $(id)]));
}

function catalogElements() {
  const ids = {
    form: "product-form", legend: "product-legend", save: "product-save",
    cancel: "product-cancel", msg: "product-msg", list: "products", title: "p-title",
    desc: "p-desc", price: "p-price", currency: "p-currency", stock: "p-stock",
    limit: "p-limit", ship: "p-ship", shipBy: "p-shipby", image: "p-image", file: "p-file", photo: "p-photo",
    variants: "variants", variantAdd: "variant-add", archived: "archived",
    archivedBox: "archived-box",
  };
  return Object.fromEntries(Object.entries(ids).map(([k, id]) => [k, $(id)]));
}

function sellElements() {
  const ids = {
    chips: "chips", sheet: "sale-sheet", saleForm: "sale-form", saleProduct: "s-product",
    salePrice: "s-price", saleQty: "s-qty", saleStartIn: "s-start", saleDuration: "s-duration",
    saleLimit: "s-limit", saleStart: "sale-start", saleCancel: "sale-cancel",
    sheetMsg: "sale-sheet-msg", saleMsg: "sale-msg", sales: "sales", saleNew: "sale-new",
  };
  return Object.fromEntries(Object.entries(ids).map(([k, id]) => [k, $(id)]));
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
  const told = page.feed && typeof page.feed.viewers === "number" ? page.feed.viewers : null;
  const now = f ? f.viewers : told;
  $("viewers-now").textContent = now === null ? "–" : String(now);
  $("audience-pill").setAttribute("aria-label", now === null ? t("studio.audience.now")
    : t("studio.audience.nowN", { n: now }));
  $("viewers-peak").textContent = f ? String(f.peak_viewers) : "–";
  $("session-orders").textContent = f ? String(f.orders) : "–";
  $("likes").textContent = page.feed ? String(page.feed.likes) : "–";
}

function onFeedChange(what) {
  if (["chat", "chat_deleted", "viewer_muted", "viewer_unmuted", "chat_pinned",
    "chat_unpinned", "snapshot"].includes(what)) page.chat.render();
  if (what === "chat" || what === "snapshot") page.ticker.chats(page.feed.chat);
  if (what === "host_left" && page.feed.hostLeftReason === "takeover") page.live.takenOver();
  if (what === "audience" && page.audienceFigures) {
    page.audienceFigures = { ...page.audienceFigures, viewers: page.feed.viewers };
  }
  if (!["chat", "likes", "audience"].includes(what)) page.sell.render();
  renderAudience();
}

function setUpPanels() {
  page.feed = new RoomFeed(roomId, { onChange: onFeedChange, stallcast });
  stallcast.feed = page.feed;
  const room = `/api/rooms/${encodeURIComponent(roomId)}`;
  page.catalog = new Catalog(catalogElements(), { feed: page.feed, room });
  page.sell = new SellPanel(sellElements(), { roomId, feed: page.feed, catalog: page.catalog,
    toast });
  page.chat = new ChatPanel({
    list: $("chat"), empty: $("chat-empty"), msg: $("chat-msg"), form: $("chat-form"),
    text: $("chat-text"), send: $("chat-send"), pinned: $("chat-pinned"), mutes: $("mutes"),
    mutesEmpty: $("mutes-empty"), filterForm: $("filter-form"), filterWords: $("filter-words"),
    filterSave: $("filter-save"),
  }, { roomId, feed: page.feed });
  page.orders = new OrdersPanel({ list: $("orders"), empty: $("orders-empty"),
    msg: $("orders-msg"), count: $("orders-count"), csv: $("orders-csv"),
    csvLink: $("orders-csv-link"), more: $("orders-more") },
  { roomId, onArrived: (orders) => orders.forEach((o) => page.ticker.order(o)) });
  page.sessions = new SessionsPanel({ list: $("sessions"), empty: $("sessions-empty"),
    msg: $("sessions-msg") }, { roomId });
  page.catalog.load().catch((err) => say($("product-msg"), "studio.failed",
    { message: err.message }, "error"));
  page.chat.load();
  page.orders.start();
  page.sessions.start();
  page.coupons = new CouponsPanel($("coupons-box"), { roomId });
  page.coupons.start();
  page.auction = new AuctionPanel($("auction-box"), { roomId, catalog: page.catalog });
  page.auction.start();
  page.audience = every(AUDIENCE_POLL_MS, loadAudience);
  page.roomPoll = every(ROOM_POLL_MS, pollRoom);
}

async function openRoom() {
  document.body.classList.add("room");
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
  wireModals();
  page.ticker = new Ticker($("ticker"));
  page.sheet = new ManageSheet();
  page.live = new LivePanel(liveElements(), {
    roomId, stallcast, getKey: () => key.value.trim(), roomLive,
    onState: (kind) => {
      if (kind === "ended" && page.sessions) page.sessions.soon();
      if (page.audience && (kind === "live" || kind === "ended")) page.audience.now();
      $("audience-pill").hidden = !["live", "connecting"].includes(kind);
    },
  });
  page.live.startPreview().catch(() => {});
  if (!(await loadRoom(signedIn))) {
    toast("studio.room.missing", {}, "error");
    page.missing = true;
  }
  if (!key.value && page.room) key.value = page.room.stream_key;
  $("key-field").hidden = Boolean(key.value);
  showTitle();
  if (!hostToken() || !page.room) {
    // Going live comes first here; signing in (to sell and see orders) is in the sheet.
    $("chips").hidden = true;
    if (!hostToken()) page.sheet.signInOnly($("signin-panel"));
    else $("manage-open").hidden = true;
    return;
  }
  setUpPanels();
}

function rerender() {
  showTitle();
  sayAgain();
  if (page.live) page.live.render();
  if (page.sell) page.sell.render();
  if (page.chat) page.chat.render();
  if (page.orders) page.orders.render();
  if (page.sessions) page.sessions.render();
  if (page.ticker) page.ticker.render();
  if (page.feed) renderAudience();
  if (!roomId && hostToken()) renderRooms();
}

async function main() {
  await initI18n(NAMESPACES);
  languageSwitcher($("lang"), NAMESPACES, rerender);
  wireAccount();
  const signedIn = Boolean(hostToken());
  $("signout").hidden = !signedIn || Boolean(roomId);
  if (roomId) {
    await openRoom();
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

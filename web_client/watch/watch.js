// Stallcast viewer player: /watch/{room_id}, full screen and vertical. Plays the room over
// WHEP (muted at first, with a tap-to-unmute button; a portrait stream fills a portrait
// screen, a landscape one fits), follows the room's events on the "events" data channel (host live or
// gone, product card, flash sale, chat, likes, the viewer's own orders), buys, chats and likes
// on the same channel, and reconnects by itself after a network drop.
//
// Modules: watch-conn.js (WHEP connection and reconnects), watch-room.js (room state and
// sequence numbers), watch-shop.js (card, sale banner), watch-checkout.js (the buy sheet),
// watch-orders.js (the viewer's orders), watch-chat.js (chat, nickname, likes),
// watch-share.js (link, share sheet, QR code) and watch-format.js (money, countdowns).

import { initI18n, languageSwitcher, t, tn } from "../shared/i18n.js";
import { errorText } from "../shared/errors.js";
import { Connection } from "./watch-conn.js";
import { Room } from "./watch-room.js";
import { createShop } from "./watch-shop.js";
import { createCheckout } from "./watch-checkout.js";
import { createOrders } from "./watch-orders.js";
import { createChat } from "./watch-chat.js";
import { createShare } from "./watch-share.js";
import { createAuction } from "./watch-auction.js";
import { createCoupons } from "./watch-coupons.js";
import { currentViewer, viewerApi as api, viewerToken } from "../shared/viewer.js";

const NAMESPACES = ["watch"];
const MAX_EVENTS = 1000; // window.stallcast.events keeps the latest this many

const $ = (id) => document.getElementById(id);
const els = {
  stage: $("stage"), tapLayer: $("tap-layer"), hearts: $("hearts"), avatar: $("avatar"),
  viewers: $("viewers"), stageText: $("stage-text"), replayLink: $("replay-link"),
  cardStock: $("card-stock"), cardLimit: $("card-limit"), saleBar: $("sale-bar"),
  variants: $("variants"), variantList: $("variant-list"), qtyMinus: $("qty-minus"),
  qtyPlus: $("qty-plus"), qtyHint: $("qty-hint"), checkoutSubtotal: $("checkout-subtotal"),
  checkoutShipping: $("checkout-shipping"), checkoutPayment: $("checkout-payment"),
  ordersOpen: $("orders-open"), ordersSheet: $("orders-sheet"), ordersClose: $("orders-close"),
  chatPinned: $("chat-pinned"), nick: $("nick"), nickForm: $("nick-form"),
  nickInput: $("nick-input"), nickStatus: $("nick-status"), nickSave: $("nick-save"),
  nickCancel: $("nick-cancel"), share: $("share"), shareSheet: $("share-sheet"),
  shareUrl: $("share-url"), shareQr: $("share-qr"), shareStatus: $("share-status"),
  shareCopy: $("share-copy"), shareNative: $("share-native"), shareClose: $("share-close"),
  title: $("title"), liveBadge: $("live-badge"), lang: $("lang"),
  video: $("video"), unmute: $("unmute"), stageNote: $("stage-note"), status: $("status"),
  sale: $("sale"), saleTitle: $("sale-title"), salePrice: $("sale-price"),
  saleListPrice: $("sale-list-price"), saleStock: $("sale-stock"),
  saleCountdown: $("sale-countdown"), saleBuy: $("sale-buy"),
  card: $("card"), cardImage: $("card-image"), cardOpen: $("card-open"),
  cardTitle: $("card-title"), cardPrice: $("card-price"), cardListPrice: $("card-list-price"),
  cardDescription: $("card-description"), buy: $("buy"),
  checkout: $("checkout"), checkoutForm: $("checkout-form"), checkoutItem: $("checkout-item"),
  quantity: $("quantity"), checkoutTotal: $("checkout-total"),
  contactSummary: $("contact-summary"), contactText: $("contact-text"),
  contactChange: $("contact-change"), contactFields: $("contact-fields"),
  name: $("buyer-name"), phone: $("buyer-phone"), address: $("buyer-address"),
  checkoutStatus: $("checkout-status"), placeOrder: $("place-order"),
  checkoutCancel: $("checkout-cancel"), shopStatus: $("shop-status"), orders: $("orders"),
  shop: $("shop"), chatEmpty: $("chat-empty"),
  chatList: $("chat-list"), chatForm: $("chat-form"), chatInput: $("chat-input"),
  chatSend: $("chat-send"), chatNote: $("chat-note"), like: $("like"), likes: $("likes"),
};

const roomId = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop() || "");
const whepUrl = new URL(`/whep/${encodeURIComponent(roomId)}`, location.href).href;

/** For tests and debugging. */
const stallcast = { pc: null, events: [], statusLog: [], reconnects: 0, resyncs: 0 };
window.stallcast = stallcast;

const ui = {
  connState: "connecting",
  fatal: null, // what stops the page: { key } of a message (no such room), or { error } (refused)
  framesSeen: false,
  roomTitle: "",
  hostName: "",
};

// -- status -----------------------------------------------------------------------------------

function statusNow(room) {
  if (ui.fatal) {
    const message = ui.fatal.key ? t(ui.fatal.key) : errorText(ui.fatal.error);
    return ["error", t("watch.status.error", { message })];
  }
  if (room.ended) return ["ended", t("watch.status.ended")];
  if (ui.connState === "reconnecting") return ["reconnecting", t("watch.status.reconnecting")];
  if (room.hostLeft) return ["left", t("watch.status.left")];
  if (room.live === false) return ["waiting", t("watch.status.waiting")];
  if (ui.framesSeen) return ["live", t("watch.status.live")];
  return ["connecting", t("watch.status.connecting")];
}

const NOTES = {
  ended: "watch.stage.ended", reconnecting: "watch.stage.reconnecting", left: "watch.stage.left",
  waiting: "watch.stage.waiting", error: "watch.stage.error",
};

function renderStatus() {
  const [kind, text] = statusNow(room);
  if (els.status.textContent !== text) els.status.textContent = text;
  if (els.status.dataset.state !== kind) {
    els.status.dataset.state = kind;
    stallcast.statusLog.push(kind);
  }
  const note = NOTES[kind];
  els.stageNote.hidden = !note;
  els.stageNote.dataset.state = kind;
  const replay = kind === "ended" && room.replayUrl ? room.replayUrl : "";
  if (note) els.stageText.textContent = t(replay ? "watch.stage.endedReplay" : note);
  els.replayLink.hidden = !replay;
  if (replay) {
    if (els.replayLink.getAttribute("href") !== replay) els.replayLink.href = replay;
    els.replayLink.textContent = t("watch.replay.link");
  }
  const live = room.live === true && !ui.fatal;
  els.liveBadge.textContent = live ? t("common.live") : t("common.offline");
  els.liveBadge.classList.toggle("live", live);
  els.viewers.textContent = typeof room.viewers === "number"
    ? tn("common.viewerCount", room.viewers) : "";
  els.title.textContent = ui.roomTitle || t("watch.title");
  const who = ui.hostName || ui.roomTitle || t("watch.host.unknown");
  els.avatar.textContent = [...who.trim()][0]?.toUpperCase() || "";
  document.title = t("watch.pageTitle", { title: ui.roomTitle || t("watch.title") });
  els.unmute.textContent = els.video.muted ? t("watch.unmute") : t("watch.mute");
  els.unmute.hidden = kind === "ended" || kind === "error";
}

function render() {
  renderStatus();
  shop.render();
  checkout.render();
  chat.render();
  stallcast.seq = room.seq;
  stallcast.resyncs = room.resyncs;
}

// -- the room, the connection and the panels -------------------------------------------------

async function httpSnapshot() {
  const resp = await fetch(`/api/rooms/${encodeURIComponent(roomId)}/state`);
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  return resp.json();
}

async function requestSnapshot() {
  try {
    const reply = await conn.request({ type: "snapshot" }, 4000);
    if (reply.type === "snapshot" && reply.snapshot) return reply.snapshot;
  } catch {
    // The channel is down or slow: ask over HTTP.
  }
  return httpSnapshot();
}

const room = new Room({ requestSnapshot, onChange: () => render() });
stallcast.room = room;

const conn = new Connection({
  url: whepUrl,
  video: els.video,
  token: viewerToken,
  onPc: (pc) => { stallcast.pc = pc; },
  onEvent: (message) => {
    if (message.type !== "pong") stallcast.events.push(message); // keep-alive replies aside
    if (stallcast.events.length > MAX_EVENTS) stallcast.events.shift();
    room.handle(message);
    orders.onMessage(message);
    auction.onMessage(message);
    coupons.onMessage(message);
  },
  onState: (state, error) => {
    ui.connState = state;
    stallcast.connState = state;
    stallcast.reconnects = conn.reconnects;
    if (state === "open") {
      room.connectionOpened();
      if (conn.reconnects > 0) orders.load();
    }
    if (state === "failed") {
      ui.fatal = error && error.status === 404 ? { key: "watch.error.noRoom" }
        : { error };
    }
    render();
  },
});
stallcast.conn = conn;

const orders = createOrders({ els, api, roomId });
const coupons = createCoupons({ room, conn, api, roomId });
const checkout = createCheckout({ els, room, conn, api, orders, coupons });
const shop = createShop({ els, room, conn, checkout });
const chat = createChat({ els, room, conn, api });
createShare({ els, title: () => ui.roomTitle });
const auction = createAuction({ conn, roomId });
stallcast.orders = orders.all;

// -- video ------------------------------------------------------------------------------------

function markFramesSeen() {
  if (ui.framesSeen) return;
  ui.framesSeen = true;
  render();
}

if ("requestVideoFrameCallback" in els.video) {
  els.video.requestVideoFrameCallback(() => markFramesSeen());
}
els.video.addEventListener("timeupdate", () => {
  if (els.video.currentTime > 0 && els.video.videoWidth > 0) markFramesSeen();
});

// A portrait stream on a portrait stage fills it (cover); anything else fits (contain).
function fit() {
  const { videoWidth: w, videoHeight: h } = els.video;
  const shape = !w || !h ? "none" : w < h ? "portrait" : "landscape";
  const box = els.stage.getBoundingClientRect();
  const fill = shape === "portrait" && box.height > box.width ? "cover" : "contain";
  if (els.stage.dataset.video !== shape) els.stage.dataset.video = shape;
  if (els.stage.dataset.fit !== fill) els.stage.dataset.fit = fill;
  stallcast.fit = fill;
}
els.video.addEventListener("resize", fit);
els.video.addEventListener("loadedmetadata", fit);
new ResizeObserver(fit).observe(els.stage);
els.unmute.addEventListener("click", () => {
  els.video.muted = !els.video.muted;
  els.video.play().catch(() => {});
  renderStatus();
});
els.video.addEventListener("volumechange", () => renderStatus());

window.addEventListener("pagehide", () => conn.close());
setInterval(() => shop.tick(), 250);

/** Title and live flag; false when the room does not exist. */
async function loadRoom() {
  try {
    const resp = await fetch(`/api/rooms/${encodeURIComponent(roomId)}/public`);
    if (resp.status === 404) {
      ui.fatal = { key: "watch.error.noRoom" };
      return false;
    }
    if (resp.ok) {
      const info = await resp.json();
      ui.roomTitle = info.title || "";
      ui.hostName = info.host_name || "";
      if (room.live === null) room.live = Boolean(info.live);
    }
  } catch {
    // Network hiccup: try playback anyway; the connection reports its own errors.
  }
  return true;
}

const [, exists] = await Promise.all([initI18n(NAMESPACES), loadRoom(), viewerToken()]);
languageSwitcher(els.lang, NAMESPACES, () => {
  checkout.languageChanged();
  orders.languageChanged();
  chat.languageChanged();
  coupons.render();
  render();
});
Object.defineProperty(stallcast, "viewerId", { get: () => currentViewer()?.viewer_id ?? null });
render();
if (exists) {
  conn.start();
  checkout.loadKnown();
  coupons.load();
}

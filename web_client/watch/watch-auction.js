// The player's live auction panel and prize sheet: the current bid, who holds it (nickname),
// a countdown to the end (it moves when a late bid extends it), and a bid button with the
// next valid amount, sent as a `bid` on the data channel (docs/events.md). When this viewer
// wins an auction or a giveaway, a sheet asks for its address and accepts the reserved
// order (POST /api/me/orders/{id}/accept). A priced prize paid by transfer stays reserved
// after that until the host confirms the payment: the sheet says how to pay and by when
// (the order's `payment`, as the checkout shows it). Phone-first: one line of the lower area.
//
// State comes from the welcome's snapshot, then auction_* events; bursts of bids arrive
// coalesced and carry absolute values, so the panel keeps the one with the most bids.

import { language, t } from "../shared/i18n.js";
import { errorText, responseError } from "../shared/errors.js";
import { viewerApi } from "../shared/viewer.js";
import { clock, money } from "./watch-format.js";

const TICK_MS = 250;

function el(tag, cls, attrs = {}) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function addStyles() {
  if (document.querySelector("link[data-auction-css]")) return;
  const link = el("link", "", { rel: "stylesheet", href: "/static/watch/watch-auction.css",
    "data-auction-css": "" });
  document.head.append(link);
}

/** How to pay a prize order still waiting for its payment ("" when there is nothing to pay). */
function payText(order) {
  const p = order && order.payment;
  if (!p || p.method !== "transfer" || order.status !== "reserved") return "";
  return t("watch.order.payTransfer", { amount: money(p.amount, p.currency),
    reference: p.reference, before: new Date(p.pay_before * 1000).toLocaleTimeString(language()) });
}

/** A won prize this viewer has not answered yet (an accepted one has its address). */
function unanswered(order) {
  return Boolean(order && order.prize && order.status === "reserved" && !order.address);
}

/** The prize sheet: where to send what this viewer won. */
function prizeSheet(onDone) {
  const sheet = el("dialog", "sheet", { id: "prize-sheet", "aria-labelledby": "prize-title" });
  const form = el("form", "", { novalidate: "" });
  const title = el("h2", "", { id: "prize-title" });
  const item = el("p", "", { id: "prize-item" });
  const pay = el("p", "", { id: "prize-pay" });
  const fields = {};
  form.append(el("div", "grip", { "aria-hidden": "true" }), title, item, pay);
  for (const [name, kind, auto] of [["name", "input", "name"], ["phone", "input", "tel"],
    ["address", "textarea", "street-address"]]) {
    const label = el("label", "", { for: `prize-${name}` });
    label.dataset.key = `watch.prize.${name}`;
    const input = el(kind, "", { id: `prize-${name}`, name, autocomplete: auto, required: "" });
    if (name === "phone") input.type = "tel";
    fields[name] = input;
    form.append(label, input);
  }
  const status = el("p", "", { id: "prize-status", role: "status", "aria-live": "polite" });
  const actions = el("div", "actions");
  const accept = el("button", "primary", { id: "prize-accept", type: "submit" });
  const later = el("button", "", { id: "prize-later", type: "button" });
  actions.append(accept, later);
  form.append(status, actions);
  sheet.append(form);
  document.body.append(sheet);
  let order = null;
  later.addEventListener("click", () => sheet.close());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!order) return;
    accept.disabled = true;
    status.textContent = t("watch.prize.sending");
    const contact = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.value]));
    try {
      const resp = await viewerApi(`/api/me/orders/${encodeURIComponent(order.order_id)}/accept`,
        { method: "POST", body: { contact } });
      if (!resp.ok) throw await responseError(resp);
      const done = await resp.json();
      onDone(done);
      if (done.status === "reserved") { // held until paid: the sheet says what comes next
        status.textContent = `${t("watch.prize.held", { title: done.product_title })} ${payText(done)}`;
        accept.hidden = true;
        later.textContent = t("watch.prize.ok");
      } else {
        status.textContent = "";
        sheet.close();
      }
    } catch (err) {
      status.textContent = errorText(err);
    } finally {
      accept.disabled = false;
    }
  });
  return {
    open(next) {
      order = next;
      title.textContent = t("watch.prize.title");
      item.textContent = t("watch.prize.item", { title: next.product_title,
        price: money(next.total ?? next.unit_price, next.currency) });
      for (const label of form.querySelectorAll("label[data-key]")) {
        label.textContent = t(label.dataset.key);
      }
      pay.textContent = payText(next);
      pay.hidden = !pay.textContent;
      if (pay.textContent) pay.textContent = `${t("watch.prize.payNext")} ${pay.textContent}`;
      accept.textContent = t(payText(next) ? "watch.prize.acceptPay" : "watch.prize.accept");
      later.textContent = t("watch.prize.later");
      status.textContent = "";
      accept.hidden = false;
      if (!sheet.open) sheet.showModal();
    },
  };
}

export function createAuction({ conn, roomId }) {
  addStyles();
  const lower = document.querySelector(".lower") || document.body;
  const panel = el("section", "auction", { id: "auction", "aria-labelledby": "auction-title" });
  panel.hidden = true;
  const head = el("div", "auction-head");
  const badge = el("span", "auction-badge", { id: "auction-title" });
  const title = el("span", "", { id: "auction-item" });
  const countdown = el("span", "", { id: "auction-countdown", role: "timer" });
  head.append(badge, title, countdown);
  const body = el("div", "auction-body");
  const current = el("span", "", { id: "auction-current", "aria-live": "polite" });
  const leader = el("span", "", { id: "auction-leader" });
  const bid = el("button", "", { id: "auction-bid", type: "button" });
  body.append(current, leader, bid);
  const note = el("p", "auction-note", { id: "auction-note", role: "status" });
  const won = el("button", "primary", { id: "auction-won", type: "button" });
  won.hidden = true;
  panel.append(head, body, note, won);
  lower.prepend(panel);

  const state = { auction: null, offset: 0, mine: 0, note: "", sending: false, prize: null };
  const sheet = prizeSheet((order) => {
    state.prize = null;
    state.note = order.status === "reserved"
      ? `${t("watch.prize.held", { title: order.product_title })} ${payText(order)}`
      : t("watch.prize.done", { title: order.product_title });
    render();
  });

  function take(auction, ts) {
    if (!auction || typeof auction !== "object") return;
    const cur = state.auction;
    if (cur && cur.auction_id === auction.auction_id && cur.bid_count > auction.bid_count
        && cur.status === auction.status) return; // an older coalesced state
    if (!cur || cur.auction_id !== auction.auction_id) state.mine = 0;
    state.auction = { ...auction };
    const serverNow = typeof auction.now === "number" ? auction.now : ts;
    if (typeof serverNow === "number") state.offset = serverNow - Date.now() / 1000;
  }

  function remaining() {
    const a = state.auction;
    if (!a || a.status !== "running") return 0;
    return Math.max(0, a.ends_at - (Date.now() / 1000 + state.offset));
  }

  function render() {
    const a = state.auction;
    panel.hidden = !a && !state.note && !state.prize;
    head.hidden = !a;
    body.hidden = !a;
    window.stallcast.auction = a ? { ...a, remaining: remaining(), note: state.note } : null;
    won.hidden = !state.prize;
    won.textContent = t("watch.auction.youWon");
    if (!a) {
      note.textContent = state.note;
      return;
    }
    badge.textContent = t("watch.auction.label");
    title.textContent = a.title;
    const running = a.status === "running";
    const left = remaining();
    countdown.textContent = running ? clock(left) : t("watch.auction.over");
    panel.classList.toggle("closing", running && left <= 10);
    if (a.bid_count > 0) {
      current.textContent = money(a.top_amount, a.currency);
      leader.textContent = t("watch.auction.by", { name: a.top_name,
        n: a.bid_count });
    } else {
      current.textContent = money(a.start_price, a.currency);
      leader.textContent = t("watch.auction.noBids");
    }
    bid.hidden = !running;
    bid.disabled = state.sending || (running && left <= 0);
    bid.textContent = t("watch.auction.bid", { amount: money(a.next_amount, a.currency) });
    let text = state.note;
    if (running && state.mine) {
      text = a.top_amount > state.mine ? t("watch.auction.outbid")
        : t("watch.auction.highest");
    }
    if (!running) {
      text = a.winner_name ? t("watch.auction.sold", {
        name: a.offered_name || a.winner_name,
        amount: money(a.offered_amount || a.winner_amount, a.currency) })
        : t("watch.auction.unsold");
    }
    note.textContent = text;
  }

  async function placeBid() {
    const a = state.auction;
    if (!a || state.sending) return;
    state.sending = true;
    state.note = "";
    render();
    try {
      const reply = await conn.request({ type: "bid", auction_id: a.auction_id,
        amount: a.next_amount }, 6000);
      if (reply.type === "error") throw reply;
      state.mine = reply.bid.amount;
      if (state.auction && reply.bid.bid_count >= state.auction.bid_count) {
        state.auction = { ...state.auction, top_amount: reply.bid.amount,
          top_name: t("watch.auction.you"),
          bid_count: reply.bid.bid_count, ends_at: reply.bid.ends_at,
          next_amount: reply.bid.amount + state.auction.increment };
      }
    } catch (err) {
      state.note = err && err.code === "conflict" ? t("watch.auction.alreadyHighest")
        : err && err.code === "too_low" ? t("watch.auction.tooLow") : errorText(err);
    } finally {
      state.sending = false;
      render();
    }
  }
  bid.addEventListener("click", placeBid);
  won.addEventListener("click", () => { if (state.prize) sheet.open(state.prize); });

  function offerPrize(order) {
    if (!unanswered(order)) return;
    state.prize = order;
    sheet.open(order);
  }

  async function loadMine() {
    try {
      const resp = await viewerApi(`/api/rooms/${encodeURIComponent(roomId)}/auction`);
      if (!resp.ok) return;
      const answer = await resp.json();
      if (answer.auction) take(answer.auction);
      if (answer.you && unanswered(answer.you.order)) {
        state.prize = answer.you.order;
      }
      if (!state.prize) { // a giveaway won while away from this page
        const mine = await viewerApi("/api/me/orders");
        const orders = mine.ok ? (await mine.json()).orders || [] : [];
        state.prize = orders.find((o) => unanswered(o) && o.room_id === roomId) || null;
      }
      render();
    } catch {
      // The snapshot and events carry the auction anyway.
    }
  }

  function onMessage(message) {
    switch (message.type) {
      case "welcome":
        if (message.snapshot && "auction" in message.snapshot) take(message.snapshot.auction);
        break;
      case "snapshot":
        if (message.snapshot && message.snapshot.auction) take(message.snapshot.auction);
        break;
      case "auction_started":
      case "auction_bid":
      case "auction_ended":
      case "auction_offered":
        take(message.auction, message.ts);
        break;
      case "auction_extended":
        if (state.auction && state.auction.auction_id === message.auction_id) {
          state.auction.ends_at = Math.max(state.auction.ends_at, message.ends_at);
        }
        break;
      case "auction_won":
        take(message.auction, message.ts);
        offerPrize(message.order);
        break;
      case "giveaway_started": {
        const g = message.giveaway;
        state.note = g.mode === "keyword"
          ? t("watch.giveaway.keyword", { title: g.title, keyword: g.keyword })
          : t("watch.giveaway.watch", { title: g.title });
        break;
      }
      case "giveaway_drawn":
        state.note = t("watch.giveaway.drawn", { title: message.giveaway.title,
          names: (message.giveaway.winner_names || []).join(", ") });
        break;
      case "giveaway_won":
        offerPrize(message.order);
        break;
      default:
        return;
    }
    render();
  }

  setInterval(render, TICK_MS);
  loadMine();
  return { onMessage, render };
}

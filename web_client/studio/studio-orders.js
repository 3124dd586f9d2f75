// Orders of this room as they arrive (the newest page of GET /api/orders?room_id=…, every
// 2 s; older pages on request), moving them on (confirm payment, ship with a tracking number,
// delivered, cancel), and the CSV export of all of them.

import { formatMoney, language, t } from "../shared/i18n.js";
import {
  ApiFailure, api, busy, describeHttpError, el, every, hostToken, say, syncList, timeOfDay,
} from "./studio-api.js";

import { confirmSheet } from "./studio-sheet.js";

const POLL_MS = 2000;
const FRESH_MS = 15000;
const PAGE = 50;
const PAGE_MAX = 500; // the API's largest page
const BURST_PAGES = 4; // pages read past the first when a burst outran one poll

export class OrdersPanel {
  constructor(els, { roomId, onArrived = () => {} }) {
    this.els = els;
    this.onArrived = onArrived;
    this.roomId = roomId;
    this.orders = [];
    this.byId = new Map(); // every order loaded so far: the polled newest page and older pages
    this.olderLoaded = false;
    this.next = null; // cursor of the page after the ones shown
    this.total = 0;
    this.loaded = false; // after the first load, orders not in byId are new arrivals
    this.freshUntil = new Map(); // order id -> time its highlight ends
    els.csv.addEventListener("click", () => busy(els.csv, els.msg, () => this.downloadCsv()));
    els.more.addEventListener("click", () => busy(els.more, els.msg, () => this.loadOlder()));
  }

  start() {
    this.poll = every(POLL_MS, () => this.load());
  }

  async page(limit, after = "") {
    const q = new URLSearchParams({ room_id: this.roomId, limit: String(limit), after });
    return api("GET", `/api/orders?${q}`);
  }

  /** The newest orders, as many as are shown (so their statuses stay current), and on past
   * the page while a burst has pushed orders never seen below it. */
  async load() {
    let body = await this.page(Math.min(PAGE_MAX, Math.max(PAGE, this.byId.size)));
    const orders = [...(body.orders || [])];
    for (let extra = 0; this.loaded && body.next && extra < BURST_PAGES; extra += 1) {
      const last = orders[orders.length - 1];
      if (!last || this.byId.has(last.order_id)) break;
      body = await this.page(PAGE_MAX, body.next);
      orders.push(...(body.orders || []));
    }
    const now = Date.now();
    const arrived = this.loaded ? orders.filter((o) => !this.byId.has(o.order_id)) : [];
    for (const o of arrived) this.freshUntil.set(o.order_id, now + FRESH_MS);
    this.loaded = true;
    this.total = body.total ?? orders.length;
    // Once older pages are loaded their cursor goes on from the oldest one shown.
    if (!this.olderLoaded) this.next = body.next;
    this.keep(orders);
    if (arrived.length) this.onArrived(arrived);
    if (arrived.length === 1) {
      const o = arrived[0];
      say(this.els.msg, "studio.orders.arrived", { title: o.product_title, name: o.name,
        total: formatMoney(orderTotal(o), o.currency) }, "ok");
    } else if (arrived.length > 1) {
      say(this.els.msg, "studio.orders.arrivedN", { n: arrived.length }, "ok");
    }
    this.render();
  }

  /** Older orders, a page after the last one shown. */
  async loadOlder() {
    if (!this.next) return;
    const body = await this.page(PAGE, this.next);
    const orders = body.orders || [];
    this.olderLoaded = true;
    this.next = body.next;
    this.keep(orders);
    this.render();
  }

  /** Add or update orders; an order pushed off the newest page by new ones stays shown. */
  keep(orders) {
    for (const o of orders) this.byId.set(o.order_id, o);
    this.orders = [...this.byId.values()].sort((a, b) => b.created_at - a.created_at
      || (a.order_id < b.order_id ? 1 : -1));
  }

  render() {
    const now = Date.now();
    this.els.count.textContent = String(this.total);
    this.els.count.setAttribute("aria-label", t("studio.orders.countN", { n: this.total }));
    this.els.empty.hidden = this.orders.length > 0;
    this.renderOverdue(now);
    this.els.more.hidden = !this.next;
    this.els.more.textContent = t("studio.orders.older", { shown: this.orders.length,
      total: this.total });
    syncList(this.els.list, this.orders, {
      key: (o) => o.order_id,
      sig: (o) => [o.status, o.kind, o.tracking_number || "", (this.freshUntil.get(o.order_id) || 0) > now,
        language(), overdue(o, now)].join("|"),
      build: (o) => this.item(o, (this.freshUntil.get(o.order_id) || 0) > now),
    });
  }

  item(o, fresh) {
    const badge = { reserved: "warn", confirmed: "ok", shipped: "", delivered: "",
      cancelled: "bad" }[o.status] ?? "";
    const actions = el("div", { className: "item-actions" });
    const act = (name, labelKey, handler, cls = "") => {
      const button = el("button", { type: "button", className: cls, dataset: { focus: name },
        "aria-label": t(`${labelKey}Named`, { id: o.order_id }) }, t(labelKey));
      button.addEventListener("click", () => busy(button, this.els.msg, handler));
      return button;
    };
    if (o.status === "reserved") {
      actions.append(act("confirm", "studio.orders.confirm", () => this.move(o, "confirm"),
        "primary"));
    }
    const digital = o.kind === "digital"; // a class: paid means done, nothing to ship
    if (o.status === "confirmed" && !digital) {
      const id = `track-${o.order_id}`;
      const input = el("input", { id, required: true, maxLength: 40, autocomplete: "off",
        pattern: "[A-Za-z0-9\\-]{4,40}", title: t("studio.orders.trackingHint"),
        dataset: { focus: "tracking" } });
      const form = el("form", { className: "inline-form" },
        el("div", { className: "field" },
          el("label", { for: id }, t("studio.orders.tracking")), input),
        el("button", { type: "submit", className: "primary", dataset: { focus: "ship" },
          "aria-label": t("studio.orders.shipNamed", { id: o.order_id }) },
        t("studio.orders.ship")));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const button = form.querySelector("button");
        busy(button, this.els.msg, () => this.move(o, "ship",
          { tracking_number: input.value.trim() }));
      });
      actions.append(form);
    }
    if (o.status === "shipped") {
      actions.append(act("deliver", "studio.orders.deliver", () => this.move(o, "deliver")));
    }
    if (o.status === "reserved" || o.status === "confirmed") {
      actions.append(act("cancel", "studio.orders.cancel", async () => {
        if (await confirmSheet({ text: "studio.orders.cancelConfirm",
        yes: "studio.orders.cancel", no: "studio.orders.keep", vars: { id: o.order_id } })) {
        await this.move(o, "cancel");
      }
      }));
    }
    const total = formatMoney(orderTotal(o), o.currency);
    const late = overdue(o, Date.now());
    return el("li", { className: [fresh ? "fresh" : "", late ? "overdue" : ""].join(" ").trim(),
      dataset: { orderId: o.order_id, status: o.status, kind: o.kind || "parcel" } },
    el("div", { className: "item-main" },
      el("div", { className: "item-title" }, `${o.product_title} × ${o.quantity} · ${total}`, " ",
        el("span", { className: `badge ${badge} order-status` },
          t(`studio.orders.status.${digital && o.status === "confirmed" ? "paid" : o.status}`)),
        digital ? el("span", { className: "badge" }, t("studio.orders.digital")) : null,
        fresh ? el("span", { className: "badge pinned" }, t("studio.orders.new")) : null),
      el("div", { className: "muted" }, `${o.order_id} · ${timeOfDay(o.created_at, language())}`),
      o.shipping_fee ? el("div", { className: "muted" }, t("studio.products.shippingN",
        { fee: formatMoney(o.shipping_fee, o.currency) })) : null,
      o.discount ? el("div", { className: "muted" }, t("studio.orders.discount",
        { amount: formatMoney(o.discount, o.currency) })) : null,
      shipByLine(o, late),
      el("div", {}, `${o.name} · ${o.phone}`),
      el("div", {}, o.address),
      o.tracking_number
        ? el("div", {}, t("studio.orders.trackingIs", { number: o.tracking_number })) : null,
      o.cancel_reason ? el("div", { className: "muted" }, o.cancel_reason) : null),
    actions);
  }

  /** "N overdue" next to the count: orders past their ship-by time, not shipped. */
  renderOverdue(now) {
    let flag = document.getElementById("orders-overdue");
    if (!flag) {
      flag = el("span", { id: "orders-overdue", className: "badge bad" });
      this.els.count.after(" ", flag);
    }
    const n = this.orders.filter((o) => overdue(o, now)).length;
    flag.hidden = n === 0;
    flag.textContent = n ? t("studio.orders.overdueN", { n }) : "";
  }

  async move(o, action, body = undefined) {
    const updated = await api("POST", `/api/orders/${encodeURIComponent(o.order_id)}/${action}`,
      body);
    this.keep([updated]);
    say(this.els.msg, `studio.orders.done.${action}`, { id: o.order_id }, "ok");
    this.render();
  }

  /** The CSV needs the bearer token, so fetch it and hand the browser a Blob to save. */
  async downloadCsv() {
    const q = new URLSearchParams({ room_id: this.roomId });
    const resp = await fetch(`/api/orders.csv?${q}`, {
      headers: { Authorization: `Bearer ${hostToken()}` }, cache: "no-store" });
    if (!resp.ok) {
      const { text, code } = await describeHttpError(resp);
      throw new ApiFailure(resp.status, code, text);
    }
    const blob = await resp.blob();
    const link = this.els.csvLink;
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.download = `orders-${this.roomId}.csv`;
    link.click();
    say(this.els.msg, "studio.orders.csvReady", {}, "ok");
  }
}

/** Past its ship-by time (the product's delivery promise) and not shipped yet. */
export function overdue(o, nowMs) {
  return Boolean(o.ship_by) && (o.status === "reserved" || o.status === "confirmed")
    && nowMs / 1000 > o.ship_by;
}

function shipByLine(o, late) {
  if (!o.ship_by || !(late || o.status === "reserved" || o.status === "confirmed")) return null;
  const when = new Date(o.ship_by * 1000).toLocaleString(language() === "zh" ? "zh-CN"
    : language() === "ja" ? "ja-JP" : "en", { dateStyle: "medium", timeStyle: "short" });
  return el("div", { className: late ? "ship-by late" : "ship-by muted" },
    t(late ? "studio.orders.overdueBy" : "studio.orders.shipBy", { when }));
}

/** What the buyer pays: the server's total (with shipping) or, from an older server, the
 * goods alone. */
export function orderTotal(o) {
  return typeof o.total === "number" ? o.total : o.unit_price * o.quantity + (o.shipping_fee || 0);
}

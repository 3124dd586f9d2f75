// The ticker over the picture: the newest chat lines and orders, a few at a time, so the
// host reads them without opening a panel.

import { formatMoney, t } from "../shared/i18n.js";
import { el } from "./studio-api.js";
import { orderTotal } from "./studio-orders.js";

const SHOWN = 4;
const KEEP_MS = 30000;

export class Ticker {
  constructor(list) {
    this.list = list;
    this.items = []; // {key, kind, data, at}
    this.seen = new Set(); // chat message ids already taken in
    this.primed = false;
    setInterval(() => this.expire(), 5000);
  }

  /** The room's chat as the feed has it: lines not seen before join the ticker (the ones
   * already there when the page opened are history, not news). */
  chats(messages) {
    const fresh = messages.filter((m) => !this.seen.has(m.message_id));
    for (const m of fresh) this.seen.add(m.message_id);
    if (!this.primed) {
      this.primed = true;
      return;
    }
    for (const m of fresh) this.push(`c:${m.message_id}`, m.role === "host" ? "host" : "chat", m);
  }

  order(o) {
    this.push(`o:${o.order_id}`, "order", o);
  }

  push(key, kind, data) {
    if (this.items.some((i) => i.key === key)) return;
    this.items = [...this.items, { key, kind, data, at: Date.now() }].slice(-SHOWN);
    this.render();
  }

  expire() {
    const now = Date.now();
    const kept = this.items.filter((i) => now - i.at < KEEP_MS);
    if (kept.length !== this.items.length) {
      this.items = kept;
      this.render();
    }
  }

  render() {
    this.list.replaceChildren(...this.items.map((i) => {
      if (i.kind === "order") {
        const o = i.data;
        return el("li", { className: "order", dataset: { orderId: o.order_id } },
          t("studio.ticker.order", { name: o.name, title: o.product_title, n: o.quantity,
            total: formatMoney(orderTotal(o), o.currency) }));
      }
      const m = i.data;
      const name = m.name || t(i.kind === "host" ? "studio.chat.host" : "studio.chat.anonymous");
      return el("li", { className: i.kind, dataset: { messageId: m.message_id } },
        el("b", {}, name), m.text);
    }));
  }
}

// Coupons of this room: the push form (amount or percent off, minimum order, how many may
// claim it, for this show or N hours; POST /api/rooms/{id}/coupons) and the room's coupons
// with their claims and uses, each active one with an End button. Polled every few seconds:
// claims come in bursts while a coupon is on screen.

import { formatMoney, language, t } from "../shared/i18n.js";
import {
  CURRENCIES, api, busy, el, every, say, syncList, toMinor,
} from "./studio-api.js";

const POLL_MS = 3000;

function offText(c) {
  return c.kind === "percent" ? t("studio.coupons.percentOff", { n: c.value })
    : t("studio.coupons.amountOff", { amount: formatMoney(c.value, c.currency) });
}

export class CouponsPanel {
  constructor(box, { roomId }) {
    this.box = box;
    this.path = `/api/rooms/${encodeURIComponent(roomId)}/coupons`;
    this.coupons = [];
    this.build();
  }

  control(tag, id, props = {}, ...children) {
    return el(tag, { id, ...props }, ...children);
  }

  build() {
    // data-i18n: a language switch (translate()) words them again.
    const said = (tag, key, props = {}) => el(tag, { ...props, dataset: { i18n: key } }, t(key));
    const f = (key, control) => el("div", { className: "field" },
      said("label", key, { for: control.id }), control);
    this.kind = this.control("select", "c-kind", {},
      said("option", "studio.coupons.kindAmount", { value: "amount" }),
      said("option", "studio.coupons.kindPercent", { value: "percent" }));
    this.value = this.control("input", "c-value", { inputmode: "decimal", required: true });
    this.currency = this.control("select", "c-currency", {},
      ...CURRENCIES.map((c) => el("option", { value: c }, c)));
    this.min = this.control("input", "c-min", { inputmode: "decimal", value: "0" });
    this.quota = this.control("input", "c-quota", { type: "number", min: "1", step: "1",
      value: "100", required: true });
    this.valid = this.control("select", "c-valid", {},
      said("option", "studio.coupons.forShow", { value: "show" }),
      said("option", "studio.coupons.forHours", { value: "hours" }));
    this.hours = this.control("input", "c-hours", { type: "number", min: "1", step: "1",
      value: "24" });
    this.push = said("button", "studio.coupons.push", { type: "submit", className: "primary",
      id: "coupon-push" });
    this.msg = el("p", { className: "msg", role: "status", "aria-live": "polite" });
    this.list = el("ul", { className: "items", id: "coupons",
      "aria-label": t("studio.coupons.heading") });
    const form = el("form", { id: "coupon-form", autocomplete: "off" },
      el("div", { className: "row" },
        f("studio.coupons.kind", this.kind), f("studio.coupons.value", this.value),
        f("studio.coupons.currency", this.currency), f("studio.coupons.min", this.min),
        f("studio.coupons.quota", this.quota), f("studio.coupons.valid", this.valid),
        f("studio.coupons.hours", this.hours)),
      el("div", { className: "buttons" }, this.push));
    this.valid.addEventListener("change", () => this.syncHours());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(this.push, this.msg, () => this.send());
    });
    this.box.replaceChildren(said("h3", "studio.coupons.heading"), form, this.msg,
      this.list);
    this.syncHours();
  }

  syncHours() {
    this.hours.closest(".field").hidden = this.valid.value !== "hours";
  }

  start() {
    this.poll = every(POLL_MS, () => this.load());
  }

  async load() {
    const body = await api("GET", this.path);
    this.coupons = body.coupons || [];
    this.render();
  }

  body() {
    const kind = this.kind.value;
    const currency = this.currency.value;
    const value = kind === "percent" ? Number(this.value.value) : toMinor(this.value.value, currency);
    const min = toMinor(this.min.value || "0", currency);
    if (!Number.isInteger(value) || value < 1 || min === null) return null;
    const body = { kind, value, quota: Number(this.quota.value), min_order: min,
      valid_hours: this.valid.value === "hours" ? Number(this.hours.value) : 0 };
    if (kind === "amount" || min > 0) body.currency = currency;
    return body;
  }

  async send() {
    const body = this.body();
    if (!body) {
      say(this.msg, "studio.coupons.badValue", {}, "error");
      this.value.focus();
      return;
    }
    const made = await api("POST", this.path, body);
    say(this.msg, "studio.coupons.pushed", { off: offText(made) }, "ok");
    await this.load();
  }

  render() {
    syncList(this.list, this.coupons, {
      key: (c) => c.coupon_id,
      sig: (c) => [c.claimed, c.used, c.active, language()].join("|"),
      build: (c) => this.item(c),
    });
  }

  item(c) {
    const min = c.min_order > 0
      ? t("studio.coupons.minIs", { min: formatMoney(c.min_order, c.currency) }) : "";
    const end = c.active ? el("button", { type: "button", dataset: { focus: "end" } },
      t("studio.coupons.end")) : null;
    if (end) {
      end.addEventListener("click", () => busy(end, this.msg, async () => {
        await api("POST", `${this.path}/${encodeURIComponent(c.coupon_id)}/end`);
        await this.load();
      }));
    }
    return el("li", { dataset: { couponId: c.coupon_id, active: String(c.active) } },
      el("div", { className: "item-main" },
        el("div", { className: "item-title" }, offText(c), min ? ` · ${min}` : "", " ",
          el("span", { className: `badge ${c.active ? "ok" : ""}` },
            t(c.active ? "studio.coupons.active" : "studio.coupons.over"))),
        el("div", { className: "muted coupon-counts" }, t("studio.coupons.counts",
          { claimed: c.claimed, quota: c.quota, used: c.used }))),
      el("div", { className: "item-actions" }, end));
  }
}

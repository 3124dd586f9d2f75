// Selling on air: the tray of product chips over the picture (tap: pin, tap the pinned
// one: unpin; long-press or ⚡: the flash-sale sheet), the sheet itself (price, quantity,
// duration, per-buyer limit), and the flash sales with their countdown and falling stock.

import { formatMoney, t, tn } from "../shared/i18n.js";
import { api, busy, clock, el, say, syncList, toMajorText, toMinor } from "./studio-api.js";
import { variantsOf } from "./studio-catalog.js";
import { hideModal, showModal } from "./studio-sheet.js";

const LONG_PRESS_MS = 500;

export class SellPanel {
  constructor(els, { roomId, feed, catalog, toast }) {
    this.els = els;
    this.feed = feed;
    this.catalog = catalog;
    this.toast = toast;
    catalog.sell = this;
    this.room = `/api/rooms/${encodeURIComponent(roomId)}`;
    els.saleForm.addEventListener("submit", (e) => { e.preventDefault(); this.startSale(); });
    els.saleCancel.addEventListener("click", () => hideModal(els.sheet));
    els.saleNew.addEventListener("click", () => this.openSale(null));
    els.saleProduct.addEventListener("change", () => this.prefill());
    this.ticker = setInterval(() => this.tick(), 500);
    this.render();
  }

  get products() {
    return this.catalog.products;
  }

  render() {
    this.catalog.render();
    this.renderChips();
    this.renderSaleProducts();
    this.renderSales();
  }

  // -- pin, room -------------------------------------------------------------------------
  async attach(p) {
    await api("POST", `${this.room}/products`, { product_id: p.product_id });
    await this.feed.refresh();
  }

  async detach(p) {
    await api("DELETE", `${this.room}/products/${encodeURIComponent(p.product_id)}`);
    await this.feed.refresh();
  }

  async pin(p) {
    await api("PUT", `${this.room}/pin`, { product_id: p.product_id });
    say(this.catalog.els.msg, "studio.products.pinnedNow", { title: p.title }, "ok");
    this.toast("studio.products.pinnedNow", { title: p.title });
    await this.feed.refresh();
  }

  async unpin() {
    await api("DELETE", `${this.room}/pin`);
    say(this.catalog.els.msg, "studio.products.unpinnedNow", {}, "ok");
    this.toast("studio.products.unpinnedNow", {});
    await this.feed.refresh();
  }

  // -- the chips -------------------------------------------------------------------------
  liveSaleOf(p) {
    const ids = new Set([p.product_id, ...variantsOf(p, this.catalog.all).map((v) => v.product_id)]);
    const now = this.feed.serverNow();
    return [...this.feed.sales.values()].find((s) => ids.has(s.product_id)
      && this.saleState(s, now) === "live") || null;
  }

  /** A chip's stock: the room's latest word on it (or its variants'), else the catalogue's. */
  stockOf(p) {
    const latest = (item) => this.feed.stocks.get(item.product_id) ?? item.stock;
    const variants = variantsOf(p, this.catalog.all);
    if (!variants.length) return latest(p);
    return variants.reduce((sum, v) => sum + Math.max(0, latest(v)), 0);
  }

  renderChips() {
    const pinned = this.feed.pinned && this.feed.pinned.product_id;
    syncList(this.els.chips, this.products, {
      key: (p) => p.product_id,
      sig: (p) => {
        const sale = this.liveSaleOf(p);
        return [p.title, p.price, this.stockOf(p), p.thumb, p.image, pinned === p.product_id,
          sale ? `${sale.sale_id}:${sale.remaining}` : "", t("studio.products.pin")].join("|");
      },
      build: (p) => this.chip(p, pinned === p.product_id, this.liveSaleOf(p)),
    });
  }

  chip(p, isPinned, sale) {
    const image = p.thumb || p.image;
    const main = el("button", { type: "button", className: "chip-main",
      dataset: { focus: "pin" }, "aria-pressed": String(isPinned),
      "aria-label": t(isPinned ? "studio.chips.unpinNamed" : "studio.chips.pinNamed",
        { title: p.title }) },
    image ? el("img", { src: image, alt: "", loading: "lazy",
      on: { error: (event) => { event.target.hidden = true; } } }) : null,
    el("span", { className: "chip-text" },
      el("b", {}, p.title),
      el("span", {}, formatMoney(p.price, p.currency)),
      sale ? el("span", { className: "chip-tag" },
        t("studio.chips.onSale", { left: tn("common.unitsLeft", sale.remaining) }))
        : el("span", {}, tn("common.unitsLeft", this.stockOf(p)))));
    let pressed = null;
    let longDone = false;
    const cancel = () => { clearTimeout(pressed); pressed = null; };
    main.addEventListener("pointerdown", () => {
      longDone = false;
      cancel();
      pressed = setTimeout(() => { longDone = true; this.openSale(p); }, LONG_PRESS_MS);
    });
    for (const name of ["pointerup", "pointerleave", "pointercancel"]) {
      main.addEventListener(name, cancel);
    }
    main.addEventListener("contextmenu", (event) => event.preventDefault());
    main.addEventListener("click", () => {
      if (longDone) { longDone = false; return; }
      busy(main, null, async () => {
        try {
          if (isPinned) await this.unpin();
          else await this.pin(p);
        } catch (err) {
          this.toast("studio.failed", { message: err.message }, "error");
        }
      });
    });
    const flash = el("button", { type: "button", className: "chip-sale",
      dataset: { focus: "sale" }, "aria-label": t("studio.products.sellNamed", { title: p.title }) },
    "⚡");
    flash.addEventListener("click", () => this.openSale(p));
    return el("li", { className: isPinned ? "chip pinned" : "chip",
      dataset: { productId: p.product_id } }, main, flash);
  }

  // -- the flash-sale sheet --------------------------------------------------------------
  /** Every product a sale can be of: a product without variants, or each variant. */
  saleChoices() {
    const out = [];
    for (const p of this.products) {
      const variants = variantsOf(p, this.catalog.all);
      if (!variants.length) {
        out.push({ id: p.product_id, product: p, price: p.price,
          label: `${p.title} (${formatMoney(p.price, p.currency)})` });
      }
      for (const v of variants) {
        out.push({ id: v.product_id, product: p, price: v.price,
          limit: v.per_buyer_limit,
          label: `${p.title} · ${v.label} (${formatMoney(v.price, p.currency)})` });
      }
    }
    return out;
  }

  renderSaleProducts() {
    const select = this.els.saleProduct;
    const current = select.value;
    const choices = this.saleChoices();
    const options = choices.map((c) => el("option", { value: c.id }, c.label));
    if (!options.length) options.push(el("option", { value: "" }, t("studio.sales.noProducts")));
    select.replaceChildren(...options);
    if (current && choices.some((c) => c.id === current)) select.value = current;
    this.els.saleStart.disabled = !choices.length;
  }

  prefill() {
    const choice = this.saleChoices().find((c) => c.id === this.els.saleProduct.value);
    if (!choice) return;
    this.els.salePrice.value = toMajorText(choice.price, choice.product.currency);
    this.els.saleLimit.value = String(choice.limit || choice.product.per_buyer_limit || 1);
  }

  openSale(p) {
    this.renderSaleProducts();
    if (p) {
      const first = this.saleChoices().find((c) => c.product.product_id === p.product_id);
      if (first) this.els.saleProduct.value = first.id;
    }
    this.prefill();
    this.els.sheetMsg.textContent = "";
    showModal(this.els.sheet, this.els.salePrice);
  }

  async startSale() {
    const e = this.els;
    const choice = this.saleChoices().find((c) => c.id === e.saleProduct.value);
    if (!choice) return;
    const currency = choice.product.currency;
    const price = toMinor(e.salePrice.value, currency);
    if (price === null) {
      say(e.sheetMsg, "studio.products.badPrice", { currency }, "error");
      e.salePrice.focus();
      return;
    }
    const body = { product_id: choice.id, price, quantity: Number(e.saleQty.value),
      start_in: Number(e.saleStartIn.value || 0), duration: Number(e.saleDuration.value),
      per_buyer_limit: Number(e.saleLimit.value) };
    await busy(e.saleStart, e.sheetMsg, async () => {
      const sale = await api("POST", `${this.room}/sales`, body);
      this.feed.sales.set(sale.sale_id, sale);
      say(e.saleMsg, "studio.sales.started", { title: sale.title }, "ok");
      this.toast("studio.sales.started", { title: sale.title });
      hideModal(e.sheet);
      this.renderSales();
      this.renderChips();
      this.feed.refresh();
    });
  }

  // -- the sales list --------------------------------------------------------------------
  saleState(sale, now) {
    if (sale.status === "ended" || now >= sale.ends_at) return "ended";
    if (sale.remaining <= 0) return "soldOut";
    if (now < sale.starts_at) return "scheduled";
    return "live";
  }

  sortedSales() {
    const rank = { live: 0, soldOut: 1, scheduled: 2, ended: 3 };
    const now = this.feed.serverNow();
    return [...this.feed.sales.values()].sort((a, b) =>
      rank[this.saleState(a, now)] - rank[this.saleState(b, now)] || b.starts_at - a.starts_at)
      .slice(0, 20);
  }

  renderSales() {
    const now = this.feed.serverNow();
    syncList(this.els.sales, this.sortedSales(), {
      key: (s) => s.sale_id,
      sig: (s) => [s.remaining, s.quantity, this.saleState(s, now),
        t("studio.sales.end")].join("|"),
      build: (s) => this.saleItem(s, this.saleState(s, now)),
    });
    this.tick();
  }

  saleItem(s, state) {
    const badge = { live: "ok", soldOut: "bad", scheduled: "warn", ended: "" }[state];
    const endButton = el("button", { type: "button", dataset: { focus: "end" },
      "aria-label": t("studio.sales.endNamed", { title: s.title }) }, t("studio.sales.end"));
    endButton.addEventListener("click", () => busy(endButton, this.els.saleMsg, async () => {
      await api("POST", `/api/sales/${encodeURIComponent(s.sale_id)}/end`);
      this.feed.sales.set(s.sale_id, { ...s, status: "ended" });
      this.renderSales();
      this.renderChips();
    }));
    return el("li", { dataset: { saleId: s.sale_id, state } },
      el("div", { className: "item-main" },
        el("div", { className: "item-title" }, s.title, " ",
          el("span", { className: `badge ${badge}` }, t(`studio.sales.state.${state}`))),
        el("div", {}, formatMoney(s.price, s.currency),
          s.list_price > s.price
            ? el("span", { className: "strike" }, formatMoney(s.list_price, s.currency)) : null),
        el("div", { className: "remaining" },
          t("studio.sales.remaining", { n: s.remaining, total: s.quantity })),
        s.per_buyer_limit ? el("div", { className: "muted" },
          tn("common.perBuyer", s.per_buyer_limit)) : null,
        el("progress", { max: s.quantity, value: s.remaining,
          "aria-label": t("studio.sales.remaining", { n: s.remaining, total: s.quantity }) }),
        el("div", { className: "countdown", dataset: { saleId: s.sale_id } })),
      state === "ended" ? null : el("div", { className: "item-actions" }, endButton));
  }

  /** Countdown texts, once every half second; a state change rebuilds the item. */
  tick() {
    const now = this.feed.serverNow();
    for (const node of this.els.sales.querySelectorAll(".countdown")) {
      const s = this.feed.sales.get(node.dataset.saleId);
      if (!s) continue;
      const state = this.saleState(s, now);
      if (node.closest("li").dataset.state !== state) {
        this.renderSales();
        this.renderChips();
        return;
      }
      let text = "";
      if (state === "scheduled") text = t("studio.sales.startsIn", { time: clock(s.starts_at - now) });
      else if (state !== "ended") text = t("studio.sales.endsIn", { time: clock(s.ends_at - now) });
      if (node.textContent !== text) node.textContent = text;
    }
  }
}

// Selling: the host's products (create, edit price/stock/limit/image), putting them in the
// room and pinning one as the card viewers see, and flash sales with their countdown and
// falling stock.

import { formatMoney, t } from "../shared/i18n.js";
import {
  CURRENCIES, api, busy, clock, el, say, syncList, toMajorText, toMinor,
} from "./studio-api.js";

export class SellPanel {
  constructor(els, { roomId, feed }) {
    this.els = els;
    this.roomId = roomId;
    this.feed = feed;
    this.products = []; // every product of the host
    this.editing = null; // the product being edited, or null for a new one
    this.room = `/api/rooms/${encodeURIComponent(roomId)}`;
    els.currency.replaceChildren(...CURRENCIES.map((c) => el("option", { value: c }, c)));
    els.productForm.addEventListener("submit", (e) => { e.preventDefault(); this.saveProduct(); });
    els.productCancel.addEventListener("click", () => this.edit(null));
    els.saleForm.addEventListener("submit", (e) => { e.preventDefault(); this.startSale(); });
    this.ticker = setInterval(() => this.tick(), 500);
    this.render();
  }

  async load() {
    const body = await api("GET", "/api/products");
    this.products = body.products || [];
    this.render();
  }

  inRoom(pid) {
    return this.feed.products.some((p) => p.product_id === pid);
  }

  render() {
    this.renderForm();
    this.renderProducts();
    this.renderSaleProducts();
    this.renderSales();
  }

  // -- products ----------------------------------------------------------------------------
  renderForm() {
    const editing = this.editing;
    this.els.productLegend.textContent = editing
      ? t("studio.products.editing", { title: editing.title }) : t("studio.products.new");
    this.els.productSave.textContent = t(editing ? "studio.products.save" : "studio.products.add");
    this.els.productCancel.hidden = !editing;
  }

  edit(product) {
    const e = this.els;
    this.editing = product;
    if (product) {
      e.title.value = product.title;
      e.currency.value = product.currency;
      e.price.value = toMajorText(product.price, product.currency);
      e.stock.value = product.stock;
      e.limit.value = product.per_buyer_limit;
      e.image.value = product.image || "";
      e.title.focus();
    } else {
      e.productForm.reset();
    }
    this.renderForm();
  }

  async saveProduct() {
    const e = this.els;
    const currency = e.currency.value;
    const price = toMinor(e.price.value, currency);
    if (price === null) {
      say(e.productMsg, "studio.products.badPrice", { currency }, "error");
      e.price.focus();
      return;
    }
    const body = {
      title: e.title.value.trim(), price, currency, stock: Number(e.stock.value),
      per_buyer_limit: Number(e.limit.value), image: e.image.value.trim(),
    };
    await busy(e.productSave, e.productMsg, async () => {
      const editing = this.editing;
      const changes = editing ? productChanges(editing, body) : null;
      const saved = !editing ? await api("POST", "/api/products", body)
        : Object.keys(changes).length === 0 ? editing
          : await api("PATCH", `/api/products/${encodeURIComponent(editing.product_id)}`,
            changes);
      say(e.productMsg, editing ? "studio.products.saved" : "studio.products.added",
        { title: saved.title }, "ok");
      this.edit(null);
      await this.load();
      if (this.feed.pinned && this.feed.pinned.product_id === saved.product_id) {
        // Viewers see the pinned card as it was pinned: pin again to show the new figures.
        await api("PUT", `${this.room}/pin`, { product_id: saved.product_id });
      }
      this.feed.refresh();
    });
  }

  renderProducts() {
    const pinned = this.feed.pinned && this.feed.pinned.product_id;
    syncList(this.els.products, this.products, {
      key: (p) => p.product_id,
      sig: (p) => [p.title, p.price, p.currency, p.stock, p.per_buyer_limit, p.image,
        this.inRoom(p.product_id), pinned === p.product_id, t("studio.products.pin")].join("|"),
      build: (p) => this.productItem(p, pinned === p.product_id),
    });
  }

  productItem(p, isPinned) {
    const inRoom = this.inRoom(p.product_id);
    const act = (name, labelKey, handler, cls = "") => {
      const button = el("button", { type: "button", className: cls, dataset: { focus: name },
        "aria-label": t(`${labelKey}Named`, { title: p.title }) }, t(labelKey));
      button.addEventListener("click", () => busy(button, this.els.productMsg, handler));
      return button;
    };
    return el("li", { dataset: { productId: p.product_id } },
      p.image ? el("img", { className: "thumb", src: p.image, alt: "", loading: "lazy",
        on: { error: (event) => { event.target.hidden = true; } } }) : null,
      el("div", { className: "item-main" },
        el("div", { className: "item-title" }, p.title, " ",
          isPinned ? el("span", { className: "badge pinned" }, t("studio.products.pinned")) : null,
          inRoom && !isPinned
            ? el("span", { className: "badge" }, t("studio.products.inRoom")) : null),
        el("div", {}, formatMoney(p.price, p.currency), " · ",
          t("studio.products.stockN", { n: p.stock }), " · ",
          t("studio.products.limitN", { n: p.per_buyer_limit }))),
      el("div", { className: "item-actions" },
        act("edit", "studio.products.edit", async () => this.edit(p)),
        inRoom
          ? act("attach", "studio.products.detach", () => this.detach(p))
          : act("attach", "studio.products.attach", () => this.attach(p)),
        isPinned
          ? act("pin", "studio.products.unpin", () => this.unpin())
          : act("pin", "studio.products.pin", () => this.pin(p), "primary"),
        act("sell", "studio.products.sell", async () => {
          this.els.saleProduct.value = p.product_id;
          if (!this.els.salePrice.value) {
            this.els.salePrice.value = toMajorText(p.price, p.currency);
          }
          this.els.salePrice.focus();
        })));
  }

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
    say(this.els.productMsg, "studio.products.pinnedNow", { title: p.title }, "ok");
    await this.feed.refresh();
  }

  async unpin() {
    await api("DELETE", `${this.room}/pin`);
    say(this.els.productMsg, "studio.products.unpinnedNow", {}, "ok");
    await this.feed.refresh();
  }

  // -- flash sales -------------------------------------------------------------------------
  renderSaleProducts() {
    const select = this.els.saleProduct;
    const current = select.value;
    const options = this.products.map((p) => el("option", { value: p.product_id },
      `${p.title} (${formatMoney(p.price, p.currency)})`));
    if (!options.length) options.push(el("option", { value: "" }, t("studio.sales.noProducts")));
    select.replaceChildren(...options);
    if (current && this.products.some((p) => p.product_id === current)) select.value = current;
    this.els.saleStart.disabled = !this.products.length;
  }

  async startSale() {
    const e = this.els;
    const product = this.products.find((p) => p.product_id === e.saleProduct.value);
    if (!product) return;
    const price = toMinor(e.salePrice.value, product.currency);
    if (price === null) {
      say(e.saleMsg, "studio.products.badPrice", { currency: product.currency }, "error");
      e.salePrice.focus();
      return;
    }
    const body = { product_id: product.product_id, price, quantity: Number(e.saleQty.value),
      start_in: Number(e.saleStartIn.value || 0), duration: Number(e.saleDuration.value) };
    await busy(e.saleStart, e.saleMsg, async () => {
      const sale = await api("POST", `${this.room}/sales`, body);
      this.feed.sales.set(sale.sale_id, sale);
      say(e.saleMsg, "studio.sales.started", { title: sale.title }, "ok");
      this.renderSales();
      this.feed.refresh();
    });
  }

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
        return;
      }
      let text = "";
      if (state === "scheduled") text = t("studio.sales.startsIn", { time: clock(s.starts_at - now) });
      else if (state !== "ended") text = t("studio.sales.endsIn", { time: clock(s.ends_at - now) });
      if (node.textContent !== text) node.textContent = text;
    }
  }
}


// An edit sends only what the host changed; a stock change says which figure it replaces,
// so units sold while the form was open are not put back (the server answers 409).
export function productChanges(before, form) {
  const out = {};
  for (const [k, v] of Object.entries(form)) {
    if ((before[k] ?? "") !== v) out[k] = v;
  }
  if ("stock" in out) out.expected_stock = before.stock;
  return out;
}

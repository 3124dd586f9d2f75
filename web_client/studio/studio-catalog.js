// The catalogue tab: products with a photo taken or picked on the phone (uploaded as raw
// bytes to POST /api/uploads, which keeps a card and a thumbnail size), description,
// price, stock, shipping fee, optional variants (2 kg / 5 kg, each its own price and
// stock), archive, restore and delete. Pinning and selling go through the SellPanel.

import { formatMoney, t, tn } from "../shared/i18n.js";
import {
  CURRENCIES, api, busy, el, say, syncList, toMajorText, toMinor,
} from "./studio-api.js";
import { confirmSheet } from "./studio-sheet.js";

const VARIANTS_MIN = 2;
const VARIANTS_MAX = 10;

/** The variants of a product as cards ({product_id, label, price, stock}), from its own
 * `variants` list or from the variant records listed beside it. */
export function variantsOf(p, all = []) {
  if (Array.isArray(p.variants) && p.variants.length) return p.variants;
  return all.filter((v) => v.parent_id === p.product_id)
    .map((v) => ({ ...v, label: v.variant_label }));
}

export class Catalog {
  constructor(els, { feed, room }) {
    this.els = els;
    this.feed = feed;
    this.room = room;
    this.sell = null; // set by the SellPanel
    this.all = []; // every active record of the host (variants too, if listed)
    this.products = []; // the top-level ones
    this.archived = [];
    this.editing = null;
    this.photo = null; // {image, thumb} just uploaded
    els.currency.replaceChildren(...CURRENCIES.map((c) => el("option", { value: c }, c)));
    els.form.addEventListener("submit", (e) => { e.preventDefault(); this.save(); });
    els.cancel.addEventListener("click", () => this.edit(null));
    els.file.addEventListener("change", () => this.upload());
    els.variantAdd.addEventListener("click", () => this.addVariantRow());
    els.archivedBox.addEventListener("toggle", () => {
      if (els.archivedBox.open) this.loadArchived().catch(() => {});
    });
    this.renderForm();
  }

  async load() {
    const body = await api("GET", "/api/products");
    this.all = (body.products || []).filter((p) => (p.status || "active") === "active");
    this.products = this.all.filter((p) => !p.parent_id);
    this.render();
    if (this.sell) this.sell.render();
  }

  async loadArchived() {
    const body = await api("GET", "/api/products?status=archived");
    this.archived = (body.products || []).filter((p) => !p.parent_id);
    this.renderArchived();
  }

  inRoom(pid) {
    return this.feed.products.some((p) => p.product_id === pid);
  }

  render() {
    this.renderForm();
    this.renderList();
    this.renderArchived();
  }

  // -- the form ----------------------------------------------------------------------------
  renderForm() {
    const e = this.els;
    const editing = this.editing;
    e.legend.textContent = editing
      ? t("studio.products.editing", { title: editing.title }) : t("studio.products.new");
    e.save.textContent = t(editing ? "studio.products.save" : "studio.products.add");
    e.cancel.hidden = !editing;
    e.variantAdd.hidden = Boolean(editing) || e.variants.children.length >= VARIANTS_MAX;
    const image = (this.photo && this.photo.thumb) || e.image.value.trim();
    e.photo.hidden = !image;
    if (image && e.photo.getAttribute("src") !== image) e.photo.src = image;
    e.photo.alt = image ? t("studio.products.photoAlt") : "";
    for (const [i, row] of [...e.variants.children].entries()) {
      for (const input of row.querySelectorAll("input")) {
        input.setAttribute("aria-label", t(`studio.variants.${input.dataset.part}N`, { n: i + 1 }));
      }
      const remove = row.querySelector("button");
      if (remove) remove.setAttribute("aria-label", t("studio.variants.removeN", { n: i + 1 }));
    }
  }

  addVariantRow(v = null) {
    const list = this.els.variants;
    if (list.children.length >= VARIANTS_MAX) return;
    const currency = this.els.currency.value;
    const input = (part, props) => el("input", { dataset: { part }, ...props });
    const row = el("li", { dataset: { productId: v ? v.product_id : "" } },
      input("label", { maxLength: 40, value: v ? v.label : "", required: true }),
      input("price", { inputmode: "decimal", required: true,
        value: v ? toMajorText(v.price, currency) : "" }),
      input("stock", { type: "number", min: 0, step: 1, required: true,
        value: v ? String(v.stock) : "10" }),
      v ? el("span") : el("button", { type: "button", textContent: "×",
        on: { click: () => { row.remove(); this.renderForm(); } } }));
    list.append(row);
    if (!v && list.children.length === 1) this.addVariantRow(); // variants come in twos
    this.renderForm();
  }

  edit(product) {
    const e = this.els;
    this.editing = product;
    this.photo = null;
    e.variants.replaceChildren();
    if (product) {
      e.title.value = product.title;
      e.desc.value = product.description || "";
      e.currency.value = product.currency;
      e.price.value = toMajorText(product.price, product.currency);
      e.stock.value = product.stock;
      e.limit.value = product.per_buyer_limit;
      e.ship.value = toMajorText(product.shipping_fee || 0, product.currency);
      e.shipBy.value = String(product.ship_by_hours || 0);
      e.image.value = product.image || "";
      for (const v of variantsOf(product, this.all)) this.addVariantRow(v);
      e.title.focus();
    } else {
      e.form.reset();
    }
    this.renderForm();
  }

  async upload() {
    const file = this.els.file.files && this.els.file.files[0];
    if (!file) return;
    await busy(this.els.save, this.els.msg, async () => {
      say(this.els.msg, "studio.products.uploading", {});
      const up = await api("POST", "/api/uploads", file);
      this.photo = { image: up.card, thumb: up.thumb };
      this.els.image.value = up.card;
      say(this.els.msg, "studio.products.uploaded", {}, "ok");
      this.renderForm();
    });
    this.els.file.value = "";
  }

  formBody() {
    const e = this.els;
    const currency = e.currency.value;
    const price = toMinor(e.price.value, currency);
    const shipping = toMinor(e.ship.value || "0", currency);
    if (price === null || shipping === null) {
      say(e.msg, "studio.products.badPrice", { currency }, "error");
      (price === null ? e.price : e.ship).focus();
      return null;
    }
    const image = e.image.value.trim();
    const body = {
      title: e.title.value.trim(), description: e.desc.value.trim(), price, currency,
      stock: Number(e.stock.value), per_buyer_limit: Number(e.limit.value), image,
      shipping_fee: shipping, ship_by_hours: Math.max(0, Math.floor(Number(e.shipBy.value) || 0)),
    };
    if (this.photo && this.photo.image === image) body.thumb = this.photo.thumb;
    const rows = [...e.variants.children].map((row) => {
      const part = (name) => row.querySelector(`[data-part="${name}"]`);
      return { product_id: row.dataset.productId, label: part("label").value.trim(),
        price: toMinor(part("price").value, currency), stock: Number(part("stock").value) };
    });
    if (rows.some((r) => r.price === null)) {
      say(e.msg, "studio.products.badPrice", { currency }, "error");
      return null;
    }
    if (rows.length && rows.length < VARIANTS_MIN) {
      say(e.msg, "studio.variants.tooFew", {}, "error");
      return null;
    }
    return { body, rows };
  }

  async save() {
    const e = this.els;
    const form = this.formBody();
    if (!form) return;
    const { body, rows } = form;
    await busy(e.save, e.msg, async () => {
      const editing = this.editing;
      let saved;
      if (!editing) {
        if (rows.length) {
          body.variants = rows.map(({ label, price, stock }) => ({ label, price, stock }));
        }
        saved = await api("POST", "/api/products", body);
      } else {
        const changes = productChanges(editing, body);
        saved = Object.keys(changes).length === 0 ? editing
          : await api("PATCH", `/api/products/${encodeURIComponent(editing.product_id)}`,
            changes);
        const before = new Map(variantsOf(editing, this.all).map((v) => [v.product_id, v]));
        for (const r of rows) {
          const old = before.get(r.product_id);
          if (!old) continue;
          const vc = productChanges(old, { label: r.label, price: r.price, stock: r.stock });
          if (Object.keys(vc).length) {
            await api("PATCH", `/api/products/${encodeURIComponent(r.product_id)}`, vc);
          }
        }
      }
      say(e.msg, editing ? "studio.products.saved" : "studio.products.added",
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

  // -- the list ----------------------------------------------------------------------------
  renderList() {
    const pinned = this.feed.pinned && this.feed.pinned.product_id;
    syncList(this.els.list, this.products, {
      key: (p) => p.product_id,
      sig: (p) => [p.title, p.price, p.currency, p.stock, p.per_buyer_limit, p.image,
        p.thumb, p.shipping_fee, p.ship_by_hours, JSON.stringify(variantsOf(p, this.all)),
        this.inRoom(p.product_id), pinned === p.product_id, t("studio.products.pin")].join("|"),
      build: (p) => this.item(p, pinned === p.product_id),
    });
  }

  item(p, isPinned) {
    const inRoom = this.inRoom(p.product_id);
    const sell = this.sell;
    const act = (name, labelKey, handler, cls = "") => {
      const button = el("button", { type: "button", className: cls, dataset: { focus: name },
        "aria-label": t(`${labelKey}Named`, { title: p.title }) }, t(labelKey));
      button.addEventListener("click", () => busy(button, this.els.msg, handler));
      return button;
    };
    const variants = variantsOf(p, this.all);
    const image = p.thumb || p.image;
    return el("li", { dataset: { productId: p.product_id } },
      image ? el("img", { className: "thumb", src: image, alt: "", loading: "lazy",
        on: { error: (event) => { event.target.hidden = true; } } }) : null,
      el("div", { className: "item-main" },
        el("div", { className: "item-title" }, p.title, " ",
          isPinned ? el("span", { className: "badge pinned" }, t("studio.products.pinned")) : null,
          inRoom && !isPinned
            ? el("span", { className: "badge" }, t("studio.products.inRoom")) : null),
        el("div", {}, formatMoney(p.price, p.currency), " · ",
          t("studio.products.stockN", { n: p.stock }), " · ",
          t("studio.products.limitN", { n: p.per_buyer_limit }),
          p.shipping_fee ? ` · ${t("studio.products.shippingN",
            { fee: formatMoney(p.shipping_fee, p.currency) })}` : "",
          p.ship_by_hours ? ` · ${t("studio.products.shipByN", { n: p.ship_by_hours })}` : ""),
        variants.length ? el("div", { className: "muted" }, variants.map((v) =>
          `${v.label} ${formatMoney(v.price, p.currency)} (${tn("common.units", v.stock)})`)
          .join(" · ")) : null),
      el("div", { className: "item-actions" },
        act("edit", "studio.products.edit", async () => this.edit(p)),
        inRoom
          ? act("attach", "studio.products.detach", () => sell.detach(p))
          : act("attach", "studio.products.attach", () => sell.attach(p)),
        isPinned
          ? act("pin", "studio.products.unpin", () => sell.unpin())
          : act("pin", "studio.products.pin", () => sell.pin(p), "primary"),
        act("sell", "studio.products.sell", async () => sell.openSale(p)),
        act("archive", "studio.products.archive", () => this.archive(p)),
        act("delete", "studio.products.delete", () => this.remove(p))));
  }

  async archive(p) {
    await api("POST", `/api/products/${encodeURIComponent(p.product_id)}/archive`);
    say(this.els.msg, "studio.products.archived", { title: p.title }, "ok");
    await this.load();
    if (this.els.archivedBox.open) await this.loadArchived();
    this.feed.refresh();
  }

  async restore(p) {
    await api("POST", `/api/products/${encodeURIComponent(p.product_id)}/restore`);
    say(this.els.msg, "studio.products.restored", { title: p.title }, "ok");
    await Promise.all([this.load(), this.loadArchived()]);
  }

  async remove(p) {
    const yes = await confirmSheet({ text: "studio.products.deleteQuestion",
      detail: "studio.products.deleteDetail", yes: "studio.products.delete",
      vars: { title: p.title } });
    if (!yes) return;
    await api("DELETE", `/api/products/${encodeURIComponent(p.product_id)}`);
    say(this.els.msg, "studio.products.deleted", { title: p.title }, "ok");
    await this.load();
    this.feed.refresh();
  }

  renderArchived() {
    syncList(this.els.archived, this.archived, {
      key: (p) => p.product_id,
      sig: (p) => [p.title, p.price, t("studio.products.restore")].join("|"),
      build: (p) => {
        const restore = el("button", { type: "button", dataset: { focus: "restore" },
          "aria-label": t("studio.products.restoreNamed", { title: p.title }) },
        t("studio.products.restore"));
        restore.addEventListener("click", () => busy(restore, this.els.msg,
          () => this.restore(p)));
        return el("li", { dataset: { productId: p.product_id } },
          el("div", { className: "item-main" }, el("div", { className: "item-title" }, p.title),
            el("div", {}, formatMoney(p.price, p.currency))),
          el("div", { className: "item-actions" }, restore));
      },
    });
  }
}

// An edit sends only what the host changed; a stock change says which figure it replaces,
// so units sold while the form was open are not put back (the server answers 409).
export function productChanges(before, form) {
  const out = {};
  for (const [k, v] of Object.entries(form)) {
    const was = k === "label" ? (before.label ?? before.variant_label) : before[k];
    if ((was ?? (typeof v === "number" ? 0 : "")) !== v) out[k] = v;
  }
  if ("stock" in out) out.expected_stock = before.stock;
  return out;
}

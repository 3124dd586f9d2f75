// The buy sheet that slides up from the bottom: the variant (when the card has variants), the
// quantity within the stock and the per-buyer limit, the shipping fee and the total, how
// payment works (cash on delivery, or transfer that the host confirms: snapshot `payment`),
// and the delivery details, asked on the first order only (the server remembers them and
// GET /api/me returns them). Buys go on the data channel under an idempotency key that is
// reused when a buy is retried, so a retry never makes a second order.

import { t, tn } from "../shared/i18n.js";
import { errorText } from "../shared/errors.js";
import { money } from "./watch-format.js";

const BUY_ATTEMPTS = 4;
const BUY_REPLY_MS = 8000;
const PHONE = /^\+?[0-9 ()\-]{5,24}$/; // as the server checks it

function randomKey() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return `buy-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function complete(contact) {
  return Boolean(contact && contact.name && contact.phone && contact.address);
}

const positive = (n) => (Number(n) > 0 ? Number(n) : Infinity);

export function createCheckout({ els, room, conn, api, orders, coupons }) {
  const state = {
    contact: null, // what the server remembers (GET /api/me), or what this page sent
    contactLoaded: false,
    from: null, // { card } or { sale }: what the sheet sells
    variant: "", // the chosen variant's product_id
    key: "", // idempotency key of the purchase being placed; reused on retries
    busy: false,
    editContact: false,
    opener: null,
  };

  async function loadKnown() {
    try {
      const resp = await api("/api/me");
      if (resp.ok) {
        const me = await resp.json();
        if (me.contact && !state.contact) state.contact = me.contact;
      }
      state.contactLoaded = true;
    } catch {
      // Offline for a moment: the sheet asks for the details instead.
    }
    await orders.load();
  }

  /** What is bought now: {product_id|sale_id, title, price, currency, max, shipping}. */
  function target() {
    const from = state.from;
    if (!from) return null;
    if (from.sale) {
      const sale = room.sales.get(from.sale.sale_id) || from.sale;
      const card = room.pinned;
      const shipping = sale.shipping_fee ?? (card ? card.shipping_fee : 0) ?? 0;
      return { sale_id: sale.sale_id, product_id: sale.product_id, title: sale.title,
               price: sale.price, currency: sale.currency, shipping: Number(shipping) || 0,
               limit: sale.per_buyer_limit, stock: Math.max(0, sale.remaining) };
    }
    const card = room.pinned && room.pinned.product_id === from.card.product_id
      ? room.pinned : from.card;
    const variants = Array.isArray(card.variants) ? card.variants : [];
    const v = variants.find((x) => x.product_id === state.variant);
    const item = v || card;
    return { product_id: item.product_id, title: v ? `${card.title} · ${v.label}` : card.title,
             price: item.price, currency: card.currency, shipping: Number(card.shipping_fee) || 0,
             limit: item.per_buyer_limit ?? card.per_buyer_limit,
             stock: Math.max(0, Number(item.stock) || 0), needsVariant: variants.length > 0 && !v };
  }

  function maxQuantity(tg) {
    return Math.max(1, Math.min(99, positive(tg.limit), tg.stock > 0 ? tg.stock : 1));
  }

  function quantity() {
    const tg = target();
    return Math.max(1, Math.min(tg ? maxQuantity(tg) : 99, Math.floor(Number(els.quantity.value) || 1)));
  }

  async function open(from, opener) {
    if (!state.contactLoaded) await loadKnown();
    const productId = from.sale ? from.sale.product_id : from.card.product_id;
    conn.send({ type: "card_click", product_id: productId });
    state.from = from;
    state.opener = opener;
    state.key = "";
    state.variant = "";
    if (from.card && Array.isArray(from.card.variants)) {
      const first = from.card.variants.find((v) => Number(v.stock) > 0);
      state.variant = first ? first.product_id : "";
    }
    state.editContact = !complete(state.contact);
    els.quantity.value = "1";
    setStatus(null);
    render();
    if (!els.checkout.open) els.checkout.showModal();
    (state.editContact ? els.name : els.quantity).focus();
  }

  function renderVariants(card) {
    const variants = card && Array.isArray(card.variants) ? card.variants : [];
    els.variants.hidden = variants.length === 0;
    els.variantList.replaceChildren(...variants.map((v) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "variant";
      input.value = v.product_id;
      input.checked = v.product_id === state.variant;
      input.disabled = !(Number(v.stock) > 0);
      input.addEventListener("change", () => {
        state.variant = v.product_id;
        render();
      });
      const text = document.createElement("span");
      text.textContent = t("watch.checkout.variant", {
        label: v.label, price: money(v.price, card.currency),
        stock: Number(v.stock) > 0 ? tn("common.unitsLeft", v.stock) : t("watch.card.soldOut") });
      label.append(input, text);
      return label;
    }));
  }

  function renderPayment() {
    const payment = room.payment;
    let text = "";
    if (payment && payment.provider === "cod") text = t("watch.pay.cod");
    if (payment && payment.provider === "manual") {
      const minutes = Math.max(1, Math.round((Number(payment.reservation_ttl_s) || 0) / 60));
      text = payment.reservation_ttl_s ? t("watch.pay.manualHeld",
                                           { time: tn("common.minutes", minutes) })
        : t("watch.pay.manual");
    }
    els.checkoutPayment.textContent = text;
  }

  function render() {
    const tg = target();
    if (!tg) return;
    renderVariants(state.from.card ? (room.pinned && room.pinned.product_id === state.from.card.product_id
      ? room.pinned : state.from.card) : null);
    els.checkoutItem.textContent = t(tg.sale_id ? "watch.checkout.itemSale" : "watch.checkout.item",
                                     { title: tg.title, price: money(tg.price, tg.currency) });
    const max = maxQuantity(tg);
    els.quantity.max = String(max);
    const qty = quantity();
    if (Number(els.quantity.value) > max) els.quantity.value = String(max);
    els.qtyMinus.disabled = qty <= 1;
    els.qtyPlus.disabled = qty >= max;
    els.qtyHint.textContent = t("watch.checkout.atMost", { n: max });
    els.checkoutSubtotal.textContent = money(tg.price * qty, tg.currency);
    els.checkoutShipping.textContent = tg.shipping > 0 ? money(tg.shipping, tg.currency)
      : t("watch.checkout.freeShipping");
    const off = coupons.apply(tg.price * qty, tg.currency); // a claimed coupon, applied
    coupons.renderDiscount(els.checkoutSubtotal.parentElement, off, tg.currency);
    els.checkoutTotal.textContent = t("watch.checkout.total", {
      total: money(tg.price * qty + tg.shipping - (off ? off.discount : 0), tg.currency) });
    renderPayment();
    const edit = state.editContact;
    els.contactFields.hidden = !edit;
    els.contactFields.disabled = !edit; // disabled fields are not validated or sent
    els.contactSummary.hidden = edit;
    const c = state.contact;
    if (edit && c) {
      els.name.value ||= c.name || "";
      els.phone.value ||= c.phone || "";
      els.address.value ||= c.address || "";
    }
    if (!edit && c) {
      els.contactText.textContent = t("watch.checkout.deliverTo",
                                      { name: c.name, phone: c.phone, address: c.address });
    }
    els.placeOrder.textContent = state.busy ? t("watch.checkout.placing") : t("watch.checkout.place");
    els.placeOrder.disabled = state.busy;
  }

  function setStatus(text, kind = "info") {
    els.checkoutStatus.textContent = text || "";
    els.checkoutStatus.dataset.state = kind;
  }

  /** Check the contact fields; the first wrong one gets the focus and a message. */
  function validContact() {
    if (!state.editContact) return true;
    const checks = [
      [els.name, (v) => v.length > 0, "watch.checkout.needName"],
      [els.phone, (v) => PHONE.test(v), "watch.checkout.needPhone"],
      [els.address, (v) => v.length > 0, "watch.checkout.needAddress"],
    ];
    let first = null;
    for (const [input, ok, key] of checks) {
      const bad = !ok(input.value.trim());
      input.setAttribute("aria-invalid", String(bad));
      if (bad && !first) first = [input, key];
    }
    if (!first) return true;
    setStatus(t(first[1]), "error");
    first[0].focus();
    return false;
  }

  /** Send the buy, retrying on silence with the same key; the reply, or the last failure. */
  async function send(message) {
    let failure = null;
    for (let attempt = 0; attempt < BUY_ATTEMPTS; attempt += 1) {
      if (attempt) {
        setStatus(t("watch.checkout.retrying"));
        message.retry = true; // the first may have made an order on another node
      }
      if (!(await conn.waitOpen(15000))) return { failure: { code: "offline" } };
      let reply;
      try {
        reply = await conn.request(message, BUY_REPLY_MS);
      } catch (err) {
        failure = { code: err.code || "timeout" }; // same key next time: never two orders
        continue;
      }
      if (reply.type === "error" && reply.code === "internal") {
        failure = reply;
        await new Promise((resolve) => { setTimeout(resolve, 1000); });
        continue;
      }
      return { reply };
    }
    return { failure };
  }

  async function placeOrder() {
    const tg = target();
    if (!tg || state.busy || !validContact()) return;
    if (tg.needsVariant) {
      setStatus(errorText("choose_variant"), "error");
      return;
    }
    const message = { type: "buy", quantity: quantity() };
    if (tg.sale_id) message.sale_id = tg.sale_id;
    else message.product_id = tg.product_id;
    const off = coupons.apply(tg.price * message.quantity, tg.currency);
    if (off) message.coupon_id = off.coupon_id;
    let contact = null;
    if (state.editContact) {
      contact = { name: els.name.value.trim(), phone: els.phone.value.trim(),
                  address: els.address.value.trim() };
      message.contact = contact;
    }
    if (state.key) message.retry = true; // a tap again after a failure: the same purchase
    state.key ||= randomKey();
    message.idempotency_key = state.key;
    state.busy = true;
    setStatus(t("watch.checkout.placing"));
    render();
    const { reply, failure } = await send(message);
    state.busy = false;
    if (reply && reply.type === "buy_result" && reply.order) {
      state.key = "";
      if (contact) state.contact = contact;
      state.editContact = false;
      orders.merge(reply.order);
      if (off) coupons.settled(reply.order);
      orders.say(reply.order.created === false ? "watch.buy.again" : "watch.buy.placed",
                 reply.order.order_id);
      els.checkout.close();
      state.from = null;
      return;
    }
    if (reply) {
      state.key = ""; // refused for good: a new attempt is a new purchase
      if (String(reply.code).startsWith("coupon_")) coupons.settled(null);
      if (reply.code === "contact_required" || (reply.code === "invalid" && state.editContact)) {
        state.editContact = true;
      }
    }
    setStatus(errorText(reply || failure), "error");
    render();
  }

  function step(by) {
    els.quantity.value = String(quantity() + by);
    render();
  }

  els.quantity.addEventListener("input", render);
  els.qtyMinus.addEventListener("click", () => step(-1));
  els.qtyPlus.addEventListener("click", () => step(1));
  els.contactChange.addEventListener("click", () => {
    state.editContact = true;
    render();
    els.name.focus();
  });
  els.checkoutForm.addEventListener("submit", (event) => {
    event.preventDefault();
    placeOrder();
  });
  els.checkoutCancel.addEventListener("click", () => els.checkout.close());
  els.checkout.addEventListener("close", () => {
    const opener = state.opener;
    if (opener && !opener.hidden && !opener.disabled) opener.focus();
  });

  return {
    open,
    loadKnown,
    render() {
      if (els.checkout.open) render();
    },
    languageChanged() {
      if (state.from) render();
    },
  };
}

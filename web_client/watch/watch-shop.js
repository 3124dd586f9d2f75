// The viewer's shop: the pinned product card, the flash-sale banner with its countdown and
// stock, and the checkout (name, phone and address asked once; the server remembers them and
// GET /api/me returns them), with buys on the data channel under an idempotency key that is
// reused when a buy is retried. The orders that follow live in watch-orders.js.

import { t } from "../shared/i18n.js";
import { clock, friendlyError, money } from "./watch-format.js";

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

export function createShop({ els, room, conn, api, orders }) {
  const state = {
    contact: null, // what the server remembers (GET /api/me), or what this page sent
    contactLoaded: false,
    target: null, // what the checkout is buying
    key: "", // idempotency key of the purchase being placed; reused on retries
    busy: false,
    editContact: false,
    descriptionOpen: false,
  };

  // -- card and sale --------------------------------------------------------------------------

  function renderCard() {
    const card = room.pinned;
    els.card.hidden = !card;
    if (!card) {
      state.descriptionOpen = false;
      return;
    }
    if (els.card.dataset.productId !== card.product_id) {
      els.card.dataset.productId = card.product_id;
      state.descriptionOpen = false;
    }
    els.cardTitle.textContent = card.title || "";
    const sale = room.liveSaleOf(card.product_id);
    els.cardPrice.textContent = money(sale ? sale.price : card.price, card.currency);
    const was = sale && card.price > sale.price ? money(card.price, card.currency) : "";
    els.cardListPrice.textContent = was;
    els.cardListPrice.hidden = !was;
    if (was) els.cardListPrice.setAttribute("aria-label", t("watch.card.was", { price: was }));
    if (card.image) {
      if (els.cardImage.getAttribute("src") !== card.image) els.cardImage.src = card.image;
      els.cardImage.hidden = false;
    } else {
      els.cardImage.removeAttribute("src");
      els.cardImage.hidden = true;
    }
    els.cardDescription.textContent = card.description || t("watch.card.noDescription");
    els.cardDescription.hidden = !state.descriptionOpen;
    els.cardOpen.setAttribute("aria-expanded", String(state.descriptionOpen));
    els.cardOpen.setAttribute("aria-label", t("watch.card.details", { title: card.title || "" }));
    els.buy.textContent = t("watch.card.buy");
  }

  function renderSale() {
    const sale = room.currentSale();
    els.sale.hidden = !sale;
    if (!sale) return;
    els.sale.dataset.saleId = sale.sale_id;
    // For the pinned product the card says what it is and its Buy button takes the sale price.
    const onCard = Boolean(room.pinned && room.pinned.product_id === sale.product_id);
    els.sale.classList.toggle("on-card", onCard);
    els.saleTitle.textContent = sale.title || "";
    els.saleTitle.hidden = onCard;
    els.salePrice.textContent = money(sale.price, sale.currency);
    const was = sale.list_price > sale.price ? money(sale.list_price, sale.currency) : "";
    els.saleListPrice.textContent = was;
    els.saleListPrice.hidden = !was;
    if (was) els.saleListPrice.setAttribute("aria-label", t("watch.card.was", { price: was }));
    const soldOut = sale.remaining <= 0;
    els.saleStock.textContent = soldOut ? t("watch.sale.soldOut")
      : t("watch.sale.left", { n: sale.remaining, total: sale.quantity });
    els.sale.classList.toggle("sold-out", soldOut);
    els.saleBuy.textContent = t("watch.sale.buy");
    tick();
  }

  /** The countdown, every quarter second. */
  function tick() {
    const sale = room.currentSale();
    if (!sale) return;
    const now = room.now();
    let text;
    let open = false;
    if (sale.status === "scheduled" || (sale.starts_at && now < sale.starts_at)) {
      text = now < sale.starts_at ? t("watch.sale.startsIn", { time: clock(sale.starts_at - now) })
        : t("watch.sale.starting");
    } else if (sale.ends_at && now >= sale.ends_at) {
      text = t("watch.sale.ending");
    } else {
      text = sale.ends_at ? t("watch.sale.endsIn", { time: clock(sale.ends_at - now) }) : "";
      open = sale.remaining > 0;
    }
    if (els.saleCountdown.textContent !== text) els.saleCountdown.textContent = text;
    els.saleBuy.hidden = !open || els.sale.classList.contains("on-card");
    const label = t("watch.sale.label");
    if (els.sale.dataset.label !== label) {
      els.sale.dataset.label = label;
      els.sale.setAttribute("aria-label", label);
    }
    // The card's price follows the sale opening and closing.
    if (room.pinned && sale.product_id === room.pinned.product_id
        && Boolean(room.liveSaleOf(sale.product_id)) !== (els.card.dataset.onSale === "1")) {
      els.card.dataset.onSale = room.liveSaleOf(sale.product_id) ? "1" : "0";
      renderCard();
    }
  }

  // -- checkout -------------------------------------------------------------------------------

  async function loadKnown() {
    try {
      const resp = await api("/api/me");
      if (resp.ok) {
        const me = await resp.json();
        if (me.contact && !state.contact) state.contact = me.contact;
      }
      state.contactLoaded = true;
    } catch {
      // Offline for a moment: the checkout asks for the details instead.
    }
    await orders.load();
  }

  function openCheckout(target) {
    conn.send({ type: "card_click", product_id: target.product_id });
    state.target = target;
    state.key = "";
    state.editContact = !complete(state.contact);
    els.quantity.max = String(Math.max(1, Math.min(99, target.limit || 99)));
    els.quantity.value = "1";
    setCheckoutStatus(null);
    renderCheckout();
    if (!els.checkout.open) els.checkout.showModal();
    (state.editContact ? els.name : els.quantity).focus();
  }

  function renderCheckout() {
    const target = state.target;
    if (!target) return;
    els.checkoutItem.textContent = t(target.sale_id ? "watch.checkout.itemSale"
      : "watch.checkout.item", { title: target.title, price: money(target.price, target.currency) });
    const qty = Math.max(1, Math.min(99, Number(els.quantity.value) || 1));
    els.checkoutTotal.textContent = t("watch.checkout.total",
                                      { total: money(target.price * qty, target.currency) });
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
    els.placeOrder.textContent = state.busy ? t("watch.checkout.placing")
      : t("watch.checkout.place");
    els.placeOrder.disabled = state.busy;
  }

  function setCheckoutStatus(text, kind = "info") {
    els.checkoutStatus.textContent = text || "";
    els.checkoutStatus.dataset.state = kind;
  }

  function cardTarget() {
    const card = room.pinned;
    if (!card) return null;
    const sale = room.liveSaleOf(card.product_id);
    return sale ? saleTarget(sale)
      : { product_id: card.product_id, title: card.title, price: card.price,
          currency: card.currency, limit: card.per_buyer_limit };
  }

  function saleTarget(sale) {
    return { sale_id: sale.sale_id, product_id: sale.product_id, title: sale.title,
             price: sale.price, currency: sale.currency,
             limit: Math.min(sale.per_buyer_limit || 99, Math.max(1, sale.remaining)) };
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
    setCheckoutStatus(t(first[1]), "error");
    first[0].focus();
    return false;
  }

  async function placeOrder() {
    const target = state.target;
    if (!target || state.busy || !validContact()) return;
    const quantity = Math.max(1, Math.min(99, Math.floor(Number(els.quantity.value) || 1)));
    const message = { type: "buy", quantity };
    if (target.sale_id) message.sale_id = target.sale_id;
    else message.product_id = target.product_id;
    let contact = null;
    if (state.editContact) {
      contact = { name: els.name.value.trim(), phone: els.phone.value.trim(),
                  address: els.address.value.trim() };
      message.contact = contact;
    }
    state.key ||= randomKey();
    message.idempotency_key = state.key;
    state.busy = true;
    setCheckoutStatus(t("watch.checkout.placing"));
    renderCheckout();
    let reply = null;
    let failure = null;
    for (let attempt = 0; attempt < BUY_ATTEMPTS && !reply; attempt += 1) {
      if (attempt) setCheckoutStatus(t("watch.checkout.retrying"));
      if (!(await conn.waitOpen(15000))) {
        failure = { code: "offline" };
        break;
      }
      try {
        reply = await conn.request(message, BUY_REPLY_MS);
      } catch (err) {
        failure = { code: err.code || "timeout" }; // same key next time: never two orders
        continue;
      }
      if (reply.type === "error" && reply.code === "internal") {
        failure = reply;
        reply = null;
        await new Promise((resolve) => { setTimeout(resolve, 1000); });
      }
    }
    state.busy = false;
    if (reply && reply.type === "buy_result" && reply.order) {
      state.key = "";
      if (contact) state.contact = contact;
      state.editContact = false;
      orders.merge(reply.order);
      orders.say(reply.order.created === false ? "watch.buy.again" : "watch.buy.placed",
                 reply.order.order_id);
      els.checkout.close();
      state.target = null;
      return;
    }
    if (reply) {
      state.key = ""; // refused for good: a new attempt is a new purchase
      if (reply.code === "contact_required" || (reply.code === "invalid" && state.editContact)) {
        state.editContact = true;
      }
      failure = reply;
    }
    setCheckoutStatus(friendlyError(failure), "error");
    renderCheckout();
  }

  // -- wiring ---------------------------------------------------------------------------------

  els.cardOpen.addEventListener("click", () => {
    const card = room.pinned;
    if (!card) return;
    conn.send({ type: "card_click", product_id: card.product_id });
    state.descriptionOpen = !state.descriptionOpen;
    renderCard();
  });
  els.buy.addEventListener("click", async () => {
    const target = cardTarget();
    if (!target) return;
    if (!state.contactLoaded) await loadKnown();
    openCheckout(target);
  });
  els.saleBuy.addEventListener("click", async () => {
    const sale = room.currentSale();
    if (!sale) return;
    if (!state.contactLoaded) await loadKnown();
    openCheckout(saleTarget(sale));
  });
  els.quantity.addEventListener("input", renderCheckout);
  els.contactChange.addEventListener("click", () => {
    state.editContact = true;
    renderCheckout();
    els.name.focus();
  });
  els.checkoutForm.addEventListener("submit", (event) => {
    event.preventDefault();
    placeOrder();
  });
  els.checkoutCancel.addEventListener("click", () => els.checkout.close());
  els.checkout.addEventListener("close", () => {
    const opener = room.pinned ? els.buy : els.saleBuy;
    if (!opener.hidden) opener.focus();
  });

  return {
    loadKnown,
    tick,
    render() {
      renderCard();
      renderSale();
      if (els.checkout.open) renderCheckout();
    },
    languageChanged() {
      renderCheckout();
    },
  };
}

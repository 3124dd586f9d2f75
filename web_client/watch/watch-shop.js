// The viewer's shop over the video's lower third: the pinned product card (price, stock and
// the per-buyer limit shown before the tap; a sold-out card says so and its Buy is disabled)
// and the flash-sale banner (countdown, units left and a stock bar). Buying happens in the
// sheet of watch-checkout.js.

import { t, tn } from "../shared/i18n.js";
import { clock, money } from "./watch-format.js";

/** Units of a card still buyable: its own stock, or its variants' together. */
export function cardStock(card) {
  if (Array.isArray(card.variants) && card.variants.length) {
    return card.variants.reduce((sum, v) => sum + Math.max(0, Number(v.stock) || 0), 0);
  }
  return Math.max(0, Number(card.stock) || 0);
}

/** The live sale of a card's product or of one of its variants, if any. */
export function saleOfCard(room, card) {
  const ids = [card.product_id, ...(card.variants || []).map((v) => v.product_id)];
  for (const id of ids) {
    const sale = room.liveSaleOf(id);
    if (sale) return sale;
  }
  return null;
}

function onCard(room, sale) {
  const card = room.pinned;
  return Boolean(card && (card.product_id === sale.product_id
    || (card.variants || []).some((v) => v.product_id === sale.product_id)));
}

export function createShop({ els, room, conn, checkout }) {
  const state = { descriptionOpen: false };

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
    const sale = saleOfCard(room, card);
    els.cardPrice.textContent = money(sale ? sale.price : card.price, card.currency);
    const was = sale && card.price > sale.price ? money(card.price, card.currency) : "";
    els.cardListPrice.textContent = was;
    els.cardListPrice.hidden = !was;
    if (was) els.cardListPrice.setAttribute("aria-label", t("watch.card.was", { price: was }));
    const image = card.thumb || card.image;
    if (image) {
      if (els.cardImage.getAttribute("src") !== image) els.cardImage.src = image;
      els.cardImage.hidden = false;
    } else {
      els.cardImage.removeAttribute("src");
      els.cardImage.hidden = true;
    }
    // Before the tap: what is left and how many one buyer may take.
    const stock = sale ? sale.remaining : cardStock(card);
    const soldOut = stock <= 0;
    const limit = sale ? sale.per_buyer_limit : card.per_buyer_limit;
    els.card.classList.toggle("sold-out", soldOut);
    els.card.dataset.stock = String(stock);
    els.cardStock.textContent = soldOut ? t("watch.card.soldOut") : tn("common.unitsLeft", stock);
    els.cardLimit.textContent = limit > 0 && !soldOut ? tn("common.perBuyer", limit) : "";
    els.cardDescription.textContent = card.description || t("watch.card.noDescription");
    els.cardDescription.hidden = !state.descriptionOpen;
    els.cardOpen.setAttribute("aria-expanded", String(state.descriptionOpen));
    els.cardOpen.setAttribute("aria-label", t("watch.card.details", { title: card.title || "" }));
    els.buy.textContent = soldOut ? t("watch.card.soldOut") : t("watch.card.buy");
    els.buy.disabled = soldOut;
    if (soldOut) els.buy.setAttribute("aria-label", t("watch.card.buyDisabled"));
    else els.buy.removeAttribute("aria-label");
  }

  function renderSale() {
    const sale = room.currentSale();
    els.sale.hidden = !sale;
    if (!sale) return;
    els.sale.dataset.saleId = sale.sale_id;
    // For the pinned product the card says what it is and its Buy button takes the sale price.
    const pinnedSale = onCard(room, sale);
    els.sale.classList.toggle("on-card", pinnedSale);
    els.saleTitle.textContent = sale.title || "";
    els.saleTitle.hidden = pinnedSale;
    els.salePrice.textContent = money(sale.price, sale.currency);
    const was = sale.list_price > sale.price ? money(sale.list_price, sale.currency) : "";
    els.saleListPrice.textContent = was;
    els.saleListPrice.hidden = !was;
    if (was) els.saleListPrice.setAttribute("aria-label", t("watch.card.was", { price: was }));
    const soldOut = sale.remaining <= 0;
    els.saleStock.textContent = soldOut ? t("watch.sale.soldOut")
      : t("watch.sale.left", { n: sale.remaining, total: sale.quantity });
    els.sale.classList.toggle("sold-out", soldOut);
    const share = sale.quantity > 0 ? Math.max(0, Math.min(1, sale.remaining / sale.quantity)) : 0;
    els.saleBar.style.width = `${Math.round(share * 100)}%`;
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
    if (room.pinned && onCard(room, sale)
        && Boolean(saleOfCard(room, room.pinned)) !== (els.card.dataset.onSale === "1")) {
      els.card.dataset.onSale = saleOfCard(room, room.pinned) ? "1" : "0";
      renderCard();
    }
  }

  els.cardOpen.addEventListener("click", () => {
    const card = room.pinned;
    if (!card) return;
    conn.send({ type: "card_click", product_id: card.product_id });
    state.descriptionOpen = !state.descriptionOpen;
    renderCard();
  });
  els.buy.addEventListener("click", () => {
    const card = room.pinned;
    if (!card || els.buy.disabled) return;
    const sale = saleOfCard(room, card);
    checkout.open(sale ? { sale } : { card }, els.buy);
  });
  els.saleBuy.addEventListener("click", () => {
    const sale = room.currentSale();
    if (sale) checkout.open({ sale }, els.saleBuy);
  });

  return {
    tick,
    render() {
      renderCard();
      renderSale();
    },
  };
}

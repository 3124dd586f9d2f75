// The viewer's orders in this room: loaded from GET /api/me/orders (at start and after a
// reconnect, since order_status events sent while the page was away are not in the room
// snapshot), then kept current by buy results and order_status events.

import { language, t, tn } from "../shared/i18n.js";
import { money } from "./watch-format.js";

const TOAST_MS = 8000;
const ORDER_STEPS = ["reserved", "confirmed", "shipped", "delivered"];

export function createOrders({ els, api, roomId }) {
  const orders = new Map(); // order_id -> order
  let shown = null; // { key, order }: what #shop-status says

  /** This room's orders of this viewer (at start, and after a reconnect: order_status events
   * sent while the page was away are not in the room snapshot). */
  async function loadOrders() {
    try {
      const resp = await api("/api/me/orders");
      if (!resp.ok) return;
      for (const order of (await resp.json()).orders || []) {
        if (order.room_id === roomId) mergeOrder(order);
      }
    } catch {
      // Offline for a moment; events keep the list current once the connection is back.
    }
  }

  function mergeOrder(order) {
    if (!order || !order.order_id) return;
    const old = orders.get(order.order_id);
    // Never step back (a late reply after a newer order_status event).
    if (old && ORDER_STEPS.indexOf(order.status) < ORDER_STEPS.indexOf(old.status)
        && order.status !== "cancelled") return;
    orders.set(order.order_id, { ...old, ...order });
    renderOrders();
  }

  function orderStatus(order) {
    if (order.status === "shipped" || order.status === "delivered") {
      return t(`watch.order.${order.status}`, { tracking: order.tracking_number || "—" });
    }
    if (order.status === "cancelled") {
      return t("watch.order.cancelled", { reason: order.cancel_reason || "" });
    }
    return t(`watch.order.${order.status === "reserved" ? "reserved" : "confirmed"}`);
  }

  function renderOrders() {
    const list = [...orders.values()].sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
    els.ordersOpen.hidden = list.length === 0; // the button appears with the first order
    els.ordersOpen.textContent = tn("watch.orders.open", list.length);
    els.orders.replaceChildren(...list.map((order) => {
      const li = document.createElement("li");
      li.dataset.orderId = order.order_id;
      li.dataset.status = order.status;
      const what = document.createElement("p");
      what.className = "order-what";
      what.textContent = t("watch.order.line", {
        title: order.product_title || "", quantity: order.quantity,
        total: money(typeof order.total === "number" ? order.total
          : (order.unit_price || 0) * (order.quantity || 1) + (order.shipping_fee || 0),
        order.currency) });
      const status = document.createElement("p");
      status.className = `order-status status-${order.status}`;
      status.textContent = orderStatus(order);
      const number = document.createElement("p");
      number.className = "order-number muted";
      number.textContent = t("watch.order.number", { id: order.order_id });
      li.append(what, status, number);
      if (order.payment && order.payment.method === "transfer" && order.status === "reserved") {
        const pay = document.createElement("p");
        pay.textContent = t("watch.order.payTransfer", {
          amount: money(order.payment.amount, order.payment.currency),
          reference: order.payment.reference,
          before: new Date(order.payment.pay_before * 1000).toLocaleTimeString(language()) });
        li.append(pay);
      }
      return li;
    }));
  }

  function renderShopMessage() {
    const msg = shown;
    if (!msg) {
      els.shopStatus.textContent = "";
      return;
    }
    const order = orders.get(msg.order);
    els.shopStatus.textContent = order ? t(msg.key, { id: order.order_id,
                                                      status: orderStatus(order) }) : "";
  }

  /** Replies and events that concern the shop. */
  function onMessage(message) {
    if (message.type === "order_status" && message.order) {
      const before = orders.get(message.order.order_id);
      mergeOrder(message.order);
      if (before && before.status !== message.order.status) {
        say("watch.buy.update", message.order.order_id);
      }
    } else if (message.type === "buy_result" && message.order) {
      mergeOrder(message.order);
    }
  }

  // The toast over the video goes after a while; the orders sheet keeps the full story.
  let toastTimer = null;
  function say(key, orderId) {
    shown = { key, order: orderId };
    renderShopMessage();
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      shown = null;
      renderShopMessage();
    }, TOAST_MS);
  }

  els.ordersOpen.addEventListener("click", () => {
    if (!els.ordersSheet.open) els.ordersSheet.showModal();
  });
  els.ordersClose.addEventListener("click", () => els.ordersSheet.close());

  return {
    all: orders,
    load: loadOrders,
    merge: mergeOrder,
    say,
    onMessage,
    languageChanged() {
      renderOrders();
      renderShopMessage();
    },
  };
}

// Buying a class on its page: contact details asked for once (or known from GET /api/me),
// one idempotency key per purchase attempt, and the whole class unlocked where the preview
// stopped once the order is confirmed.

import { formatMoney, t } from "../shared/i18n.js";
import { describeHttpError } from "./classes.js";

export function wireBuying({
  els, base, api, video, setStatus, fail, reason, loadPlay, onUnlocked,
}) {
  let known = null; // contact details the server already has, from GET /api/me
  let buyKey = "";

  function randomKey() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function knownContact() {
    if (known) return known;
    try {
      const resp = await api("/api/me");
      if (resp.ok) {
        const me = await resp.json();
        if (me.contact && me.contact.name && me.contact.phone) known = me.contact;
      }
    } catch {
      // Ask for the details instead.
    }
    return known;
  }

  async function buy(contact) {
    els.buy.disabled = true;
    els.confirm.disabled = true;
    setStatus("classes.buy.buying");
    // One key per purchase attempt, kept across retries so a resent request buys only once.
    if (!buyKey) buyKey = `class-${randomKey()}`;
    try {
      const body = { idempotency_key: buyKey };
      if (contact) body.contact = contact;
      const resp = await api(`${base}/buy`, { method: "POST", body });
      if (!resp.ok) {
        const message = await describeHttpError(resp);
        if (resp.status === 400 && !contact) {
          // The saved details were not enough: ask for them.
          known = null;
          openForm();
        }
        throw new Error(message);
      }
      const order = await resp.json();
      buyKey = "";
      if (contact) known = contact;
      await unlock(order);
    } catch (err) {
      fail("classes.buy.failed", { message: reason(err) });
    } finally {
      els.buy.disabled = false;
      els.confirm.disabled = false;
    }
  }

  /** After an order: reload /play and switch to the whole class where the preview stopped. */
  async function unlock(order) {
    const at = video.currentTime;
    for (let i = 0; ; i += 1) {
      const play = await loadPlay();
      if (play.entitled) {
        onUnlocked(play, at);
        setStatus("classes.buy.thanks");
        return;
      }
      if (i === 0) {
        const pay = order.payment || {};
        setStatus("classes.buy.waiting", {
          status: t(`classes.order.${order.status === "reserved" ? "reserved" : "placed"}`),
          amount: formatMoney(pay.amount ?? order.unit_price, pay.currency || order.currency),
          reference: pay.reference || order.order_id,
        });
      }
      await new Promise((resolve) => { setTimeout(resolve, 3000); });
    }
  }

  function openForm() {
    if (known) {
      els.name.value = known.name || "";
      els.phone.value = known.phone || "";
    }
    els.form.hidden = false;
    els.buy.hidden = true;
    els.name.focus();
  }

  els.buy.addEventListener("click", async () => {
    els.buy.disabled = true;
    const contact = await knownContact();
    els.buy.disabled = false;
    // Name and phone are asked for once; a viewer the server knows buys with one press.
    if (contact) buy(null);
    else openForm();
  });

  els.cancel.addEventListener("click", () => {
    els.form.hidden = true;
    els.buy.hidden = false;
    els.buy.focus();
  });

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const contact = { name: els.name.value.trim(), phone: els.phone.value.trim() };
    els.form.hidden = true;
    els.buy.hidden = false;
    buy(contact);
  });
}

// Coupons on the card area: a chip for each coupon the host pushed (coupon_pushed, the
// snapshot's coupons), "N left" kept in step by coupon_claimed, gone on coupon_ended or
// when it lapses. Tapping Claim sends claim_coupon on the data channel (HTTP when the
// channel is down); the checkout (watch-checkout.js) then applies the best claimed coupon
// that fits the order (`apply`) and names it in the buy. The server decides every claim and
// every discount: this page only shows what it said.

import { t, tn } from "../shared/i18n.js";
import { errorText } from "../shared/errors.js";
import { money } from "./watch-format.js";

const CLAIM_REPLY_MS = 8000;

/** What a coupon takes off `goods` minor units: as ROOM_BUY computes it (half up). */
export function discountOf(coupon, goods) {
  const off = coupon.kind === "percent"
    ? Math.floor((goods * coupon.value + 50) / 100) : Number(coupon.value) || 0;
  return Math.max(0, Math.min(off, goods));
}

/** The chip's words: "¥10 off", "15% off", with the minimum when there is one. */
export function couponLabel(coupon) {
  const off = coupon.kind === "percent" ? t("watch.coupon.percent", { n: coupon.value })
    : t("watch.coupon.amount", { amount: money(coupon.value, coupon.currency) });
  return coupon.min_order > 0
    ? t("watch.coupon.over", { off, min: money(coupon.min_order, coupon.currency) }) : off;
}

export function createCoupons({ room, conn, api, roomId }) {
  const box = document.getElementById("coupons");
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = "/static/watch/watch-coupons.css";
  document.head.append(style);
  const coupons = new Map(); // coupon_id -> the coupon as last heard
  const claims = new Map(); // coupon_id -> { used } for the coupons this viewer holds
  const busy = new Set();
  let note = "";

  function active(c) {
    return c.active !== false && !(c.expires_at && room.now() >= c.expires_at);
  }

  function chip(c) {
    const li = document.createElement("li");
    li.className = "coupon-chip";
    li.dataset.couponId = c.coupon_id;
    const text = document.createElement("span");
    text.className = "coupon-text";
    text.textContent = couponLabel(c);
    const held = claims.get(c.coupon_id);
    const left = document.createElement("span");
    left.className = "coupon-left";
    left.textContent = held ? t(held.used ? "watch.coupon.used" : "watch.coupon.claimed")
      : c.left > 0 ? tn("watch.coupon.left", c.left) : t("watch.coupon.gone");
    li.append(text, left);
    if (!held && c.left > 0) {
      const claim = document.createElement("button");
      claim.type = "button";
      claim.className = "coupon-claim";
      claim.disabled = busy.has(c.coupon_id);
      claim.textContent = t("watch.coupon.claim");
      claim.addEventListener("click", () => take(c.coupon_id));
      li.append(claim);
    }
    li.dataset.state = held ? (held.used ? "used" : "claimed") : c.left > 0 ? "open" : "gone";
    return li;
  }

  function render() {
    if (!box) return;
    const shown = [...coupons.values()].filter(active)
      .sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
    box.hidden = shown.length === 0 && !note;
    const list = document.createElement("ul");
    list.className = "coupon-list";
    list.append(...shown.map(chip));
    const status = document.createElement("p");
    status.className = "coupon-note";
    status.setAttribute("role", "status");
    status.textContent = note;
    box.replaceChildren(list, status);
  }

  function adopt(list) {
    coupons.clear();
    for (const c of Array.isArray(list) ? list : []) if (c && c.coupon_id) coupons.set(c.coupon_id, c);
  }

  async function claimOver(couponId) {
    if (conn.isOpen) {
      try {
        return await conn.request({ type: "claim_coupon", coupon_id: couponId }, CLAIM_REPLY_MS);
      } catch {
        // No answer on the channel: ask over HTTP (a claim held is answered again).
      }
    }
    const resp = await api(`/api/rooms/${encodeURIComponent(roomId)}/coupons/`
                           + `${encodeURIComponent(couponId)}/claim`, { method: "POST" });
    const body = await resp.json().catch(() => ({}));
    return resp.ok ? { type: "coupon_claim_result", ...body }
      : { type: "error", code: body.error ? body.error.code : "unknown" };
  }

  async function take(couponId) {
    if (busy.has(couponId)) return;
    busy.add(couponId);
    render();
    let reply;
    try {
      reply = await claimOver(couponId);
    } catch (err) {
      reply = { type: "error", code: err.code || "network" };
    }
    busy.delete(couponId);
    const c = coupons.get(couponId);
    if (reply.type === "coupon_claim_result") {
      claims.set(couponId, { used: Boolean(reply.used) });
      if (c && typeof reply.left === "number") c.left = reply.left;
      note = t("watch.coupon.claimedNote");
    } else {
      if (c && reply.code === "coupon_gone") c.left = 0;
      if (c && reply.code === "coupon_ended") c.active = false;
      note = errorText(reply);
    }
    render();
  }

  /** Which coupons this viewer holds here (after a reload, or on another device). */
  async function load() {
    try {
      const resp = await api(`/api/rooms/${encodeURIComponent(roomId)}/coupons/mine`);
      if (!resp.ok) return;
      const body = await resp.json();
      for (const c of body.coupons || []) claims.set(c.coupon_id, { used: Boolean(c.used) });
      render();
    } catch {
      // Offline for a moment: a claim tapped again is answered with the one held.
    }
  }

  return {
    load,
    render,
    /** Data-channel events and snapshots (welcome, snapshot replies). */
    onMessage(ev) {
      if (ev.snapshot && Array.isArray(ev.snapshot.coupons)) adopt(ev.snapshot.coupons);
      else if (ev.type === "coupon_pushed" && ev.coupon) coupons.set(ev.coupon.coupon_id, ev.coupon);
      else if (ev.type === "coupon_claimed" && coupons.has(ev.coupon_id)) {
        coupons.get(ev.coupon_id).left = ev.left;
      } else if (ev.type === "coupon_ended" && coupons.has(ev.coupon_id)) {
        coupons.get(ev.coupon_id).active = false;
      } else if (ev.type === "show_ended") {
        for (const c of coupons.values()) if (c.scope === "show") c.active = false;
      } else return;
      render();
    },
    /** The claimed, unused coupon taking the most off `goods` of `currency`, if any fits:
     * {coupon_id, discount, label}. */
    apply(goods, currency) {
      let best = null;
      for (const [id, held] of claims) {
        const c = coupons.get(id);
        if (held.used || !c || !active(c) || goods < (c.min_order || 0)) continue;
        if (c.currency && c.currency !== currency) continue;
        const discount = discountOf(c, goods);
        if (!best || discount > best.discount) best = { coupon_id: id, discount, label: couponLabel(c) };
      }
      return best;
    },
    /** The checkout's sums get a "Coupon … −¥10" line while one applies. */
    renderDiscount(sums, off, currency) {
      let label = sums.querySelector(".coupon-off-label");
      let value = sums.querySelector(".coupon-off");
      if (!label) {
        label = document.createElement("dt");
        label.className = "coupon-off-label";
        value = document.createElement("dd");
        value.className = "coupon-off";
        value.id = "checkout-discount";
        sums.append(label, value);
      }
      label.hidden = !off;
      value.hidden = !off;
      label.textContent = off ? t("watch.checkout.coupon", { label: off.label }) : "";
      value.textContent = off ? `−${money(off.discount, currency)}` : "";
    },
    /** An order used (or a refusal showed the server knows better): forget or reload. */
    settled(order) {
      if (order && order.coupon_id) claims.set(order.coupon_id, { used: true });
      else load();
      render();
    },
  };
}

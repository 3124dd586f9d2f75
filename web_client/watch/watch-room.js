// The room as this viewer sees it (host live or not, pinned card, sales, chat, likes), kept in
// step with the server by the events' sequence numbers (docs/events.md): events are applied
// in order; on a gap the page asks for a snapshot, applies it, and carries on from its seq,
// applying again any newer events it already had (events carry absolute values, so applying
// one twice is harmless).

const KEEP_RECENT = 200; // applied events kept to re-apply on top of a snapshot
const RESYNC_SPACING_MS = 1500; // at most one snapshot request this often
const MAX_CHAT = 200;

export class Room {
  /**
   * requestSnapshot(): Promise of a snapshot map (data channel, or HTTP as a fallback).
   * onChange(): the state changed; render.
   */
  constructor({ requestSnapshot, onChange }) {
    this.requestSnapshot = requestSnapshot;
    this.onChange = onChange;
    this.live = null; // null until the server has told us
    this.hostLeft = false;
    this.pinned = null;
    this.products = [];
    this.sales = new Map();
    this.chat = [];
    this.likes = 0;
    this.viewers = null; // how many watch (snapshot viewers, audience events)
    this.ended = false; // the host ended the show (show_ended, snapshot show.state "ended")
    this.replayUrl = null; // the class made from the ended show, once there is one
    this.sessionId = null;
    this.pinnedMessage = null;
    this.payment = null; // {provider: "cod" | "manual", reservation_ttl_s}
    this.viewerId = null;
    this.muted = false;
    this.clockOffset = 0; // server clock minus ours, in seconds
    this.seq = null; // last applied seq; null until this connection's welcome
    this.buffer = []; // events that came before the welcome
    this.recent = [];
    this.need = 0; // a snapshot must reach at least this seq (a gap was seen)
    this.resyncing = false;
    this.resyncTimer = null;
    this.lastResync = -Infinity;
    this.resyncs = 0;
  }

  /** Server time now, in UNIX seconds. */
  now() {
    return Date.now() / 1000 + this.clockOffset;
  }

  /** A new data channel: wait for its welcome before applying anything. */
  connectionOpened() {
    this.seq = null;
    this.buffer = [];
  }

  /** Feed one message from the server; replies without seq are ignored here. */
  handle(ev) {
    if (typeof ev.ts === "number" && (ev.type === "welcome" || typeof ev.seq === "number")) {
      this.clockOffset = ev.ts - Date.now() / 1000;
    }
    if (ev.type === "welcome") {
      this.welcome(ev);
      return;
    }
    if (typeof ev.seq !== "number") return;
    if (this.seq === null) {
      this.buffer.push(ev);
      return;
    }
    if (ev.seq <= this.seq) return; // already covered
    if (ev.seq > this.seq + 1) {
      // Missed something: apply this one now and fetch the rest as a snapshot.
      this.need = Math.max(this.need, ev.seq - 1);
      this.resync();
    }
    this.apply(ev);
    this.seq = ev.seq;
    this.recent.push(ev);
    if (this.recent.length > KEEP_RECENT) this.recent.shift();
    this.onChange();
  }

  welcome(ev) {
    if (ev.viewer_id) this.viewerId = ev.viewer_id;
    const snap = { ...(ev.snapshot || {}), live: Boolean(ev.live) };
    if (typeof ev.seq === "number") snap.seq = ev.seq;
    this.applySnapshot(snap);
    this.seq = Number(snap.seq) || 0;
    this.recent = this.recent.filter((e) => e.seq > this.seq);
    const early = this.buffer.sort((a, b) => a.seq - b.seq);
    this.buffer = [];
    this.onChange();
    for (const e of early) this.handle(e);
    // A welcome without the room's state (the server could not read it): fetch it.
    if (!ev.snapshot) this.resync();
  }

  applySnapshot(snap) {
    const wasLive = this.live;
    this.live = Boolean(snap.live);
    this.hostLeft = !this.live && (wasLive === true || this.hostLeft);
    this.pinned = snap.pinned || null;
    this.products = Array.isArray(snap.products) ? snap.products : [];
    this.sales = new Map((Array.isArray(snap.sales) ? snap.sales : [])
      .filter((s) => s && s.status !== "ended").map((s) => [s.sale_id, { ...s }]));
    if (Array.isArray(snap.chat)) this.chat = snap.chat.slice(-MAX_CHAT);
    if (typeof snap.likes === "number") this.likes = snap.likes;
    if (typeof snap.viewers === "number") this.viewers = snap.viewers;
    if ("pinned_message" in snap) this.pinnedMessage = snap.pinned_message || null;
    if (snap.payment && typeof snap.payment === "object") this.payment = snap.payment;
    const show = snap.show && typeof snap.show === "object" ? snap.show : null;
    if (show) {
      this.ended = show.state === "ended" && !this.live;
      this.sessionId = show.session_id || this.sessionId;
      this.replayUrl = this.ended ? (show.replay_url || null) : null;
      if (this.ended) this.hostLeft = false;
    }
  }

  /** A product's stock moved (product_stock): the card, the room's list and variants. */
  productStock(productId, stock) {
    const update = (card) => {
      if (!card) return card;
      let next = card;
      if (card.product_id === productId) next = { ...next, stock };
      if (Array.isArray(card.variants) && card.variants.some((v) => v.product_id === productId)) {
        const variants = card.variants.map((v) => (v.product_id === productId ? { ...v, stock } : v));
        next = { ...next, variants, stock: variants.reduce((sum, v) => sum + Math.max(0, v.stock), 0) };
      }
      return next;
    };
    this.pinned = update(this.pinned);
    this.products = this.products.map(update);
  }

  apply(ev) {
    switch (ev.type) {
      case "host_live":
        this.live = true;
        this.hostLeft = false;
        this.ended = false;
        this.replayUrl = null;
        break;
      case "host_left":
        this.live = false;
        this.hostLeft = !this.ended;
        break;
      case "show_ended":
        this.live = false;
        this.hostLeft = false;
        this.ended = true;
        this.sessionId = ev.session_id || this.sessionId;
        this.replayUrl = ev.replay_url || null;
        break;
      case "replay_ready":
        if (!ev.session_id || !this.sessionId || ev.session_id === this.sessionId) {
          this.replayUrl = ev.url || this.replayUrl;
        }
        break;
      case "audience":
        if (typeof ev.viewers === "number") this.viewers = ev.viewers;
        break;
      case "product_stock":
        if (ev.product_id && typeof ev.stock === "number") this.productStock(ev.product_id, ev.stock);
        break;
      case "chat_pinned":
        this.pinnedMessage = ev.message || null;
        break;
      case "chat_unpinned":
        this.pinnedMessage = null;
        break;
      case "viewer_unmuted":
        if (ev.viewer_id && ev.viewer_id === this.viewerId) this.muted = false;
        break;
      case "card_pinned":
        this.pinned = ev.card || null;
        if (ev.card && !this.products.some((p) => p.product_id === ev.card.product_id)) {
          this.products = [...this.products, ev.card];
        }
        break;
      case "card_unpinned":
        this.pinned = null;
        break;
      case "sale_scheduled":
      case "sale_started":
        if (ev.sale && ev.sale.sale_id) this.sales.set(ev.sale.sale_id, { ...ev.sale });
        break;
      case "sale_stock": {
        const sale = this.sales.get(ev.sale_id);
        if (sale) {
          sale.remaining = ev.remaining;
          if (typeof ev.quantity === "number") sale.quantity = ev.quantity;
        }
        break;
      }
      case "sale_sold_out": {
        const sale = this.sales.get(ev.sale_id);
        if (sale) sale.remaining = 0;
        break;
      }
      case "sale_ended":
        this.sales.delete(ev.sale_id);
        break;
      case "chat":
        if (ev.message && !this.chat.some((m) => m.message_id === ev.message.message_id)) {
          this.chat.push(ev.message);
          if (this.chat.length > MAX_CHAT) this.chat.shift();
        }
        break;
      case "chat_deleted":
        this.chat = this.chat.filter((m) => m.message_id !== ev.message_id);
        if (this.pinnedMessage && this.pinnedMessage.message_id === ev.message_id) {
          this.pinnedMessage = null;
        }
        break;
      case "viewer_muted":
        if (ev.viewer_id && ev.viewer_id === this.viewerId) this.muted = true;
        break;
      case "likes":
        if (typeof ev.total === "number") this.likes = Math.max(this.likes, ev.total);
        break;
      default:
        break; // order_status and anything newer: not room state
    }
  }

  /** Fetch a snapshot (spaced out, one at a time) and carry on from it. */
  resync() {
    if (this.resyncing || this.resyncTimer) return;
    const wait = this.lastResync + RESYNC_SPACING_MS - performance.now();
    if (wait > 0) {
      this.resyncTimer = setTimeout(() => { this.resyncTimer = null; this.resync(); }, wait);
      return;
    }
    this.resyncing = true;
    this.lastResync = performance.now();
    this.resyncs += 1;
    this.requestSnapshot().then((snap) => {
      this.resyncing = false;
      this.snapshotArrived(snap);
    }, (err) => {
      this.resyncing = false;
      console.warn("stallcast: snapshot failed", err);
      if (this.need) this.resync();
    });
  }

  snapshotArrived(snap) {
    if (!snap || typeof snap.seq !== "number") return;
    this.applySnapshot(snap);
    for (const e of this.recent) if (e.seq > snap.seq) this.apply(e);
    this.seq = this.seq === null ? snap.seq : Math.max(this.seq, snap.seq);
    if (this.need > snap.seq) this.resync();
    else this.need = 0;
    this.onChange();
  }

  /** The sale to show: one for the pinned product first, live before scheduled. */
  currentSale() {
    const pinned = this.pinned ? this.pinned.product_id : null;
    const rank = (s) => (s.product_id === pinned ? 0 : 2) + (s.status === "live" ? 0 : 1);
    const open = [...this.sales.values()].filter((s) => s.status !== "ended");
    open.sort((a, b) => rank(a) - rank(b) || (a.starts_at || 0) - (b.starts_at || 0));
    return open[0] || null;
  }

  /** A live sale of this product with units left, if any. */
  liveSaleOf(productId) {
    for (const s of this.sales.values()) {
      if (s.product_id === productId && s.status === "live" && s.remaining > 0
          && !(s.ends_at && this.now() >= s.ends_at)) return s;
    }
    return null;
  }
}

// The room as viewers see it, kept current for the host: a data-channel-only WHEP connection
// carries the room events (docs/events.md); GET /api/rooms/{id}/state fills in at the start,
// after a sequence gap, and once a second whenever the channel is not open.

import { decode } from "../shared/wire.js";
import { hostToken } from "./studio-api.js";
import { waitIceGathering } from "../shared/webrtc.js";

const POLL_MS = 1000;
const RECONNECT_MS = [2000, 5000, 10000, 20000];


export class RoomFeed {
  /** `onChange(what)` is called with the event type (or "snapshot") after each update. */
  constructor(roomId, { onChange = () => {}, stallcast = {} } = {}) {
    this.roomId = roomId;
    this.onChange = onChange;
    this.stallcast = stallcast;
    this.seq = 0;
    this.live = false;
    this.pinned = null;
    this.products = [];
    this.sales = new Map(); // sale_id -> Sale (ended ones stay, marked ended)
    // product_id -> stock as the room last told it (product_stock, snapshot cards): a direct
    // buy moves a chip's count without the catalogue being fetched again.
    this.stocks = new Map();
    this.chat = [];
    this.likes = 0;
    this.viewers = null; // the audience count the server last told
    this.pinnedMessage = null;
    this.show = null;
    this.muted = new Set();
    this.offset = null; // server clock minus ours, seconds
    this.pc = null;
    this.channelOpen = false;
    this.location = "";
    this.attempt = 0;
    this.closed = false;
    this.refreshing = null; // the snapshot request under way
    this.again = null; // the one queued behind it
    this.pollTimer = setInterval(() => {
      if (!this.channelOpen && !this.refreshing) this.refresh();
    }, POLL_MS);
    stallcast.events = [];
    this.refresh();
    this.connect();
    window.addEventListener("pagehide", () => this.close());
  }

  /** Server time now (seconds), from the clock offset the events and responses showed. */
  serverNow() {
    return Date.now() / 1000 + (this.offset ?? 0);
  }

  noteServerTime(ts) {
    if (typeof ts !== "number") return;
    // Delivery only makes ts look older, so the largest offset seen is the closest.
    const seen = ts - Date.now() / 1000;
    const first = this.offset === null || this.offsetGuessed;
    this.offset = first ? seen : Math.max(this.offset, seen);
    this.offsetGuessed = false;
  }

  /** Fetch the snapshot; a call made while one is under way gets a fresh one after it. */
  refresh() {
    if (this.closed) return Promise.resolve();
    if (this.refreshing) {
      this.again = this.again || this.refreshing.then(() => {
        this.again = null;
        return this.refresh();
      });
      return this.again;
    }
    this.refreshing = this.fetchState().finally(() => { this.refreshing = null; });
    return this.refreshing;
  }

  async fetchState() {
    try {
      const resp = await fetch(`/api/rooms/${encodeURIComponent(this.roomId)}/state`,
        { cache: "no-store" });
      if (!resp.ok) return;
      const date = Date.parse(resp.headers.get("Date") || "");
      if (this.offset === null && date) {
        // Whole seconds only: a guess until the first event brings the exact server time.
        this.offset = date / 1000 + 0.5 - Date.now() / 1000;
        this.offsetGuessed = true;
      }
      this.applySnapshot(await resp.json());
    } catch {
      // Offline for a moment: the next poll tries again.
    }
  }

  applySnapshot(snap) {
    if (!snap || typeof snap !== "object") return;
    if (typeof snap.seq === "number" && snap.seq < this.seq) return; // older than what we have
    this.seq = snap.seq ?? this.seq;
    this.live = Boolean(snap.live);
    this.pinned = snap.pinned || null;
    this.products = snap.products || [];
    for (const card of this.products) {
      for (const item of [card, ...(card.variants || [])]) {
        if (typeof item.stock === "number") this.stocks.set(item.product_id, item.stock);
      }
    }
    const open = new Set();
    for (const sale of snap.sales || []) {
      open.add(sale.sale_id);
      this.sales.set(sale.sale_id, sale);
    }
    for (const [id, sale] of this.sales) {
      if (!open.has(id) && sale.status !== "ended") this.sales.set(id, { ...sale, status: "ended" });
    }
    this.chat = (snap.chat || []).slice(-50);
    this.likes = snap.likes ?? this.likes;
    if (typeof snap.viewers === "number") this.viewers = snap.viewers;
    if ("pinned_message" in snap) this.pinnedMessage = snap.pinned_message || null;
    if (snap.show) this.show = snap.show;
    this.onChange("snapshot");
  }

  /** Apply one room event; returns false when a gap means the snapshot must be fetched. */
  apply(event) {
    if (event.type === "welcome") {
      this.noteServerTime(event.ts);
      this.applySnapshot(event.snapshot);
      return true;
    }
    if (typeof event.seq === "number") {
      if (event.seq <= this.seq) return true; // already reflected
      if (this.seq && event.seq > this.seq + 1) return false;
      this.seq = event.seq;
    }
    this.noteServerTime(event.ts);
    const sale = event.sale_id ? this.sales.get(event.sale_id) : null;
    switch (event.type) {
      case "host_live":
        this.live = true;
        break;
      case "host_left":
        this.live = false;
        this.hostLeftReason = event.reason || "";
        break;
      case "card_pinned":
        this.pinned = event.card;
        if (!this.products.some((p) => p.product_id === event.card.product_id)) {
          this.products = [...this.products, event.card];
        }
        break;
      case "card_unpinned":
        this.pinned = null;
        break;
      case "sale_scheduled":
      case "sale_started":
        this.sales.set(event.sale.sale_id, event.sale);
        break;
      case "sale_stock":
        if (sale) {
          this.sales.set(sale.sale_id, { ...sale, remaining: event.remaining,
            quantity: event.quantity });
        }
        break;
      case "sale_sold_out":
        if (sale) this.sales.set(sale.sale_id, { ...sale, remaining: 0 });
        break;
      case "product_stock":
        if (typeof event.stock === "number") this.stocks.set(event.product_id, event.stock);
        break;
      case "sale_ended":
        if (sale) this.sales.set(sale.sale_id, { ...sale, status: "ended" });
        break;
      case "chat":
        if (this.chat.some((m) => m.message_id === event.message.message_id)) return true;
        this.chat = [...this.chat, event.message].slice(-50);
        break;
      case "chat_deleted":
        this.chat = this.chat.filter((m) => m.message_id !== event.message_id);
        break;
      case "viewer_muted":
        this.muted.add(event.viewer_id);
        break;
      case "viewer_unmuted":
        this.muted.delete(event.viewer_id);
        break;
      case "chat_pinned":
        this.pinnedMessage = event.message || null;
        break;
      case "chat_unpinned":
        this.pinnedMessage = null;
        break;
      case "audience":
        if (typeof event.viewers === "number") this.viewers = event.viewers;
        break;
      case "show_ended":
        this.live = false;
        this.show = { state: "ended", session_id: event.session_id,
          replay_url: event.replay_url ?? null };
        break;
      case "likes":
        this.likes = event.total;
        break;
      default:
        return true;
    }
    this.onChange(event.type);
    return true;
  }

  onMessage(message) {
    let event;
    try {
      event = typeof message.data === "string" ? JSON.parse(message.data) : decode(message.data);
    } catch (err) {
      console.warn("stallcast studio: undecodable event", err);
      return;
    }
    if (!event || typeof event !== "object") return;
    this.stallcast.events.push(event);
    if (this.stallcast.events.length > 500) this.stallcast.events.splice(0, 100);
    if (!this.apply(event)) this.refresh();
  }

  async connect() {
    if (this.closed) return;
    const pc = new RTCPeerConnection();
    this.pc = pc;
    this.stallcast.feedPc = pc;
    const channel = pc.createDataChannel("events");
    channel.binaryType = "arraybuffer";
    channel.addEventListener("open", () => {
      this.channelOpen = true;
      this.attempt = 0;
      this.onChange("channel");
    });
    channel.addEventListener("close", () => this.lost(pc));
    channel.addEventListener("message", (m) => this.onMessage(m));
    pc.addEventListener("connectionstatechange", () => {
      if (["failed", "closed"].includes(pc.connectionState)) this.lost(pc);
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitIceGathering(pc);
      const url = new URL(`/whep/${encodeURIComponent(this.roomId)}`, location.href).href;
      // With the host's token the server knows this is the host watching its own room,
      // and does not count it in the audience.
      const headers = { "Content-Type": "application/sdp" };
      if (hostToken()) headers.Authorization = `Bearer ${hostToken()}`;
      const resp = await fetch(url, { method: "POST", headers, body: pc.localDescription.sdp });
      if (resp.status !== 201) throw new Error(`HTTP ${resp.status}`);
      const loc = resp.headers.get("Location");
      this.location = loc ? new URL(loc, url).href : "";
      await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
    } catch (err) {
      console.warn("stallcast studio: events connection failed", err);
      this.lost(pc);
    }
  }

  lost(pc) {
    if (pc !== this.pc) return;
    this.pc = null;
    this.channelOpen = false;
    this.onChange("channel");
    pc.close();
    this.dropSession();
    if (this.closed) return;
    const wait = RECONNECT_MS[Math.min(this.attempt, RECONNECT_MS.length - 1)];
    this.attempt += 1;
    setTimeout(() => this.connect(), wait);
  }

  dropSession(keepalive = false) {
    if (!this.location) return;
    fetch(this.location, { method: "DELETE", keepalive }).catch(() => {});
    this.location = "";
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pollTimer);
    this.dropSession(true);
    if (this.pc) this.pc.close();
    this.pc = null;
    this.channelOpen = false;
  }
}

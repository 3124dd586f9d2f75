// Live selling tools of the studio's Sell pane: start an auction of one unit of a product
// (starting price, increment, duration, anti-sniping window, the winner's time to confirm),
// follow it (current bid, leaders by nickname, countdown), end it early, offer it to the
// runner-up once the winner's order lapsed; open a giveaway (viewers who watched N seconds,
// or who write a keyword in chat), draw it and read its audit record (seed, candidates,
// winners). Polled every second while an auction runs, every few seconds otherwise.

import { formatMoney, language, t } from "../shared/i18n.js";
import { api, busy, clock, el, every, field, say, syncList, toMinor } from "./studio-api.js";

const POLL_MS = 1000;

export class AuctionPanel {
  constructor(box, { roomId, catalog }) {
    this.box = box;
    this.catalog = catalog;
    this.room = `/api/rooms/${encodeURIComponent(roomId)}`;
    this.auction = null; // the host's view of the room's latest auction
    this.giveaways = [];
    this.offset = 0;
    this.build();
  }

  build() {
    const said = (tag, key, props = {}) => el(tag, { ...props, dataset: { i18n: key } }, t(key));
    const num = (id, value, min = "0") => el("input", { id, type: "number", min, step: "1",
      value, inputmode: "numeric" });
    this.product = el("select", { id: "a-product" });
    this.startPrice = el("input", { id: "a-start", inputmode: "decimal", required: true });
    this.step = el("input", { id: "a-step", inputmode: "decimal", required: true });
    this.duration = num("a-duration", "60", "5");
    this.extend = num("a-extend", "15");
    this.confirm = num("a-confirm", "10", "1");
    this.startButton = said("button", "studio.auction.start", { type: "submit",
      className: "primary", id: "auction-start" });
    this.msg = el("p", { className: "msg", role: "status", "aria-live": "polite",
      id: "auction-msg" });
    const form = el("form", { id: "auction-form", autocomplete: "off" },
      el("div", { className: "row" },
        field("studio.auction.product", this.product), field("studio.auction.startPrice", this.startPrice),
        field("studio.auction.increment", this.step), field("studio.auction.duration", this.duration),
        field("studio.auction.extend", this.extend), field("studio.auction.confirm", this.confirm)),
      el("div", { className: "buttons" }, this.startButton));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(this.startButton, this.msg, () => this.begin());
    });
    this.state = el("div", { className: "auction-state", id: "auction-state" });
    this.leaders = el("ol", { className: "items", id: "auction-leaders" });
    this.endButton = said("button", "studio.auction.end", { type: "button", id: "auction-end" });
    this.offerButton = said("button", "studio.auction.offer", { type: "button",
      id: "auction-offer" });
    this.endButton.addEventListener("click", () => busy(this.endButton, this.msg,
      () => this.act("end")));
    this.offerButton.addEventListener("click", () => busy(this.offerButton, this.msg,
      () => this.act("offer")));
    // Giveaways.
    this.gProduct = el("select", { id: "g-product" });
    this.gWinners = num("g-winners", "1", "1");
    this.gMode = el("select", { id: "g-mode" },
      said("option", "studio.giveaway.modeWatch", { value: "watch" }),
      said("option", "studio.giveaway.modeKeyword", { value: "keyword" }));
    this.gWatch = num("g-watch", "60");
    this.gKeyword = el("input", { id: "g-keyword", maxLength: 40 });
    this.gOpen = said("button", "studio.giveaway.open", { type: "submit", className: "primary",
      id: "giveaway-open" });
    this.gMsg = el("p", { className: "msg", role: "status", "aria-live": "polite" });
    this.gList = el("ul", { className: "items", id: "giveaways" });
    const gForm = el("form", { id: "giveaway-form", autocomplete: "off" },
      el("div", { className: "row" }, field("studio.giveaway.prize", this.gProduct),
        field("studio.giveaway.winners", this.gWinners), field("studio.giveaway.mode", this.gMode),
        field("studio.giveaway.minWatch", this.gWatch),
        field("studio.giveaway.keyword", this.gKeyword)),
      el("div", { className: "buttons" }, this.gOpen));
    this.gMode.addEventListener("change", () => this.syncMode());
    gForm.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(this.gOpen, this.gMsg, () => this.openGiveaway());
    });
    this.box.replaceChildren(said("h3", "studio.auction.heading"), form, this.msg, this.state,
      this.leaders, el("div", { className: "buttons" }, this.endButton, this.offerButton),
      said("h3", "studio.giveaway.heading"), gForm, this.gMsg, this.gList);
    this.syncMode();
  }

  syncMode() {
    const keyword = this.gMode.value === "keyword";
    this.gKeyword.closest(".field").hidden = !keyword;
    this.gWatch.closest(".field").hidden = keyword;
  }

  start() {
    this.poll = every(POLL_MS, () => this.load());
    this.ticker = setInterval(() => this.renderState(), 250);
  }

  productOptions(select) {
    const have = [...select.options].map((o) => o.value).join(",");
    const items = this.catalog.products.filter((p) => !(p.variants || []).length);
    if (have === items.map((p) => p.product_id).join(",")) return;
    const chosen = select.value;
    select.replaceChildren(...items.map((p) => el("option", { value: p.product_id },
      `${p.title} (${p.stock})`)));
    if (items.some((p) => p.product_id === chosen)) select.value = chosen;
  }

  picked(select) {
    return this.catalog.products.find((p) => p.product_id === select.value) || null;
  }

  async load() {
    this.productOptions(this.product);
    this.productOptions(this.gProduct);
    this.polls = (this.polls || 0) + 1;
    const running = this.auction && this.auction.status === "running";
    // The room's public line (it takes no host token); then the host's view of it.
    const resp = await fetch(`${this.room}/auction`, { cache: "no-store" });
    if (!resp.ok) return;
    const latest = await resp.json();
    const aid = latest.auction ? latest.auction.auction_id : null;
    if (aid && (running || !this.auction || this.auction.auction_id !== aid
        || this.polls % 3 === 0)) {
      this.auction = await api("GET", `${this.room}/auctions/${encodeURIComponent(aid)}`);
      this.offset = this.auction.now - Date.now() / 1000;
    }
    if (this.polls % 3 === 1) {
      this.giveaways = (await api("GET", `${this.room}/giveaways`)).giveaways || [];
      this.renderGiveaways();
    }
    this.renderState();
  }

  async begin() {
    const p = this.picked(this.product);
    if (!p) {
      say(this.msg, "studio.auction.noProduct", {}, "error");
      return;
    }
    const start = toMinor(this.startPrice.value, p.currency);
    const step = toMinor(this.step.value, p.currency);
    if (!start || !step) {
      say(this.msg, "studio.auction.badAmount", {}, "error");
      return;
    }
    this.auction = await api("POST", `${this.room}/auctions`, {
      product_id: p.product_id, start_price: start, increment: step,
      duration_s: Number(this.duration.value), extend_s: Number(this.extend.value),
      confirm_s: Math.round(Number(this.confirm.value) * 60) });
    say(this.msg, "studio.auction.started", { title: p.title }, "ok");
    await this.load();
  }

  async act(what) {
    if (!this.auction) return;
    const aid = encodeURIComponent(this.auction.auction_id);
    this.auction = await api("POST", `${this.room}/auctions/${aid}/${what}`);
    say(this.msg, what === "end" ? "studio.auction.ended" : "studio.auction.offered",
      { name: this.auction.offered_name || "" }, "ok");
    this.renderState();
  }

  renderState() {
    const a = this.auction;
    this.state.hidden = !a;
    this.endButton.hidden = !a || a.status !== "running";
    this.offerButton.hidden = !a || a.status !== "closed";
    if (!a) return;
    const money = (v) => formatMoney(v, a.currency);
    const left = Math.max(0, a.ends_at - (Date.now() / 1000 + this.offset));
    const lines = [el("strong", {}, a.title), " · ",
      a.status === "running" ? t("studio.auction.left", { time: clock(left) })
        : t(`studio.auction.status.${a.status}`)];
    const bid = a.bid_count
      ? t("studio.auction.current", { amount: money(a.top_amount), name: a.top_name,
        n: a.bid_count, extensions: a.extensions })
      : t("studio.auction.noBids", { amount: money(a.start_price) });
    const offered = a.status === "closed" ? t("studio.auction.offeredTo", {
      name: a.offered_name, amount: money(a.offered_amount), rank: a.offer_rank + 1 }) : "";
    this.state.replaceChildren(el("p", {}, ...lines), el("p", { id: "auction-bidline" }, bid),
      offered ? el("p", {}, offered) : "");
    syncList(this.leaders, a.leaders || [], {
      key: (l) => l.bidder_id,
      sig: (l) => [l.amount, l.name, language()].join("|"),
      build: (l) => el("li", {}, `${l.name || "–"} · ${money(l.amount)}`),
    });
  }

  async openGiveaway() {
    const p = this.picked(this.gProduct);
    if (!p) {
      say(this.gMsg, "studio.auction.noProduct", {}, "error");
      return;
    }
    const body = { product_id: p.product_id, winners: Number(this.gWinners.value),
      mode: this.gMode.value };
    if (body.mode === "keyword") body.keyword = this.gKeyword.value;
    else body.min_watch_s = Number(this.gWatch.value);
    await api("POST", `${this.room}/giveaways`, body);
    say(this.gMsg, "studio.giveaway.opened", { title: p.title }, "ok");
    this.giveaways = (await api("GET", `${this.room}/giveaways`)).giveaways || [];
    this.renderGiveaways();
  }

  renderGiveaways() {
    syncList(this.gList, this.giveaways, {
      key: (g) => g.giveaway_id,
      sig: (g) => [g.status, g.entrants, language()].join("|"),
      build: (g) => this.giveawayItem(g),
    });
  }

  giveawayItem(g) {
    const rule = g.mode === "keyword" ? t("studio.giveaway.ruleKeyword", { keyword: g.keyword })
      : t("studio.giveaway.ruleWatch", { s: g.min_watch_s });
    const draw = g.status === "open" ? el("button", { type: "button", className: "primary",
      dataset: { focus: "draw" } }, t("studio.giveaway.draw")) : null;
    if (draw) {
      draw.addEventListener("click", () => busy(draw, this.gMsg, async () => {
        await api("POST", `${this.room}/giveaways/${encodeURIComponent(g.giveaway_id)}/draw`);
        this.giveaways = (await api("GET", `${this.room}/giveaways`)).giveaways || [];
        this.renderGiveaways();
      }));
    }
    const result = g.status === "drawn" ? [
      el("div", {}, t("studio.giveaway.winnersAre", {
        names: (g.winner_names || []).join(", ") || "–" })),
      el("div", { className: "muted giveaway-audit" }, t("studio.giveaway.audit", {
        n: g.candidate_count ?? 0, seed: String(g.seed || "").slice(0, 16) }))] : [];
    return el("li", { dataset: { giveawayId: g.giveaway_id, status: g.status } },
      el("div", { className: "item-main" },
        el("div", { className: "item-title" }, `${g.title} ×${g.winners} · ${rule}`),
        ...result),
      el("div", { className: "item-actions" }, draw));
  }
}

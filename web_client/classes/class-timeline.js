// A recorded session's commerce timeline, replayed: which card was up and which flash sale
// ran at a moment of the video. Times are seconds from the start of the replay.

export class ReplayTimeline {
  constructor(events) {
    const sorted = (Array.isArray(events) ? events : [])
      .filter((e) => e && typeof e.at === "number")
      .sort((a, b) => a.at - b.at);
    this.cards = []; // [{start, end, card}]
    const sales = new Map(); // sale id -> {start, end, soldOutAt, sale}
    let open = null;
    for (const e of sorted) {
      switch (e.type) {
        case "card_pinned":
        case "card_unpinned":
          // A new pin replaces the card that was up; an unpin takes it down.
          if (open) {
            open.end = e.at;
            this.cards.push(open);
            open = null;
          }
          if (e.type === "card_pinned" && e.card) open = { start: e.at, end: Infinity, card: e.card };
          break;
        case "sale_started":
          if (e.sale && e.sale.sale_id) {
            sales.set(e.sale.sale_id, { start: e.at, end: Infinity, soldOutAt: Infinity,
                                        sale: e.sale });
          }
          break;
        case "sale_sold_out":
          if (sales.has(e.sale_id)) sales.get(e.sale_id).soldOutAt = e.at;
          break;
        case "sale_ended":
          if (sales.has(e.sale_id)) sales.get(e.sale_id).end = e.at;
          break;
        default:
          break;
      }
    }
    if (open) this.cards.push(open);
    this.sales = [...sales.values()];
  }

  cardAt(t) {
    return this.cards.find((span) => span.start <= t && t < span.end) || null;
  }

  saleAt(t, productId) {
    return this.sales.find((s) => s.sale.product_id === productId && s.start <= t && t < s.end)
      || null;
  }
}

// Tables and the session panel of the operator dashboard: they draw what ops.js fetched.
import { t } from "../shared/i18n.js";
import { chart } from "./ops-charts.js";
import * as f from "./ops-format.js";

function cell(tr, col, labelKey, ...content) {
  const td = document.createElement("td");
  td.dataset.col = col;
  td.dataset.label = t(labelKey);
  for (const part of content) {
    if (part instanceof Node) td.append(part);
    else if (part !== undefined && part !== null) {
      const value = document.createElement("span");
      value.className = "v";
      value.textContent = part;
      td.append(value);
    }
  }
  tr.append(td);
  return td;
}

function small(text) {
  const el = document.createElement("small");
  el.textContent = text;
  return el;
}

function openButton(session, title, onOpen) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link";
  button.dataset.open = session;
  button.textContent = title || t("ops.untitled");
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    onOpen(session, button);
  });
  return button;
}

function healthCell(tr, state) {
  const badge = document.createElement("span");
  badge.className = `badge ${state.level}`;
  badge.textContent = t(`ops.level.${state.level}`);
  const td = cell(tr, "health", "ops.col.health", badge);
  if (state.reasons.length) {
    const list = document.createElement("ul");
    list.className = "reasons";
    for (const reason of state.reasons) {
      const li = document.createElement("li");
      li.className = reason.level;
      li.dataset.reason = reason.code;
      li.textContent = reason.text;
      list.append(li);
    }
    td.append(list);
  }
}

// Median join time of the joins this page has seen (a sample holds only the latest joins).
export function joinTime(fig, remembered) {
  const joins = remembered && remembered.length ? remembered : fig.join_ms;
  return joins && joins.length ? f.ms(f.median(joins)) : f.DASH;
}

/** Rows of the live table. items: [{ session, health, currency, joins }] */
export function liveRows(items, selected, onOpen) {
  return items.map(({ session: s, health, currency, joins }) => {
    const fig = s.figures;
    const tr = document.createElement("tr");
    tr.dataset.session = s.session_id;
    tr.className = `health-${health.level}${selected === s.session_id ? " selected" : ""}`;
    tr.addEventListener("click", () => onOpen(s.session_id, tr.querySelector("button")));
    cell(tr, "session", "ops.col.session", openButton(s.session_id, s.title, onOpen),
      small(t("ops.started", { time: f.clock(s.started_at), duration: f.duration(fig.t - s.started_at) })));
    healthCell(tr, health);
    cell(tr, "viewers", "ops.col.viewers", f.count(fig.viewers),
      small(t("ops.peak", { n: f.count(fig.peak_viewers) })));
    cell(tr, "ingest", "ops.col.ingest", f.bitrate(fig.ingest_bps),
      small(`${f.fps(fig.fps)} · ${f.resolution(fig.width, fig.height)}`));
    cell(tr, "uplink", "ops.col.uplink", f.percent(fig.uplink_loss),
      small(t("ops.uplink_detail", { jitter: f.ms(fig.uplink_jitter_ms), rtt: f.ms(fig.uplink_rtt_ms) })));
    const rtt = fig.viewer_rtt_ms || {};
    cell(tr, "viewer_net", "ops.col.viewer_net", f.percent((fig.viewer_loss || {}).p95),
      small(t("ops.rtt", { p50: f.ms(rtt.p50), p95: f.ms(rtt.p95) })));
    cell(tr, "join", "ops.col.join", joinTime(fig, joins));
    cell(tr, "orders", "ops.col.orders", f.count(fig.orders));
    cell(tr, "gmv", "ops.col.gmv", f.money(fig.gmv, currency));
    cell(tr, "buyers", "ops.col.buyers", f.count(fig.buyers),
      small(t("ops.conversion", { value: f.percent(fig.conversion) })));
    cell(tr, "chat", "ops.col.chat", f.count(fig.chat_messages));
    cell(tr, "likes", "ops.col.likes", f.count(fig.likes));
    return tr;
  });
}

/** Rows of the reports table. items: [{ report, currency }] */
export function reportRows(items, selected, onOpen) {
  return items.map(({ report: r, currency }) => {
    const ingest = r.ingest || {};
    const res = ingest.resolution || [0, 0];
    const tr = document.createElement("tr");
    tr.dataset.session = r.session_id;
    if (selected === r.session_id) tr.className = "selected";
    tr.addEventListener("click", () => onOpen(r.session_id, tr.querySelector("button")));
    cell(tr, "session", "ops.col.session", openButton(r.session_id, r.title, onOpen),
      small(f.dateTime(r.started_at)));
    cell(tr, "duration", "ops.col.duration", f.duration(r.duration_s));
    cell(tr, "peak", "ops.col.peak", f.count(r.peak_viewers));
    cell(tr, "average_viewers", "ops.col.average_viewers", f.decimal(r.average_viewers, 1));
    cell(tr, "unique", "ops.col.unique", f.count(r.unique_viewers));
    cell(tr, "watch", "ops.col.watch", f.duration(r.average_watch_s));
    cell(tr, "orders", "ops.col.orders", f.count(r.orders));
    cell(tr, "gmv", "ops.col.gmv", f.money(r.gmv, currency));
    cell(tr, "buyers", "ops.col.buyers", f.count(r.buyers),
      small(t("ops.conversion", { value: f.percent(r.conversion) })));
    cell(tr, "ingest", "ops.col.ingest", f.bitrate(ingest.average_bps),
      small(`${f.fps(ingest.average_fps)} · ${f.resolution(res[0], res[1])}`));
    cell(tr, "uplink_avg", "ops.col.uplink_avg", f.percent(ingest.average_loss),
      small(t("ops.max", { value: f.percent(ingest.max_loss) })));
    return tr;
  });
}

function figures(pairs) {
  return pairs.map(([key, value, code]) => {
    const div = document.createElement("div");
    div.dataset.figure = code || key;
    const dt = document.createElement("dt");
    dt.textContent = t(key);
    const dd = document.createElement("dd");
    dd.textContent = value;
    div.append(dt, dd);
    return div;
  });
}

// The figures shown above the charts: the latest sample of a live session, or its report.
export function detailFigures(data, currency) {
  const series = data.series || [];
  const joins = series.flatMap((s) => s.join_ms || []);
  const r = data.report;
  if (r) {
    const ingest = r.ingest || {};
    const res = ingest.resolution || [0, 0];
    return figures([
      ["ops.col.duration", f.duration(r.duration_s), "duration"],
      ["ops.col.peak", f.count(r.peak_viewers), "peak_viewers"],
      ["ops.col.average_viewers", f.decimal(r.average_viewers, 1), "average_viewers"],
      ["ops.col.unique", f.count(r.unique_viewers), "unique_viewers"],
      ["ops.col.watch", f.duration(r.average_watch_s), "average_watch"],
      ["ops.col.orders", f.count(r.orders), "orders"],
      ["ops.col.gmv", f.money(r.gmv, currency), "gmv"],
      ["ops.col.buyers", f.count(r.buyers), "buyers"],
      ["ops.fig.conversion", f.percent(r.conversion), "conversion"],
      ["ops.fig.card_pins", f.count(r.card_pins), "card_pins"],
      ["ops.fig.card_clicks", f.count(r.card_clicks), "card_clicks"],
      ["ops.col.chat", f.count(r.chat_messages), "chat"],
      ["ops.col.likes", f.count(r.likes), "likes"],
      ["ops.fig.avg_bitrate", f.bitrate(ingest.average_bps), "average_bps"],
      ["ops.fig.avg_fps", f.fps(ingest.average_fps), "average_fps"],
      ["ops.fig.resolution", f.resolution(res[0], res[1]), "resolution"],
      ["ops.fig.avg_loss", f.percent(ingest.average_loss), "average_loss"],
      ["ops.fig.max_loss", f.percent(ingest.max_loss), "max_loss"],
      ["ops.fig.avg_jitter", f.ms(ingest.average_jitter_ms), "average_jitter"],
      ["ops.fig.avg_uplink_rtt", f.ms(ingest.average_rtt_ms), "average_uplink_rtt"],
      ["ops.fig.join", joins.length ? f.ms(f.median(joins)) : f.DASH, "join"],
      ["ops.fig.samples", f.count(ingest.samples), "samples"],
    ]);
  }
  const fig = series[series.length - 1];
  if (!fig) return [];
  const rtt = fig.viewer_rtt_ms || {};
  return figures([
    ["ops.col.viewers", f.count(fig.viewers), "viewers"],
    ["ops.col.peak", f.count(fig.peak_viewers), "peak_viewers"],
    ["ops.fig.bitrate", f.bitrate(fig.ingest_bps), "ingest_bps"],
    ["ops.fig.fps", f.fps(fig.fps), "fps"],
    ["ops.fig.resolution", f.resolution(fig.width, fig.height), "resolution"],
    ["ops.fig.loss", f.percent(fig.uplink_loss), "uplink_loss"],
    ["ops.fig.jitter", f.ms(fig.uplink_jitter_ms), "uplink_jitter"],
    ["ops.fig.uplink_rtt", f.ms(fig.uplink_rtt_ms), "uplink_rtt"],
    ["ops.fig.viewer_loss", f.percent((fig.viewer_loss || {}).p95), "viewer_loss"],
    ["ops.fig.rtt", t("ops.rtt", { p50: f.ms(rtt.p50), p95: f.ms(rtt.p95) }), "rtt"],
    ["ops.fig.join", joins.length ? f.ms(f.median(joins)) : f.DASH, "join"],
    ["ops.fig.forwarded", t("ops.unit.pps", { n: f.count(fig.forwarded_pps) }), "forwarded"],
    ["ops.col.orders", f.count(fig.orders), "orders"],
    ["ops.col.gmv", f.money(fig.gmv, currency), "gmv"],
    ["ops.col.buyers", f.count(fig.buyers), "buyers"],
    ["ops.fig.conversion", f.percent(fig.conversion), "conversion"],
    ["ops.col.chat", f.count(fig.chat_messages), "chat"],
    ["ops.col.likes", f.count(fig.likes), "likes"],
  ]);
}

export function charts(series, currency) {
  const specs = [
    { key: "viewers", title: t("ops.chart.viewers"), value: (s) => s.viewers, format: f.count },
    { key: "ingest", title: t("ops.chart.ingest"), value: (s) => s.ingest_bps,
      format: f.bitrate, floor: 100000 },
    { key: "fps", title: t("ops.chart.fps"), value: (s) => s.fps, format: (n) => f.decimal(n, 1),
      floor: 5 },
    { key: "loss", title: t("ops.chart.loss"), value: (s) => s.uplink_loss, format: f.percent,
      floor: 0.05, how: "max" },
    { key: "orders", title: t("ops.chart.orders"), value: (s) => s.orders, format: f.count },
    { key: "gmv", title: t("ops.chart.gmv"), value: (s) => s.gmv,
      format: (n) => f.money(Math.round(n), currency), floor: 100 },
  ];
  return specs.map((spec) => chart(spec, series));
}

// Line charts of a session's samples, drawn as plain SVG (no chart library).
import { t } from "../shared/i18n.js";
import { clock, duration } from "./ops-format.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 400;
const H = 170;
const PAD = { left: 6, right: 6, top: 22, bottom: 22 };
const MAX_POINTS = 400;
const DOTS_UP_TO = 90;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// 1, 2 or 5 times a power of ten, at least ``value``.
function niceMax(value, floor) {
  const v = Math.max(value, floor);
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 5, 10]) if (step * power >= v) return step * power;
  return 10 * power;
}

// At most MAX_POINTS points: each bucket keeps its last value, or its largest with "max".
function thin(points, how) {
  if (points.length <= MAX_POINTS) return points;
  const size = Math.ceil(points.length / MAX_POINTS);
  const out = [];
  for (let i = 0; i < points.length; i += size) {
    const bucket = points.slice(i, i + size);
    const last = bucket[bucket.length - 1];
    out.push(how === "max" ? [last[0], Math.max(...bucket.map((p) => p[1]))] : last);
  }
  return out;
}

/**
 * A <figure> holding one chart.
 * spec: { key, title, value(sample) -> number, format(number) -> string, floor, how }
 */
export function chart(spec, samples) {
  const raw = samples
    .map((s) => [s.t, Number(spec.value(s))])
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const points = thin(raw, spec.how);
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.chart = spec.key;
  const caption = document.createElement("figcaption");
  const name = document.createElement("span");
  name.className = "chart-name";
  name.textContent = spec.title;
  const latest = document.createElement("span");
  latest.className = "chart-latest";
  caption.append(name, latest);

  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-points": points.length,
    preserveAspectRatio: "xMidYMid meet", focusable: "false" });
  const titleId = `chart-${spec.key}-title`;
  const svgTitle = el("title", { id: titleId });
  svg.setAttribute("aria-labelledby", titleId);
  svg.append(svgTitle);

  if (points.length === 0) {
    latest.textContent = "";
    svgTitle.textContent = t("ops.chart.empty_label", { name: spec.title });
    svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" },
      t("ops.chart.empty")));
    figure.append(caption, svg);
    return figure;
  }

  const values = points.map((p) => p[1]);
  const peak = Math.max(...values);
  const top = niceMax(peak, spec.floor ?? 1);
  const x0 = points[0][0];
  const x1 = points[points.length - 1][0];
  const span = Math.max(x1 - x0, 1);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const px = (x) => PAD.left + (points.length === 1 ? plotW : ((x - x0) / span) * plotW);
  const py = (y) => PAD.top + plotH - (Math.max(0, y) / top) * plotH;

  for (const frac of [0, 0.5, 1]) {
    const y = py(top * frac);
    svg.append(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }));
    svg.append(el("text", { x: PAD.left + 2, y: y - 4, class: "axis" }, spec.format(top * frac)));
  }
  svg.append(el("text", { x: PAD.left, y: H - 6, class: "axis" }, clock(x0)));
  svg.append(el("text", { x: W - PAD.right, y: H - 6, "text-anchor": "end", class: "axis" },
    clock(x1)));

  const coords = points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`);
  const base = (PAD.top + plotH).toFixed(1);
  if (points.length > 1) {
    svg.append(el("polygon", { class: "area",
      points: `${px(x0).toFixed(1)},${base} ${coords.join(" ")} ${px(x1).toFixed(1)},${base}` }));
  }
  svg.append(el("polyline", { class: "line", points: coords.join(" ") }));
  const dots = points.length <= DOTS_UP_TO ? points : [points[points.length - 1]];
  for (const [x, y] of dots) {
    svg.append(el("circle", { class: "dot", cx: px(x).toFixed(1), cy: py(y).toFixed(1), r: 2.2 }));
  }

  const last = values[values.length - 1];
  latest.textContent = spec.format(last);
  svgTitle.textContent = t("ops.chart.label", {
    name: spec.title, latest: spec.format(last), peak: spec.format(peak),
    span: duration(x1 - x0), n: points.length });
  figure.append(caption, svg);
  return figure;
}

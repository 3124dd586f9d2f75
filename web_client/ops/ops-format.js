// Numbers, units and session health for the operator dashboard. Every word comes from the
// "ops" catalogue; numbers are formatted in the page's language.
import { formatMoney, language, t } from "../shared/i18n.js";

export const DASH = "—";

function locale() {
  const lang = language();
  return lang === "zh" ? "zh-CN" : lang === "ja" ? "ja-JP" : "en";
}

export function count(n) {
  return Number.isFinite(n) ? new Intl.NumberFormat(locale()).format(n) : DASH;
}

export function decimal(n, digits = 1) {
  if (!Number.isFinite(n)) return DASH;
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);
}

// A fraction (0.034) as a percentage ("3.4%").
export function percent(fraction) {
  if (!Number.isFinite(fraction)) return DASH;
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 })
    .format(fraction);
}

export function bitrate(bps) {
  if (!Number.isFinite(bps)) return DASH;
  if (bps >= 1e6) return t("ops.unit.mbps", { n: decimal(bps / 1e6, 2) });
  return t("ops.unit.kbps", { n: decimal(bps / 1e3, 0) });
}

export function fps(n) {
  return Number.isFinite(n) ? t("ops.unit.fps", { n: decimal(n, 1) }) : DASH;
}

export function ms(n) {
  return Number.isFinite(n) ? t("ops.unit.ms", { n: decimal(n, 0) }) : DASH;
}

export function resolution(width, height) {
  return width > 0 && height > 0 ? t("ops.unit.resolution", { w: width, h: height }) : DASH;
}

export function duration(seconds) {
  if (!Number.isFinite(seconds)) return DASH;
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return t("ops.unit.hm", { h, m });
  if (m > 0) return t("ops.unit.ms_duration", { m, s: s % 60 });
  return t("ops.unit.s", { s });
}

export function clock(epoch) {
  if (!Number.isFinite(epoch)) return DASH;
  return new Intl.DateTimeFormat(locale(), { timeStyle: "medium" }).format(new Date(epoch * 1000));
}

export function dateTime(epoch) {
  if (!Number.isFinite(epoch)) return DASH;
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" })
    .format(new Date(epoch * 1000));
}

// GMV is kept in minor units; the currency comes from the room's products (CNY if unknown).
export function money(minor, currency = "CNY") {
  if (!Number.isFinite(minor)) return DASH;
  try {
    return formatMoney(minor, currency || "CNY");
  } catch {
    return formatMoney(minor, "CNY");
  }
}

export function median(values) {
  if (!values || values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const LIMITS = { lossWarn: 0.02, lossBad: 0.05, viewerLoss: 0.05 };

// What is wrong with a live session's latest figures:
// { level: "ok" | "warn" | "bad", reasons: [{ code, level, text }] }, worst first.
export function health(fig) {
  const reasons = [];
  const add = (code, level, vars = {}) => reasons.push({ code, level,
    text: t(`ops.health.${code}`, vars) });
  if (!fig) return { level: "ok", reasons };
  if (fig.live === false) {
    add("publisher_gone", "bad");
  } else if (!(fig.fps > 0) || !(fig.ingest_bps > 0)) {
    add("no_video", "bad");
  }
  const loss = fig.uplink_loss || 0;
  if (loss > LIMITS.lossBad) add("uplink_loss", "bad", { value: percent(loss) });
  else if (loss > LIMITS.lossWarn) add("uplink_loss", "warn", { value: percent(loss) });
  const p95 = (fig.viewer_loss && fig.viewer_loss.p95) || 0;
  if (p95 > LIMITS.viewerLoss) add("viewer_loss", "warn", { value: percent(p95) });
  reasons.sort((a, b) => (a.level === b.level ? 0 : a.level === "bad" ? -1 : 1));
  const level = reasons.some((r) => r.level === "bad") ? "bad" : reasons.length ? "warn" : "ok";
  return { level, reasons };
}

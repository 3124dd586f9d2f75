// Formats and messages the viewer page's modules share.

import { formatMoney, t } from "../shared/i18n.js";

const ERROR_CODES = new Set(["sold_out", "limit", "ended", "not_started", "insufficient",
  "not_found", "contact_required", "invalid", "unauthorized", "rate_limited", "internal",
  "offline", "timeout", "muted", "too_long", "bad_message", "too_large", "unknown_type"]);

/** A viewer-facing sentence for an error reply (or a local failure) with this code. */
export function friendlyError(err) {
  const code = err && ERROR_CODES.has(err.code) ? err.code : "unknown";
  return t(`watch.error.${code}`, { remaining: err && err.remaining != null ? err.remaining : "" });
}

export function money(minor, currency) {
  try {
    return formatMoney(minor, currency);
  } catch {
    return `${minor} ${currency}`; // an unknown currency code
  }
}

/** Seconds to "m:ss" (or "h:mm:ss"). */
export function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${String(m).padStart(2, "0")}:${ss}`;
}


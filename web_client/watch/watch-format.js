// Formats and messages the viewer page's modules share.

import { formatMoney } from "../shared/i18n.js";

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


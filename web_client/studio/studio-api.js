// Studio plumbing shared by every panel: the host token, JSON calls to the API, money input,
// small DOM helpers. Nothing here renders a whole panel.

import { errorText, responseError } from "../shared/errors.js";
import { has, t } from "../shared/i18n.js";

const TOKEN_KEY = "stallcast.hostToken";

/** Currencies the server counts without a minor unit (server/commerce/rules.py). */
const NO_MINOR_UNIT = new Set(["JPY", "KRW", "VND"]);
export const CURRENCIES = ["CNY", "JPY", "USD", "EUR", "HKD", "TWD", "SGD", "KRW", "VND", "GBP"];

export function hostToken() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setHostToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** An API failure whose message is fit to show: the catalogue's words for the server's
 * error code, never the server's English message. */
export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Translated text for an error code; `studio.error.<code>` (a studio's own wording, e.g.
 * a wrong stream key) first, then the common `error.<code>`, then a generic line. */
export function studioErrorText(err) {
  const code = err && typeof err === "object" && typeof err.code === "string" ? err.code : err;
  if (typeof code === "string" && has(`studio.error.${code}`)) return t(`studio.error.${code}`);
  return errorText(err);
}

/** A failed Response as { text (translated), code, status }. */
export async function describeHttpError(resp) {
  const err = await responseError(resp);
  return { text: studioErrorText(err), code: err.code, status: resp.status,
    retry_after: err.retry_after };
}

/** Call the API with the host token; JSON in, JSON (or null for 204) out; throws ApiFailure.
 * A Blob or File body goes as raw bytes with its own type (a photo upload). */
export async function api(method, path, body, { token = hostToken() } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store" };
  if (body instanceof Blob) {
    headers["Content-Type"] = body.type || "application/octet-stream";
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiFailure(0, "network", studioErrorText(err));
  }
  if (!resp.ok) {
    const { text, code } = await describeHttpError(resp);
    throw new ApiFailure(resp.status, code, text);
  }
  if (resp.status === 204) return null;
  const type = resp.headers.get("Content-Type") || "";
  return type.includes("application/json") ? resp.json() : resp.text();
}

export function minorDigits(currency) {
  return NO_MINOR_UNIT.has(currency) ? 0 : 2;
}

/**
 * "39.9" CNY → 3990, "1200" JPY → 1200; null when the text is not a plain amount with at most
 * the currency's decimals. Parsed as text, so 0.1 + 0.2 style float errors never creep in.
 */
export function toMinor(text, currency) {
  const digits = minorDigits(currency);
  const clean = String(text).trim().replace(/[\s,_](?=\d{3}(\D|$))/g, "").replace(",", ".");
  const match = /^(\d{1,12})(?:\.(\d*))?$/.exec(clean);
  if (!match) return null;
  const fraction = match[2] || "";
  if (fraction.length > digits) return null;
  return Number(match[1]) * 10 ** digits + Number(fraction.padEnd(digits, "0") || 0);
}

/** Minor units to the plain text a host types back in ("39.90", "1200"). */
export function toMajorText(minor, currency) {
  const digits = minorDigits(currency);
  return (minor / 10 ** digits).toFixed(digits);
}

/** Build an element: el("li", { className: "x", dataset: { id } }, child, "text"). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "on") {
      for (const [name, handler] of Object.entries(value)) node.addEventListener(name, handler);
    } else if (key in node && !key.startsWith("aria") && key !== "for") node[key] = value;
    else node.setAttribute(key === "for" ? "for" : key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A labelled form field: <div class="field"><label for=id>…</label><input id=id …></div>. */
export function field(labelKey, control) {
  return el("div", { className: "field" },
    el("label", { for: control.id, dataset: { i18n: labelKey } }, t(labelKey)), control);
}

const said = new Map(); // message line -> [key, vars], to say it again in a new language

/** Show catalogue message `key` in a status line; kind is "" (neutral), "ok" or "error". */
export function say(node, key, vars = {}, kind = "") {
  said.set(node, [key, vars]);
  node.textContent = t(key, vars);
  node.dataset.state = kind;
}

/** Say every shown message again (after a language switch). */
export function sayAgain() {
  for (const [node, [key, vars]] of said) if (node.textContent) node.textContent = t(key, vars);
}

/**
 * Run an async action from a button, once at a time, reporting failures to `out`. The button
 * is marked aria-disabled rather than disabled meanwhile, so it keeps the keyboard focus.
 */
export async function busy(button, out, action) {
  if (button && button.getAttribute("aria-disabled") === "true") return undefined;
  if (button) button.setAttribute("aria-disabled", "true");
  try {
    return await action();
  } catch (err) {
    if (out) say(out, "studio.failed", { message: err.message || String(err) }, "error");
    return undefined;
  } finally {
    if (button) button.removeAttribute("aria-disabled");
  }
}

/** Seconds to "m:ss" (or "h:mm:ss"). */
export function clock(seconds) {
  const total = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function timeOfDay(unixSeconds, lang) {
  const locale = lang === "zh" ? "zh-CN" : lang === "ja" ? "ja-JP" : "en";
  return new Date(unixSeconds * 1000).toLocaleTimeString(locale,
    { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** A repeating task that skips a beat while the previous run is still going. */
export function every(ms, task) {
  let running = false;
  let stopped = false;
  const run = async () => {
    if (running || stopped) return;
    running = true;
    try {
      await task();
    } catch (err) {
      console.warn("stallcast studio:", err);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(run, ms);
  run();
  return {
    now: run,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/**
 * Keep `list`'s children in step with `items` without rebuilding what did not change, so
 * focus and half-typed inputs survive the periodic refreshes. `key(item)` names an item,
 * `sig(item)` changes whenever its element must be rebuilt, `build(item)` makes the element.
 * Elements carrying data-focus="name" get their focus back after a rebuild.
 */
export function syncList(list, items, { key, sig, build }) {
  const existing = new Map();
  for (const child of list.children) existing.set(child.dataset.key, child);
  const wanted = new Set();
  items.forEach((item, index) => {
    const k = String(key(item));
    const s = String(sig(item));
    wanted.add(k);
    let node = existing.get(k);
    if (!node || node.dataset.sig !== s) {
      const focused = node && node.contains(document.activeElement)
        ? document.activeElement.dataset.focus : null;
      const fresh = build(item);
      fresh.dataset.key = k;
      fresh.dataset.sig = s;
      if (node) node.replaceWith(fresh);
      node = fresh;
      existing.set(k, node);
      if (focused) {
        // The same control if the new element has it, else the item itself.
        const again = node.querySelector(`[data-focus="${CSS.escape(focused)}"]`);
        if (!again) node.tabIndex = -1;
        (again || node).focus();
      }
    }
    if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
  });
  for (const [k, node] of existing) if (!wanted.has(k)) node.remove();
}

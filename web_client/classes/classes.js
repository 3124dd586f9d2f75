// Stallcast class store: the list of recorded classes (GET /api/classes), and the money and
// length formats the class page shares. Strings come from web_client/i18n/classes/<lang>.json.

import { formatMoney, initI18n, languageSwitcher, t } from "../shared/i18n.js";

export const NAMESPACES = ["classes"];

/** Minor units to a price in the page's language, e.g. 990 CNY → "CN¥9.90" in English. */
export function formatPrice(minor, currency) {
  if (!minor) return t("classes.free");
  try {
    return formatMoney(minor, currency);
  } catch {
    return `${minor} ${currency}`; // An unknown currency code: plain number and code.
  }
}

/** Seconds to "mm:ss" (minutes keep counting past 59). */
export function formatLength(seconds) {
  const total = Math.max(0, Math.round(Number(seconds) || 0));
  const mm = String(Math.floor(total / 60)).padStart(2, "0");
  const ss = String(total % 60).padStart(2, "0");
  return `${mm}:${ss}`;
}

/** Seconds to words for screen readers, e.g. "12 minutes 5 seconds". */
export function spokenLength(seconds) {
  const total = Math.max(0, Math.round(Number(seconds) || 0));
  const m = Math.floor(total / 60);
  const s = total % 60;
  const parts = [];
  if (m) parts.push(t(m === 1 ? "classes.minute" : "classes.minutes", { n: m }));
  if (s || !m) parts.push(t(s === 1 ? "classes.second" : "classes.seconds", { n: s }));
  return parts.join(t("classes.lengthJoin"));
}

export async function describeHttpError(resp) {
  let detail = resp.statusText;
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) detail = body.error.message;
  } catch {
    // Not JSON: keep the status text.
  }
  return `HTTP ${resp.status}${detail ? ` ${detail}` : ""}`;
}

function classItem(cls) {
  const href = `/classes/${encodeURIComponent(cls.class_id)}`;
  const li = document.createElement("li");
  li.className = "class";
  li.dataset.classId = cls.class_id;

  const poster = document.createElement("a");
  poster.className = "poster";
  poster.href = href;
  poster.tabIndex = -1; // The title link below is the one stop for keyboard users.
  poster.setAttribute("aria-hidden", "true");
  if (cls.poster) {
    const img = document.createElement("img");
    img.src = cls.poster;
    img.alt = "";
    img.loading = "lazy";
    img.width = 640;
    img.height = 360;
    poster.append(img);
  }

  const body = document.createElement("div");
  body.className = "body";
  const h2 = document.createElement("h2");
  const link = document.createElement("a");
  link.href = href;
  link.textContent = cls.title;
  h2.append(link);
  body.append(h2);

  if (cls.description) {
    const p = document.createElement("p");
    p.className = "description";
    p.textContent = cls.description;
    body.append(p);
  }

  const facts = document.createElement("p");
  facts.className = "facts";
  const length = document.createElement("span");
  length.className = "length";
  const time = document.createElement("time");
  time.dateTime = `PT${Math.round(Number(cls.duration) || 0)}S`;
  time.textContent = formatLength(cls.duration);
  time.setAttribute("aria-label",
                    t("classes.lengthSpoken", { length: spokenLength(cls.duration) }));
  length.append(time);
  const price = document.createElement("span");
  price.className = "price";
  price.textContent = formatPrice(cls.price, cls.currency);
  facts.append(length, price);
  body.append(facts);

  li.append(poster, body);
  return li;
}

function setStatus(status, text, state) {
  status.textContent = text;
  status.dataset.state = state;
}

/** Fill ``list`` with the store's classes; ``status`` tells what happened. */
export async function showClasses(list, status) {
  setStatus(status, t("classes.loading"), "loading");
  let classes;
  try {
    const resp = await fetch("/api/classes");
    if (!resp.ok) throw new Error(await describeHttpError(resp));
    classes = (await resp.json()).classes || [];
  } catch (err) {
    setStatus(status, t("classes.loadFailed", { message: err && err.message ? err.message : err }),
              "error");
    return null;
  }
  renderClasses(list, status, classes);
  return classes;
}

function renderClasses(list, status, classes) {
  list.replaceChildren(...classes.map(classItem));
  setStatus(status, classes.length ? "" : t("classes.none"), classes.length ? "ready" : "empty");
}

/** The /classes page: catalogues, the language switch, then the list. */
export async function classesPage() {
  const list = document.getElementById("classes");
  const status = document.getElementById("status");
  await initI18n(NAMESPACES);
  document.title = t("classes.listPageTitle");
  let classes = null;
  languageSwitcher(document.getElementById("lang"), NAMESPACES, () => {
    document.title = t("classes.listPageTitle");
    if (classes) renderClasses(list, status, classes);
  });
  classes = await showClasses(list, status);
}

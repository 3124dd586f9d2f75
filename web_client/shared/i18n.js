// Message catalogues: every string a person reads comes from web_client/i18n/<ns>/<lang>.json.
// The language is the one the person picked (localStorage "stallcast.lang"), else the
// browser's, else English. Elements carry data-i18n="key" (text), data-i18n-label="key"
// (aria-label), data-i18n-placeholder="key" and data-i18n-title="key".

export const LANGUAGES = { en: "English", zh: "中文", ja: "日本語" };
const STORE_KEY = "stallcast.lang";
let catalog = {};
let fallback = {};
let current = "en";

export function pickLanguage() {
  const saved = localStorage.getItem(STORE_KEY);
  if (saved && LANGUAGES[saved]) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES[base]) return base;
  }
  return "en";
}

async function load(namespaces, lang) {
  const merged = {};
  for (const ns of ["common", ...namespaces]) {
    const resp = await fetch(`/static/i18n/${ns}/${lang}.json`, { cache: "no-cache" });
    if (resp.ok) Object.assign(merged, await resp.json());
  }
  return merged;
}

let loads = 0;

// Load the catalogues a page needs; call once before rendering. The language, its catalogue
// and its fallback change together, once both are loaded: a render that runs while they load
// (a poll, a live event) must not stamp the new language on text from the old catalogue. A
// switch that a later one overtook while loading is dropped.
export async function initI18n(namespaces = [], lang = pickLanguage()) {
  const mine = ++loads;
  const [nextFallback, nextCatalog] = await Promise.all([
    lang === "en" ? {} : load(namespaces, "en"), load(namespaces, lang)]);
  if (mine !== loads) return current;
  current = lang;
  fallback = nextFallback;
  catalog = nextCatalog;
  document.documentElement.lang = lang === "zh" ? "zh-CN" : lang;
  translate(document);
  return lang;
}

export function language() {
  return current;
}

// t("watch.viewers", { n: 3 }) -> "3 watching"; {n} placeholders are filled from vars.
export function t(key, vars = {}) {
  const text = catalog[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// Whether the catalogue (or the English fallback) has this key.
export function has(key) {
  return key in catalog || key in fallback;
}

// tn("common.viewerCount", 3) -> "3 viewers": picks "<key>.<plural category>" for the
// page's language (Intl.PluralRules: one, few, other ...), else "<key>.other", else "<key>";
// {n} is filled with the number, written in the page's language.
export function tn(key, n, vars = {}) {
  const category = new Intl.PluralRules(localeTag()).select(n);
  const found = [`${key}.${category}`, `${key}.other`].find((k) => has(k)) ?? key;
  return t(found, { ...vars, n: new Intl.NumberFormat(localeTag()).format(n) });
}

function localeTag() {
  return current === "zh" ? "zh-CN" : current === "ja" ? "ja-JP" : "en";
}

export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.setAttribute("title", t(el.dataset.i18nTitle));
  }
}

// A <select> that switches language and reloads the catalogues in place.
export function languageSwitcher(select, namespaces, onChange = () => {}) {
  select.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = name;
    option.selected = code === current;
    return option;
  }));
  select.addEventListener("change", async () => {
    localStorage.setItem(STORE_KEY, select.value);
    const lang = await initI18n(namespaces, select.value);
    if (lang === select.value) onChange(lang);
  });
}

// Money in minor units, in the page's language.
export function formatMoney(minor, currency) {
  const digits = ["JPY", "KRW", "VND"].includes(currency) ? 0 : 2;
  const locale = current === "zh" ? "zh-CN" : current === "ja" ? "ja-JP" : "en";
  return new Intl.NumberFormat(locale, { style: "currency", currency, minimumFractionDigits: digits,
    maximumFractionDigits: digits }).format(minor / 10 ** digits);
}

// Words for a module that joins a page whose catalogue is not its own (shared/i18n.js keeps
// one per page: the reminder banner on every page, the studio's show scheduler). Loads
// web_client/i18n/<ns>/<lang>.json over English, in the person's language.
import { pickLanguage } from "./i18n.js";

async function get(ns, lang) {
  const resp = await fetch(`/static/i18n/${ns}/${lang}.json`, { cache: "no-cache" });
  return resp.ok ? resp.json() : {};
}

/** A say(key, vars) for the namespace; {name} placeholders are filled from vars. */
export async function catalog(ns) {
  const lang = pickLanguage();
  const words = { ...(await get(ns, "en")), ...(lang === "en" ? {} : await get(ns, lang)) };
  return (key, vars = {}) => (words[key] || key)
    .replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : ""));
}

// Server errors as the person's own words: the server answers {"error": {"code", "message"}}
// over HTTP and {"type": "error", "code", "message"} on the data channel; the code is stable
// and the page shows the catalogue's "error.<code>" (web_client/i18n/common), never the
// server's English message. Codes the catalogue lacks get a translated generic line.
import { has, t } from "./i18n.js";

/** The code of anything error-shaped: "sold_out", {code}, {error: {code}}, a TypeError from
 * fetch (the network) or nothing (unknown). */
export function errorCode(err) {
  if (typeof err === "string") return err;
  if (err && typeof err === "object") {
    if (typeof err.code === "string") return err.code;
    if (err.error && typeof err.error.code === "string") return err.error.code;
    if (err instanceof TypeError) return navigator.onLine === false ? "offline" : "network";
  }
  return "unknown";
}

/** Translated text for an error; `vars` fill placeholders (e.g. {remaining}). A wait the
 * server named (retry_after) and a remaining stock get the more precise line. */
export function errorText(err, vars = {}) {
  const code = errorCode(err);
  const detail = err && typeof err === "object" ? (err.error ?? err) : {};
  const retry = Number(detail.retry_after ?? vars.retry_after ?? 0);
  if (code === "rate_limited" && retry > 0) {
    return t("error.rate_limited_wait", { s: Math.max(1, Math.ceil(retry)) });
  }
  const remaining = detail.remaining ?? vars.remaining;
  if (code === "insufficient" && Number.isInteger(remaining) && remaining >= 0) {
    return t("error.insufficient_left", { ...vars, remaining });
  }
  const key = `error.${code}`;
  return has(key) ? t(key, vars) : t("error.unknown");
}

/** The error of a failed fetch Response: {status, code, message, retry_after} (code
 * "unknown" when the body is not the JSON error shape). */
export async function responseError(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  const error = body && typeof body === "object" && body.error ? body.error : {};
  const retry = Number(resp.headers.get("Retry-After") || 0);
  return {
    status: resp.status,
    code: typeof error.code === "string" ? error.code : "unknown",
    message: typeof error.message === "string" ? error.message : "",
    retry_after: retry > 0 ? retry : undefined,
  };
}

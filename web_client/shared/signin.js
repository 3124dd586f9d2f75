// Buyer accounts on any page: an element with data-account="orders" or "classes" shows who
// is signed in (the masked phone) or a button that opens the phone sign-in sheet. Signing
// in asks for a code by SMS (POST /api/account/code), then sends it
// (POST /api/account/signin): this device's orders, classes and name move into the
// account, the page keeps the account's identity and reloads, so everything it shows (and
// its live connection) is the account's.

import { translate, t } from "./i18n.js";
import { errorText, responseError } from "./errors.js";
import { adoptViewer, currentViewer, viewerApi } from "./viewer.js";

const STYLE = "/static/shared/signin.css";
let sheet = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "i18n") node.dataset.i18n = value;
    else if (name === "i18nPlaceholder") node.dataset.i18nPlaceholder = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function addStyle() {
  if (document.querySelector(`link[href="${STYLE}"]`)) return;
  document.head.append(el("link", { rel: "stylesheet", href: STYLE }));
}

async function readMe() {
  if (!currentViewer()) return null; // a first visit has no account (and mints no identity here)
  try {
    const resp = await viewerApi("/api/me");
    return resp.ok ? await resp.json() : null;
  } catch {
    return null;
  }
}

/** The sign-in sheet, made once per page: phone, then the code from the SMS. */
function signInSheet() {
  if (sheet) return sheet;
  const phone = el("input", { id: "signin-phone", type: "tel", inputmode: "tel",
    autocomplete: "tel", maxlength: "32", i18nPlaceholder: "account.phonePlaceholder" });
  const code = el("input", { id: "signin-code", type: "text", inputmode: "numeric",
    autocomplete: "one-time-code", maxlength: "6", pattern: "[0-9]{6}" });
  const send = el("button", { type: "button", class: "primary", i18n: "account.sendCode" });
  const confirm = el("button", { type: "button", class: "primary", i18n: "account.signIn" });
  const status = el("p", { class: "signin-status", role: "status", "aria-live": "polite" });
  const close = el("button", { type: "button", i18n: "common.close" });
  const codeRow = el("div", { class: "signin-row", hidden: "" },
    el("label", { for: "signin-code", i18n: "account.code" }), code, confirm);
  const dialog = el("dialog", { id: "signin-sheet", class: "signin-sheet",
    "aria-labelledby": "signin-title" },
  el("h2", { id: "signin-title", i18n: "account.title" }),
  el("p", { class: "muted", i18n: "account.why" }),
  el("div", { class: "signin-row" },
    el("label", { for: "signin-phone", i18n: "account.phone" }), phone, send),
  codeRow, status, el("div", { class: "signin-actions" }, close));
  document.body.append(dialog);
  translate(dialog);

  function say(text, isError = false) {
    status.textContent = text;
    status.classList.toggle("error", isError);
  }
  async function post(path, body) {
    const resp = await viewerApi(path, { method: "POST", body });
    if (!resp.ok) throw await responseError(resp);
    return resp.json();
  }
  send.addEventListener("click", async () => {
    send.disabled = true;
    try {
      const sent = await post("/api/account/code", { phone: phone.value.trim() });
      codeRow.hidden = false;
      say(t("account.sent", { phone: sent.phone }));
      code.focus();
    } catch (err) {
      say(errorText(err), true);
    } finally {
      send.disabled = false;
    }
  });
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      const account = await post("/api/account/signin",
        { phone: phone.value.trim(), code: code.value.trim() });
      adoptViewer(account);
      say(t("account.done", { phone: account.account.phone }));
      location.reload();
    } catch (err) {
      say(errorText(err), true);
      confirm.disabled = false;
    }
  });
  code.addEventListener("keydown", (event) => {
    if (event.key === "Enter") confirm.click();
  });
  close.addEventListener("click", () => dialog.close());
  sheet = dialog;
  return sheet;
}

/** Render the account line into `slot`: the masked phone, or the sign-in button. */
async function mount(slot) {
  const me = await readMe();
  const line = el("div", { class: "account-line" });
  if (me && me.account) {
    line.append(el("span", { i18n: "account.signedIn" }),
      el("span", { class: "account-phone" }, me.account.phone));
  } else {
    const open = el("button", { type: "button", class: "signin-open",
      i18n: slot.dataset.account === "classes" ? "account.restoreClasses"
        : "account.seeOrdersAnywhere" });
    open.addEventListener("click", () => signInSheet().showModal());
    line.append(open);
  }
  translate(line);
  slot.replaceChildren(line);
}

addStyle();
for (const slot of document.querySelectorAll("[data-account]")) mount(slot);

// Sheets that slide up over the live picture: the management panels behind tabs, the flash
// sale form and the confirm question (End, take over). A confirm here rather than
// window.confirm: it is translated, thumb-sized and does not freeze the page's timers.

import { t } from "../shared/i18n.js";

const $ = (id) => document.getElementById(id);
const TAB_KEY = "stallcast.studioTab";

/** The management sheet: six tabs, one panel shown; open/close on a phone. */
export class ManageSheet {
  constructor({ onTab = () => {} } = {}) {
    this.sheet = $("manage");
    this.tabs = [...document.querySelectorAll("#tabs [role=tab]")];
    this.onTab = onTab;
    for (const tab of this.tabs) {
      tab.addEventListener("click", () => this.show(tab.id.slice(4)));
      tab.addEventListener("keydown", (e) => this.arrows(e, tab));
    }
    $("manage-open").addEventListener("click", () => this.open());
    $("manage-close").addEventListener("click", () => this.close());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !openModal && this.sheet.classList.contains("open")) {
        this.close();
      }
    });
    this.show(localStorage.getItem(TAB_KEY) || "products", false);
  }

  arrows(event, tab) {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const i = (this.tabs.indexOf(tab) + step + this.tabs.length) % this.tabs.length;
    this.tabs[i].focus();
    this.show(this.tabs[i].id.slice(4));
  }

  /** Show tab `name` ("products", "sales", "orders", "chat", "sessions", "settings"). */
  show(name, remember = true) {
    const known = this.tabs.some((tab) => tab.id === `tab-${name}`) ? name : "products";
    for (const tab of this.tabs) {
      const on = tab.id === `tab-${known}`;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      const pane = $(tab.getAttribute("aria-controls"));
      if (pane) pane.hidden = !on || this.lockedOut;
    }
    this.current = known;
    if (remember) localStorage.setItem(TAB_KEY, known);
    this.onTab(known);
  }

  /** Not signed in: the sheet holds the sign-in form instead of the panels. */
  signInOnly(panel) {
    this.lockedOut = true;
    $("tabs").hidden = true;
    for (const tab of this.tabs) $(tab.getAttribute("aria-controls")).hidden = true;
    $("signin-slot").append(panel);
    panel.hidden = false;
  }

  open(name) {
    if (name) this.show(name);
    this.sheet.classList.add("open");
    $("manage-open").setAttribute("aria-expanded", "true");
    const tab = this.tabs.find((x) => x.getAttribute("aria-selected") === "true");
    if (tab && !this.lockedOut) tab.focus();
  }

  close() {
    const inside = this.sheet.contains(document.activeElement);
    this.sheet.classList.remove("open");
    $("manage-open").setAttribute("aria-expanded", "false");
    if (inside) $("manage-open").focus();
  }
}

let openModal = null;

/** Show a modal sheet (an element with class "sheet modal"); closes the one open before. */
export function showModal(node, focus) {
  if (openModal && openModal !== node) hideModal(openModal);
  openModal = node;
  node.hidden = false;
  $("scrim").hidden = false;
  (focus || node.querySelector("input, select, button")).focus();
}

export function hideModal(node = openModal) {
  if (!node) return;
  node.hidden = true;
  if (openModal === node) openModal = null;
  if (!openModal) $("scrim").hidden = true;
}

export function wireModals() {
  $("scrim").addEventListener("click", () => {
    if (openModal && openModal.id === "confirm-sheet") $("confirm-no").click();
    else hideModal();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !openModal) return;
    if (openModal.id === "confirm-sheet") $("confirm-no").click();
    else hideModal();
  });
}

/**
 * Ask a yes/no question in the confirm sheet; resolves true for yes. Keys are catalogue
 * keys: { text, detail?, yes, no, vars? }.
 */
export function confirmSheet({ text, detail = "", yes, no = "common.cancel", vars = {} }) {
  const sheet = $("confirm-sheet");
  $("confirm-text").textContent = t(text, vars);
  $("confirm-detail").textContent = detail ? t(detail, vars) : "";
  $("confirm-detail").hidden = !detail;
  $("confirm-yes").textContent = t(yes, vars);
  $("confirm-no").textContent = t(no, vars);
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-yes").onclick = null;
      $("confirm-no").onclick = null;
      hideModal(sheet);
      resolve(answer);
    };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    showModal(sheet, $("confirm-no"));
  });
}

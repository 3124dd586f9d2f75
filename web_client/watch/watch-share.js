// Share the show: the link to copy, the system share sheet where the browser has one
// (navigator.share, phones), and a QR code of the link on desktops, for a phone to scan.
// The QR code is drawn on a canvas by the vendored qrcode-generator (web_client/vendor/).

import { t } from "../shared/i18n.js";
import { qrcode } from "../vendor/qrcode-generator/qrcode.mjs";

const QR_MARGIN = 2; // modules of quiet zone

/** Draw `text` as a QR code filling `canvas` (black on white). */
export function drawQr(canvas, text) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const cell = Math.max(1, Math.floor(canvas.width / (n + QR_MARGIN * 2)));
  const offset = Math.floor((canvas.width - cell * n) / 2);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000";
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) {
      if (qr.isDark(r, c)) ctx.fillRect(offset + c * cell, offset + r * cell, cell, cell);
    }
  }
  return n;
}

export function createShare({ els, title }) {
  const link = () => {
    const url = new URL(location.href);
    url.hash = "";
    url.search = "";
    return url.href;
  };
  const desktop = () => matchMedia("(pointer: fine)").matches || innerWidth >= 700;

  function say(key) {
    els.shareStatus.textContent = key ? t(key) : "";
  }

  function open() {
    const url = link();
    els.shareUrl.textContent = url;
    els.shareNative.hidden = typeof navigator.share !== "function";
    els.shareQr.hidden = !desktop();
    if (!els.shareQr.hidden) els.shareQr.dataset.modules = String(drawQr(els.shareQr, url));
    say("");
    if (!els.shareSheet.open) els.shareSheet.showModal();
  }

  async function copy() {
    try {
      await navigator.clipboard.writeText(link());
      say("watch.share.copied");
    } catch {
      // No clipboard permission (or not a secure context): select the link for the person.
      const range = document.createRange();
      range.selectNodeContents(els.shareUrl);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      say("watch.share.copyFailed");
    }
  }

  async function native() {
    try {
      await navigator.share({ title: title() || t("watch.title"), url: link() });
    } catch {
      // Dismissed by the person, or refused: the sheet stays with the other ways.
    }
  }

  els.share.addEventListener("click", open);
  els.shareCopy.addEventListener("click", copy);
  els.shareNative.addEventListener("click", native);
  els.shareClose.addEventListener("click", () => els.shareSheet.close());
  return { open };
}

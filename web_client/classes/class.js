// Stallcast class page: play a recorded class (HLS VOD through signed, expiring URLs), with
// the products the host pinned shown at the moments they were pinned. A viewer who has not
// bought the class gets the free preview and a Buy button; buying unlocks the whole class.
// hls.js (window.Hls) is loaded by class.html as a classic script before this module.

import { initI18n, languageSwitcher, t } from "../shared/i18n.js";
import { wireBuying } from "./class-buy.js";
import { ReplayTimeline } from "./class-timeline.js";
import { NAMESPACES, describeHttpError, formatLength, formatPrice } from "./classes.js";
import { viewerApi as api } from "../shared/viewer.js";

const SAVE_EVERY_MS = 5000;
const TICK_MS = 100;
const NOT_READY_RETRY_MS = 5000;

const els = {
  title: document.getElementById("title"),
  video: document.getElementById("player"),
  card: document.getElementById("card"),
  cardImage: document.getElementById("card-image"),
  cardTitle: document.getElementById("card-title"),
  cardPrice: document.getElementById("card-price"),
  cardSale: document.getElementById("card-sale"),
  length: document.getElementById("length"),
  price: document.getElementById("price"),
  previewNote: document.getElementById("preview-note"),
  previewEnd: document.getElementById("preview-end"),
  previewEndTitle: document.getElementById("preview-end-title"),
  previewEndText: document.getElementById("preview-end-text"),
  buy: document.getElementById("buy"),
  form: document.getElementById("buy-form"),
  name: document.getElementById("buyer-name"),
  phone: document.getElementById("buyer-phone"),
  confirm: document.getElementById("buy-confirm"),
  cancel: document.getElementById("buy-cancel"),
  status: document.getElementById("status"),
  description: document.getElementById("description"),
};
const video = els.video;

const classId = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop() || "");
const base = `/api/classes/${encodeURIComponent(classId)}`;

/** For tests and debugging: the video element and the last /play answer. */
const stallcast = { video, play: null, hls: null, class: null };
window.stallcast = stallcast;

const state = {
  timeline: new ReplayTimeline([]),
  shownCard: null,
  lastSaved: -1,
  refreshing: false,
  refreshes: [], // when the playlist was last fetched again, to give up on a loop
};

// -- status -----------------------------------------------------------------------------------
// The status is kept as a catalogue key and its values, so a language switch can say it again.

let lastStatus = { key: "", vars: {}, kind: "info" };

function setStatus(key, vars = {}, kind = "info") {
  lastStatus = { key, vars, kind };
  els.status.textContent = key ? t(key, vars) : "";
  els.status.dataset.state = kind;
}

function fail(key, vars = {}) {
  setStatus(key, vars, "error");
}

function reason(err) {
  return err && err.message ? err.message : String(err);
}

// -- the product card, as the timeline has it at this moment --------------------------------------------------------------------

function renderCard() {
  const at = video.currentTime; // not `t`: that is the catalogue lookup used below
  const span = video.readyState > 0 || at > 0 ? state.timeline.cardAt(at) : null;
  const sale = span ? state.timeline.saleAt(at, span.card.product_id) : null;
  const soldOut = Boolean(sale && at >= sale.soldOutAt);
  const key = span ? `${span.start}|${sale ? sale.sale.sale_id : ""}|${soldOut}` : null;
  if (key === state.shownCard) return;
  state.shownCard = key;
  if (!span) {
    els.card.hidden = true;
    return;
  }
  const { card } = span;
  els.cardTitle.textContent = card.title || "";
  els.cardPrice.textContent = typeof card.price === "number"
    ? formatPrice(card.price, card.currency) : "";
  if (card.image) {
    els.cardImage.src = card.image;
    els.cardImage.hidden = false;
  } else {
    els.cardImage.removeAttribute("src");
    els.cardImage.hidden = true;
  }
  if (sale) {
    els.cardSale.textContent = soldOut ? t("classes.card.soldOut")
      : t("classes.card.sale", { price: formatPrice(sale.sale.price,
                                                    sale.sale.currency || card.currency) });
  } else {
    els.cardSale.textContent = "";
  }
  els.card.hidden = false;
}

// -- the free preview -------------------------------------------------------------------------

function previewLimit() {
  const play = stallcast.play;
  return play && !play.entitled ? Math.max(0, Number(play.preview_seconds) || 0) : Infinity;
}

function showPreviewEnd(show) {
  if (els.previewEnd.hidden === !show) return;
  els.previewEnd.hidden = !show;
  if (show && els.form.hidden) setStatus("classes.preview.endedStatus", {}, "preview");
}

/** Hold a viewer who has not bought the class at the end of the free preview. */
function enforcePreview() {
  const limit = previewLimit();
  if (!Number.isFinite(limit)) return;
  if (video.currentTime >= limit - 0.05) {
    if (!video.paused) video.pause();
    if (video.currentTime > limit + 0.05 && !video.seeking) video.currentTime = limit;
    showPreviewEnd(true);
  } else if (!video.paused) {
    showPreviewEnd(false);
  }
}

function tick() {
  enforcePreview();
  renderCard();
}

// -- playback ---------------------------------------------------------------------------------

function detach() {
  if (stallcast.hls) {
    stallcast.hls.destroy();
    stallcast.hls = null;
  }
  if (video.getAttribute("src")) {
    video.removeAttribute("src");
    video.load();
  }
}

function startPlaying() {
  // Muted, so browsers let it start on its own; otherwise the viewer presses play.
  video.play().catch(() => {});
}

/** Where to start: the saved position, unless it is past what this viewer may watch. */
function startPosition(play) {
  const position = Number(play.position) || 0;
  const duration = Number(play.duration) || 0;
  const limit = play.entitled ? Infinity : Number(play.preview_seconds) || 0;
  if (position < 1 || position >= limit - 0.5) return 0;
  if (duration && position >= duration - 2) return 0; // finished last time: from the top
  return position;
}

function attach(playlist, start, autoplay = true) {
  detach();
  const url = new URL(playlist, location.href).href;
  const Hls = window.Hls;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({ startPosition: start > 0 ? start : -1 });
    stallcast.hls = hls;
    hls.on(Hls.Events.ERROR, (_event, data) => onHlsError(hls, data));
    if (autoplay) hls.on(Hls.Events.MANIFEST_PARSED, startPlaying);
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
    if (start > 0) {
      video.addEventListener("loadedmetadata", () => { video.currentTime = start; },
                             { once: true });
    }
    if (autoplay) startPlaying();
  } else {
    fail("classes.play.unsupported");
  }
}

function onHlsError(hls, data) {
  if (hls !== stallcast.hls) return;
  const Hls = window.Hls;
  const code = data.response && data.response.code;
  // 403: the signed URLs expired (after a long pause, say). hls.js would keep retrying the
  // same URL (a non-fatal fragLoadError), so get fresh URLs at once and carry on from here.
  if (code === 403) {
    refreshPlaylist();
    return;
  }
  if (!data.fatal) return;
  if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
    setStatus("classes.play.retrying", {}, "retry");
    setTimeout(() => { if (hls === stallcast.hls) hls.startLoad(); }, 2000);
  } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
    hls.recoverMediaError();
  } else {
    fail("classes.play.failed", { message: data.details || data.type });
  }
}

video.addEventListener("error", () => {
  if (stallcast.hls || !video.getAttribute("src")) return; // hls.js reports its own errors
  // Native HLS cannot tell why; an expired signature is the likely cause, so retry once.
  refreshPlaylist();
});

/** GET /play: the signed playlist, entitlement, saved position and timeline. */
async function loadPlay() {
  for (;;) {
    const resp = await api(`${base}/play`);
    if (resp.status === 409) {
      setStatus("classes.play.preparing");
      await new Promise((resolve) => { setTimeout(resolve, NOT_READY_RETRY_MS); });
      continue;
    }
    if (!resp.ok) throw new Error(await describeHttpError(resp));
    const play = await resp.json();
    stallcast.play = play;
    state.timeline = new ReplayTimeline(play.timeline);
    state.shownCard = undefined;
    renderOffer();
    return play;
  }
}

async function refreshPlaylist() {
  if (state.refreshing) return;
  const now = Date.now();
  state.refreshes = state.refreshes.filter((t) => now - t < 60_000);
  if (state.refreshes.length >= 3) {
    fail("classes.play.refused");
    return;
  }
  state.refreshing = true;
  const wait = state.refreshes.length * 1000; // back off when fresh URLs are refused too
  state.refreshes.push(now);
  const wasPlaying = !video.paused;
  try {
    if (wait) await new Promise((resolve) => { setTimeout(resolve, wait); });
    const at = video.currentTime;
    const play = await loadPlay();
    attach(play.playlist, at, wasPlaying);
  } catch (err) {
    fail("classes.play.failed", { message: reason(err) });
  } finally {
    state.refreshing = false;
  }
}

// -- resume: the position is saved every few seconds, on pause and on leaving -----------------

function savePosition({ keepalive = false, force = false } = {}) {
  const play = stallcast.play;
  if (!play || video.readyState === 0) return;
  const seconds = Math.round(video.currentTime * 10) / 10;
  const duration = Number(play.duration) || 0;
  if (!Number.isFinite(seconds) || seconds < 0 || (duration && seconds > duration + 1)) return;
  if (!force && Math.abs(seconds - state.lastSaved) < 0.5) return;
  state.lastSaved = seconds;
  api(`${base}/position`, { method: "PUT", body: { seconds }, keepalive }).catch(() => {});
}

setInterval(() => { if (!video.paused) savePosition(); }, SAVE_EVERY_MS);
video.addEventListener("pause", () => savePosition());
window.addEventListener("pagehide", () => savePosition({ keepalive: true }));
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") savePosition({ keepalive: true });
});

// -- buying -----------------------------------------------------------------------------------

function renderOffer() {
  const play = stallcast.play;
  const cls = stallcast.class;
  const entitled = Boolean(play && play.entitled);
  els.previewNote.hidden = !play || entitled;
  if (play && !entitled) {
    els.previewNote.textContent = t("classes.preview.note",
                                    { n: Number(play.preview_seconds) || 0 });
  }
  if (cls) {
    els.buy.textContent = cls.price ? t("classes.buy.for", { price: formatPrice(cls.price,
                                                                                 cls.currency) })
      : t("classes.buy.free");
  }
  if (entitled) showPreviewEnd(false);
}

wireBuying({
  els, base, api, video, setStatus, fail, reason, loadPlay,
  onUnlocked: (play, at) => {
    els.form.hidden = true;
    showPreviewEnd(false);
    attach(play.playlist, at);
  },
});

// -- wiring -----------------------------------------------------------------------------------

video.addEventListener("timeupdate", tick);
video.addEventListener("seeking", tick);
video.addEventListener("play", () => {
  // Pressing play at the end of the preview plays the preview again.
  const limit = previewLimit();
  if (Number.isFinite(limit) && video.currentTime >= limit - 0.05) video.currentTime = 0;
  showPreviewEnd(false);
  if (els.status.dataset.state === "preview") setStatus("");
});
video.addEventListener("playing", () => {
  if (els.status.dataset.state === "retry") setStatus("");
});
video.addEventListener("ended", () => {
  if (Number.isFinite(previewLimit())) showPreviewEnd(true);
});
setInterval(tick, TICK_MS);

function renderClass() {
  const cls = stallcast.class;
  document.title = t("classes.pageTitle", { title: cls ? cls.title : t("classes.classTitle") });
  if (!cls) {
    els.title.textContent = t("classes.classTitle");
    return;
  }
  els.title.textContent = cls.title;
  els.description.textContent = cls.description || "";
  if (cls.duration) els.length.textContent = t("classes.length", {
    length: formatLength(cls.duration) });
  els.price.textContent = formatPrice(cls.price, cls.currency);
}

async function loadClass() {
  const resp = await fetch(base);
  if (resp.status === 404) throw Object.assign(new Error("no such class"), { notFound: true });
  if (!resp.ok) throw new Error(await describeHttpError(resp));
  const cls = await resp.json();
  stallcast.class = cls;
  renderClass();
  if (cls.poster) video.poster = cls.poster;
  renderOffer();
}

await initI18n(NAMESPACES);
renderClass();
languageSwitcher(document.getElementById("lang"), NAMESPACES, () => {
  renderClass();
  renderOffer();
  state.shownCard = undefined; // say the card again in the new language
  renderCard();
  setStatus(lastStatus.key, lastStatus.vars, lastStatus.kind);
});
try {
  await loadClass();
  const play = await loadPlay();
  attach(play.playlist, startPosition(play));
} catch (err) {
  if (err && err.notFound) fail("classes.class.notFound");
  else fail("classes.class.loadFailed", { message: reason(err) });
}

// Operator dashboard (/ops): live sessions' health and sales, charts over time, reports.
// Operators see every session; a host's token sees the host's own sessions.
import { initI18n, languageSwitcher, t, translate } from "../shared/i18n.js";
import * as f from "./ops-format.js";
import { charts, detailFigures, liveRows, reportRows } from "./ops-views.js";

const NAMESPACES = ["ops"];
const TOKEN_KEY = "stallcast.ops.token";
const REFRESH_MS = 3000;
const REPORTS_EVERY = 5; // live refreshes between two reports refreshes
const DEFAULT_CURRENCY = "CNY";
const JOINS_KEPT = 500;

const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  role: null, // "operator" | "host"
  sessions: [],
  reports: [],
  joins: new Map(), // session id -> join times (ms) seen in its samples
  lastSampleAt: new Map(), // session id -> t of the latest sample taken in
  currencies: new Map(), // room id -> { currency, until }
  selected: null, // session id shown in the detail panel
  opener: null, // what to focus when the panel closes
  detail: null,
  timer: null,
  ticks: 0,
  summary: "",
  updatedAt: null,
};

class ApiFailure extends Error {
  constructor(status, code) {
    super(`HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

async function api(path, token = state.token) {
  let resp;
  try {
    resp = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
  } catch {
    throw new ApiFailure(0, "network");
  }
  if (!resp.ok) {
    let code = "";
    try {
      code = (await resp.json()).error.code;
    } catch { /* not JSON */ }
    throw new ApiFailure(resp.status, code);
  }
  return resp.json();
}

// A sentence a person can act on, for a failed call.
function explain(err, where = "list") {
  if (!(err instanceof ApiFailure)) return t("common.error", { message: String(err) });
  if (err.status === 0) return t("ops.error.network");
  if (err.status === 401) return t("ops.error.unknown_token");
  if (err.status === 403) {
    return where === "detail" ? t("ops.error.not_yours") : t("ops.error.viewer_token");
  }
  if (err.status === 404) return t("ops.error.no_session");
  return t("common.error", { message: err.message });
}

// The currency of a room's products (public room state), so GMV shows in the right money.
async function currencyOf(roomId) {
  if (!roomId) return DEFAULT_CURRENCY;
  const known = state.currencies.get(roomId);
  if (known && (known.until === Infinity || known.until > Date.now())) return known.currency;
  let currency = null;
  try {
    const resp = await fetch(`/api/rooms/${encodeURIComponent(roomId)}/state`, { cache: "no-store" });
    if (resp.ok) {
      const room = await resp.json();
      const product = room.pinned || (room.products || [])[0] || (room.sales || [])[0];
      currency = product && product.currency;
    }
  } catch { /* keep the default */ }
  state.currencies.set(roomId, currency ? { currency, until: Infinity }
    : { currency: DEFAULT_CURRENCY, until: Date.now() + 30000 });
  return currency || DEFAULT_CURRENCY;
}

function currencyNow(roomId) {
  const known = state.currencies.get(roomId);
  return known ? known.currency : DEFAULT_CURRENCY;
}

// ---- signing in and out --------------------------------------------------------------

function showSignedIn(signedIn) {
  $("signin").hidden = signedIn;
  $("dash").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  $("who").hidden = !signedIn;
  if (signedIn) $("who").textContent = t(`ops.who.${state.role || "operator"}`);
}

async function signIn(token, { quiet = false } = {}) {
  clearTimeout(state.timer);
  $("signin-error").textContent = "";
  if (!token) {
    $("signin-error").textContent = t("ops.error.no_token");
    $("token").focus();
    return;
  }
  const button = $("signin-btn");
  button.disabled = true;
  let first;
  try {
    first = await api("/api/ops/sessions", token);
  } catch (err) {
    showSignedIn(false);
    $("signin-error").textContent = explain(err);
    if (err.status === 0 && quiet) {
      // The server is unreachable: keep the saved token and try again shortly.
      state.timer = setTimeout(() => signIn(token, { quiet }), REFRESH_MS);
      return;
    }
    if (err.status !== 0) localStorage.removeItem(TOKEN_KEY);
    if (!quiet) $("token").focus();
    return;
  } finally {
    button.disabled = false;
  }
  state.token = token;
  localStorage.setItem(TOKEN_KEY, token);
  // Only a host's token may list rooms: that tells the two roles apart.
  try {
    await api("/api/rooms", token);
    state.role = "host";
  } catch {
    state.role = "operator";
  }
  $("token").value = "";
  showSignedIn(true);
  await takeSessions(first.sessions);
  await refreshReports();
  const wanted = new URLSearchParams(location.hash.slice(1)).get("session");
  if (wanted) await openSession(wanted, null);
  schedule();
}

function signOut(message = "") {
  clearTimeout(state.timer);
  state.timer = null;
  localStorage.removeItem(TOKEN_KEY);
  Object.assign(state, { token: null, role: null, sessions: [], reports: [], selected: null,
    detail: null, summary: "" });
  state.joins.clear();
  state.lastSampleAt.clear();
  $("live-body").replaceChildren();
  $("reports-body").replaceChildren();
  $("detail").hidden = true;
  history.replaceState(null, "", location.pathname);
  showSignedIn(false);
  $("signin-error").textContent = message;
  $("token").focus();
}

// ---- refreshing ----------------------------------------------------------------------

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(tick, REFRESH_MS);
}

async function tick() {
  if (!state.token) return;
  if (document.hidden) return schedule();
  state.ticks += 1;
  try {
    const before = new Set(state.sessions.map((s) => s.session_id));
    const { sessions } = await api("/api/ops/sessions");
    $("live-error").textContent = "";
    await takeSessions(sessions);
    const ended = [...before].some((id) => !sessions.some((s) => s.session_id === id));
    if (ended || state.ticks % REPORTS_EVERY === 0) await refreshReports();
    if (state.selected && isLive(state.selected)) await loadDetail(state.selected);
    else if (state.selected && ended && before.has(state.selected)) {
      await loadDetail(state.selected); // it has just ended: show its report
    }
  } catch (err) {
    if (err.status === 401 || err.status === 403) return signOut(explain(err));
    $("live-error").textContent = explain(err);
  }
  if (state.token) schedule();
}

function isLive(sid) {
  return state.sessions.some((s) => s.session_id === sid);
}

async function takeSessions(sessions) {
  for (const s of sessions) {
    const joins = s.figures.join_ms;
    if (joins && joins.length && s.figures.t !== state.lastSampleAt.get(s.session_id)) {
      state.joins.set(s.session_id, [...(state.joins.get(s.session_id) || []), ...joins]
        .slice(-JOINS_KEPT));
    }
    state.lastSampleAt.set(s.session_id, s.figures.t);
  }
  await Promise.all(sessions.map((s) => currencyOf(s.room_id)));
  const rank = { bad: 0, warn: 1, ok: 2 };
  state.sessions = sessions
    .map((s) => ({ session: s, health: f.health(s.figures) }))
    .sort((a, b) => rank[a.health.level] - rank[b.health.level]
      || b.session.figures.viewers - a.session.figures.viewers)
    .map((item) => item.session);
  state.updatedAt = Date.now() / 1000;
  renderLive();
}

async function refreshReports() {
  try {
    const { reports, delivery } = await api("/api/ops/reports");
    await Promise.all(reports.slice(0, 50).map((r) => currencyOf(r.room_id)));
    state.reports = reports;
    state.delivery = delivery || null;
    $("reports-error").textContent = "";
    renderReports();
  } catch (err) {
    if (err.status === 401 || err.status === 403) throw err;
    $("reports-error").textContent = explain(err);
  }
}

// ---- drawing -------------------------------------------------------------------------

// Re-rendering replaces the rows; keep the keyboard focus on the same session's button.
function keepFocus(body, draw) {
  const active = document.activeElement;
  const focused = body.contains(active) && active.dataset ? active.dataset.open : null;
  draw();
  if (focused) {
    const again = body.querySelector(`button[data-open="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

function renderLive() {
  const items = state.sessions.map((s) => ({
    session: s, health: f.health(s.figures), currency: currencyNow(s.room_id),
    joins: state.joins.get(s.session_id) }));
  const body = $("live-body");
  keepFocus(body, () => body.replaceChildren(...liveRows(items, state.selected, openSession)));
  $("live-table").hidden = items.length === 0;
  $("live-empty").hidden = items.length !== 0;
  if (state.updatedAt) $("updated").textContent = t("ops.updated", { time: f.clock(state.updatedAt) });
  // Announce only what changed in substance, not every refresh.
  const trouble = items.filter((i) => i.health.level !== "ok").length;
  const summary = t("ops.summary", { n: items.length, trouble });
  if (summary !== state.summary) {
    state.summary = summary;
    $("announce").textContent = summary;
  }
}

/** The delivery promise: orders past their ship-by time and not shipped, per host. */
function renderDelivery() {
  const d = state.delivery;
  const line = $("delivery");
  line.hidden = !d;
  if (!d) return;
  const hosts = Object.entries(d.by_host || {}).map(([host, n]) => t("ops.delivery.host",
    { host, n }));
  line.textContent = d.overdue ? [t("ops.delivery.overdue", { n: d.overdue }), ...hosts].join(" · ")
    : t("ops.delivery.none");
  line.dataset.state = d.overdue ? "late" : "ok";
}

function renderReports() {
  renderDelivery();
  const items = state.reports.map((r) => ({ report: r, currency: currencyNow(r.room_id) }));
  const body = $("reports-body");
  keepFocus(body, () => body.replaceChildren(...reportRows(items, state.selected, openSession)));
  $("reports-table").hidden = items.length === 0;
  $("reports-empty").hidden = items.length !== 0;
}

function renderDetail() {
  const data = state.detail;
  if (!data) return;
  const currency = currencyNow(data.room_id);
  const live = !data.report && data.status === "live";
  const last = (data.series || [])[(data.series || []).length - 1];
  const gone = live && last && last.live === false;
  $("detail-title").textContent = data.title || t("ops.untitled");
  const status = $("detail-status");
  status.className = `badge ${gone ? "bad" : live ? "live" : ""}`;
  status.textContent = gone ? t("ops.health.publisher_gone")
    : live ? t("common.live") : t("ops.status.ended");
  const ended = data.ended_at ?? (data.report && data.report.ended_at);
  $("detail-sub").textContent = ended
    ? t("ops.detail.ended", { start: f.dateTime(data.started_at), end: f.clock(ended) })
    : t("ops.detail.live", { start: f.dateTime(data.started_at) });
  $("detail-figures").replaceChildren(...detailFigures(data, currency));
  $("charts").replaceChildren(...charts(data.series || [], currency));
}

async function loadDetail(sid) {
  try {
    const data = await api(`/api/ops/sessions/${encodeURIComponent(sid)}`);
    if (state.selected !== sid) return;
    await currencyOf(data.room_id);
    state.detail = data;
    // A sample holds only the joins since the one before: the series has them all.
    const joins = (data.series || []).flatMap((x) => x.join_ms || []);
    if (joins.length) {
      state.joins.set(sid, joins.slice(-JOINS_KEPT));
      const last = data.series[data.series.length - 1];
      state.lastSampleAt.set(sid, last.t);
    }
    $("detail-error").textContent = "";
    renderDetail();
  } catch (err) {
    if (err.status === 401) throw err;
    if (state.selected !== sid) return;
    const report = state.reports.find((r) => r.session_id === sid);
    if (report && !state.detail) {
      state.detail = { ...report, status: "ended", series: [], report };
      renderDetail();
    }
    $("detail-error").textContent = explain(err, "detail");
  }
}

async function openSession(sid, opener) {
  state.selected = sid;
  state.opener = opener;
  state.detail = null;
  history.replaceState(null, "", `#session=${encodeURIComponent(sid)}`);
  const panel = $("detail");
  $("detail-title").textContent = t("common.loading");
  $("detail-sub").textContent = "";
  $("detail-error").textContent = "";
  $("detail-figures").replaceChildren();
  $("charts").replaceChildren();
  panel.hidden = false;
  for (const tr of document.querySelectorAll("tr[data-session]")) {
    tr.classList.toggle("selected", tr.dataset.session === sid);
  }
  $("detail-title").focus();
  panel.scrollIntoView({ block: "start", behavior: "instant" });
  await loadDetail(sid);
}

function closeDetail() {
  const sid = state.selected;
  state.selected = null;
  state.detail = null;
  $("detail").hidden = true;
  history.replaceState(null, "", location.pathname);
  for (const tr of document.querySelectorAll("tr.selected")) tr.classList.remove("selected");
  const back = document.querySelector(`button[data-open="${CSS.escape(sid || "")}"]`);
  (back || $("live-h")).focus?.();
}

function rerender() {
  if (state.token) $("who").textContent = t(`ops.who.${state.role || "operator"}`);
  document.title = t("ops.title");
  state.summary = "";
  renderLive();
  renderReports();
  renderDetail();
}

// /ops#signin=<token> (what `serve --demo` prints): keep the token as a sign-in would and
// take it out of the address bar, the history and any link copied from here at once.
function takeSignInFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = (params.get("signin") || "").trim();
  if (!params.has("signin")) return;
  if (token) localStorage.setItem(TOKEN_KEY, token);
  params.delete("signin");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
}

async function main() {
  takeSignInFragment();
  await initI18n(NAMESPACES);
  document.title = t("ops.title");
  languageSwitcher($("lang"), NAMESPACES, () => {
    translate(document);
    rerender();
  });
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value.trim());
  });
  $("signout").addEventListener("click", () => signOut());
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.selected) closeDetail();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.token) tick();
  });
  $("live-h").tabIndex = -1;
  const saved = localStorage.getItem(TOKEN_KEY);
  if (saved) await signIn(saved, { quiet: true });
  else showSignedIn(false);
  if (!saved) $("token").focus();
  window.stallcastOps = { state, refresh: tick };
}

main();

// Going live from a phone: the camera (front or back, portrait when the phone is upright),
// WHIP publishing (RFC 9725, one complete offer: the server takes no trickle ICE) with H264
// preferred, End behind a confirm, flipping the camera and muting the microphone without
// renegotiating, taking over from another device, and the uplink's health from the
// publisher's own RTCPeerConnection statistics.

import { t } from "../shared/i18n.js";
import { describeHttpError } from "./studio-api.js";
import { Camera } from "./studio-camera.js";
import { confirmSheet } from "./studio-sheet.js";
import { codecOrder, judgeHealth, readHealth } from "./studio-media.js";
import { waitIceGathering } from "../shared/webrtc.js";

const HEALTH_INTERVAL_MS = 2000;

export { judgeHealth };

class WhipRefused extends Error {
  constructor(info) {
    super(info.text);
    this.code = info.code;
    this.status = info.status;
  }
}

/**
 * The live controls. `els` holds the page's elements; `getKey()` returns the stream key (or
 * "" when none is known); `onState(kind)` hears "live", "ended", "offline", "error",
 * "connecting", "remote", "takenOver"; `roomLive()` answers whether the room is live now
 * (for a takeover check), `{live, session}`.
 */
export class LivePanel {
  constructor(els, { roomId, getKey, onState = () => {}, stallcast, roomLive = null }) {
    this.els = els;
    this.roomId = roomId;
    this.getKey = getKey;
    this.onState = onState;
    this.stallcast = stallcast;
    this.roomLive = roomLive;
    this.whipUrl = new URL(`/whip/${encodeURIComponent(roomId)}`, location.href).href;
    this.session = null; // { pc, location, key, timer, last } while publishing
    this.camera = new Camera(els, { stallcast, onTracks: (tracks) => this.replaceSent(tracks) });
    this.remote = null; // the live session of another device, from GET /api/rooms/{id}
    this.endedAt = 0; // when this page last stopped publishing (performance.now())
    this.status = { key: "studio.status.offline", vars: {}, kind: "offline" };
    this.health = null;
    els.golive.addEventListener("click", () => { if (this.session === null) this.goLive(); });
    els.key.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && this.session === null) this.goLive();
    });
    els.stop.addEventListener("click", () => { this.askEnd(); });
    window.addEventListener("pagehide", () => this.leavePage());
    delete els.status.dataset.i18n; // from here on the panel says what the status is
    this.render();
  }

  setStatus(key, kind, vars = {}) {
    this.status = { key, vars, kind };
    this.renderStatus();
    this.renderHealth();
    this.onState(kind);
  }

  renderStatus() {
    const { key, vars, kind } = this.status;
    const text = t(key, vars);
    if (this.els.status.textContent !== text) this.els.status.textContent = text;
    this.els.status.dataset.state = kind;
  }

  /** Re-render everything this panel draws (after a language switch, too). */
  render() {
    this.renderStatus();
    this.renderHealth();
    this.renderRemote();
    this.camera.render();
    this.updateButtons();
  }

  /** Open the camera for the preview (what goes live). */
  startPreview() {
    return this.camera.startPreview();
  }

  updateButtons() {
    const s = this.session;
    this.els.golive.hidden = s !== null;
    this.els.golive.disabled = s !== null;
    this.els.stop.hidden = s === null;
    this.els.stop.disabled = s === null || !s.location;
    this.els.key.disabled = s !== null;
    this.els.golive.textContent = t(this.remote ? "studio.live.takeOver" : "studio.live.go");
  }

  // -- another device ---------------------------------------------------------------------
  /** The room's live session as the server sees it (null: nobody is live). A poll that
   * started before this page stopped publishing is ignored: it may still see us live. */
  setRemote(session, askedAt = performance.now()) {
    if (this.session || askedAt < this.endedAt) return;
    this.remote = session;
    const kind = this.status.kind;
    // "Taken over" stays said while the other device is live; "offline" once it is not.
    if (session && kind !== "takenOver") this.setStatus("studio.status.remote", "remote");
    else if (!session && ["remote", "takenOver"].includes(kind)) {
      this.setStatus("studio.status.offline", "offline");
    }
    this.renderRemote();
    this.updateButtons();
  }

  renderRemote() {
    const r = this.session ? null : this.remote;
    this.els.remote.hidden = !r;
    if (!r) return;
    const facts = [
      ["studio.health.size", r.width ? `${r.width}×${r.height}` : "–"],
      ["studio.health.fps", r.fps ? String(Math.round(r.fps)) : "–"],
      ["studio.health.bitrate", r.bitrate_bps
        ? t("studio.health.kbps", { n: Math.round(r.bitrate_bps / 1000) }) : "–"],
      ["studio.remote.viewers", String(r.viewers ?? 0)],
      ["studio.health.codec", r.codec ? String(r.codec).replace(/^video\//i, "").toUpperCase()
        : "–"],
      ["studio.remote.since", r.started_at ? new Date(r.started_at * 1000)
        .toLocaleTimeString(document.documentElement.lang, { hour: "2-digit",
          minute: "2-digit" }) : "–"],
    ];
    this.els.remoteFacts.replaceChildren(...facts.map(([key, value]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = t(key);
      dd.textContent = value;
      div.append(dt, dd);
      return div;
    }));
  }

  async replaceSent(tracks) {
    const s = this.session;
    if (!s) return;
    for (const sender of s.pc.getSenders()) {
      if (!sender.track) continue;
      const next = tracks.find((tr) => tr.kind === sender.track.kind);
      if (next && next !== sender.track) await sender.replaceTrack(next);
    }
  }

  // -- publishing ------------------------------------------------------------------------
  async goLive({ takeover = false } = {}) {
    const key = this.getKey();
    if (!key) {
      this.els.keyField.hidden = false;
      this.setStatus("studio.status.needKey", "error");
      this.els.key.focus();
      return;
    }
    if (this.remote && !takeover) {
      if (!(await this.askTakeover())) return;
      takeover = true;
    }
    const pc = new RTCPeerConnection();
    const s = { pc, location: "", key, timer: null, last: null, ending: false };
    this.session = s;
    this.stallcast.pc = pc;
    this.renderRemote();
    this.updateButtons();
    this.setStatus("studio.status.connecting", "connecting");
    pc.addEventListener("connectionstatechange", () => this.onConnectionState(s));
    try {
      const stream = await this.camera.ensurePreview();
      if (this.session !== s) throw new Error("cancelled");
      for (const track of stream.getTracks()) {
        const tr = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
        if (track.kind === "video") preferCodecs(tr);
      }
      await pc.setLocalDescription(await pc.createOffer());
      await waitIceGathering(pc);
      const url = takeover ? `${this.whipUrl}?takeover=1` : this.whipUrl;
      const resp = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${key}` },
        body: pc.localDescription.sdp,
      });
      if (resp.status !== 201) throw new WhipRefused(await describeHttpError(resp));
      const loc = resp.headers.get("Location");
      if (!loc) throw new Error(t("studio.noLocation"));
      s.location = new URL(loc, this.whipUrl).href;
      const answer = await resp.text();
      if (this.session !== s) throw new Error("cancelled");
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      this.remote = null;
      this.updateButtons();
      this.sampleHealth(s).catch(() => {}); // the baseline the first figures compare with
      s.timer = setInterval(() => {
        this.sampleHealth(s).catch(() => {}); // the pc may close mid-call
      }, HEALTH_INTERVAL_MS);
      this.onConnectionState(s);
    } catch (err) {
      const wasCurrent = this.session === s;
      await this.teardown(s, true);
      if (!wasCurrent) return;
      this.updateButtons();
      if (err instanceof WhipRefused && err.status === 409 && !takeover) {
        // Someone else is live in this room: ask, never show the raw conflict.
        this.remote = this.remote || {};
        this.setStatus("studio.status.remote", "remote");
        this.renderRemote();
        this.updateButtons();
        if (await this.askTakeover()) this.goLive({ takeover: true });
        return;
      }
      if (err && err.name === "NotAllowedError") this.setStatus("studio.status.denied", "error");
      else {
        this.setStatus("studio.status.error", "error",
          { message: err instanceof WhipRefused ? err.message
            : t("studio.error.connection") });
      }
    }
  }

  askTakeover() {
    return confirmSheet({ text: "studio.takeover.question", detail: "studio.takeover.detail",
      yes: "studio.takeover.yes", no: "common.cancel" });
  }

  onConnectionState(s) {
    if (this.session !== s) return;
    switch (s.pc.connectionState) {
      case "connected":
        s.connectedAt = s.connectedAt || performance.now();
        this.setStatus("studio.status.live", "live");
        break;
      case "disconnected":
        this.setStatus("studio.status.retrying", "connecting");
        this.checkTakenOver(s);
        break;
      case "failed":
      case "closed":
        this.lostSession(s);
        break;
      case "new":
      case "connecting":
        this.setStatus("studio.status.connecting", "connecting");
        break;
      default:
        break;
    }
  }

  /** The connection dropped while we did not end it: another device took over, or the
   * network failed. The room's state tells which. */
  async checkTakenOver(s) {
    if (!this.roomLive || s.ending) return false;
    let view = null;
    try {
      view = await this.roomLive();
    } catch {
      return false;
    }
    if (this.session !== s || s.pc.connectionState === "connected") return false;
    if (!view || !view.live) return false;
    await this.teardown(s, false);
    this.setStatus("studio.status.takenOver", "takenOver");
    this.remote = view.session || {};
    this.renderRemote();
    this.updateButtons();
    return true;
  }

  /** The room's events said another device took over. The device taking over hears it
   * too, before its own connection is up: only a publisher live for a while yields. */
  async takenOver() {
    const s = this.session;
    if (!s || !s.connectedAt || performance.now() - s.connectedAt < 1000 || s.ending) return;
    await this.teardown(s, false);
    this.setStatus("studio.status.takenOver", "takenOver");
    this.remote = {};
    this.renderRemote();
    this.updateButtons();
  }

  async lostSession(s) {
    if (await this.checkTakenOver(s)) return;
    if (this.session !== s) return;
    await this.teardown(s, true);
    this.setStatus("studio.status.failed", "error");
    this.updateButtons();
  }

  /** End a session: DELETE it on the server (if it got that far) and close the pc. */
  async teardown(s, deleteOnServer) {
    if (this.session === s) this.session = null;
    this.endedAt = performance.now();
    clearInterval(s.timer);
    this.health = null;
    this.renderHealth();
    let problem = "";
    if (deleteOnServer && s.location) {
      try {
        const resp = await fetch(s.location, {
          method: "DELETE",
          headers: { Authorization: `Bearer ${s.key}` },
        });
        if (!resp.ok && resp.status !== 404) problem = (await describeHttpError(resp)).text;
      } catch {
        problem = t("error.network");
      }
    }
    s.pc.close();
    this.endedAt = performance.now();
    return problem;
  }

  async askEnd() {
    const s = this.session;
    if (!s) return;
    const yes = await confirmSheet({ text: "studio.end.question", detail: "studio.end.detail",
      yes: "studio.end.yes", no: "studio.end.no" });
    if (yes && this.session === s) await this.end();
  }

  async end() {
    const s = this.session;
    if (!s) return;
    s.ending = true;
    this.els.stop.disabled = true;
    const problem = await this.teardown(s, true);
    this.remote = null;
    if (problem) this.setStatus("studio.status.endedUnconfirmed", "error", { message: problem });
    else this.setStatus("studio.status.ended", "ended");
    this.renderRemote();
    this.updateButtons();
  }

  leavePage() {
    const s = this.session;
    if (s) {
      this.session = null;
      clearInterval(s.timer);
      if (s.location) {
        fetch(s.location, {
          method: "DELETE",
          headers: { Authorization: `Bearer ${s.key}` },
          keepalive: true,
        }).catch(() => {});
      }
      s.pc.close();
    }
    this.camera.stop();
  }

  // -- uplink health ---------------------------------------------------------------------
  async sampleHealth(s) {
    if (this.session !== s) return;
    const { h, bytes } = readHealth(await s.pc.getStats());
    const now = performance.now();
    if (s.last) {
      const secs = (now - s.last.at) / 1000;
      h.kbps = secs > 0 ? Math.max(0, Math.round(((bytes - s.last.bytes) * 8) / secs / 1000)) : 0;
      h.level = judgeHealth(h);
      if (this.session === s) {
        this.health = h;
        this.stallcast.health = h;
        this.renderHealth();
      }
    }
    s.last = { at: now, bytes };
  }

  renderHealth() {
    const h = this.health;
    const e = this.els;
    e.health.parentElement.hidden = !this.session;
    if (!h) {
      e.health.dataset.level = "";
      e.healthLevel.textContent = t(this.session && this.session.location
        ? "studio.health.measuring" : "studio.health.idle");
      for (const cell of [e.hBitrate, e.hFps, e.hSize, e.hCodec, e.hLoss, e.hRtt]) {
        cell.textContent = "–";
      }
      return;
    }
    e.health.dataset.level = h.level;
    e.healthLevel.textContent = t(`studio.health.${h.level}`);
    e.hBitrate.textContent = t("studio.health.kbps", { n: h.kbps });
    e.hFps.textContent = h.fps === null ? "–" : String(Math.round(h.fps));
    e.hSize.textContent = h.width ? `${h.width}×${h.height}` : "–";
    e.hCodec.textContent = h.codec || "–";
    e.hLoss.textContent = h.loss === null ? "–" : `${(h.loss * 100).toFixed(1)}%`;
    e.hRtt.textContent = h.rttMs === null ? "–" : t("studio.health.ms", { n: h.rttMs });
  }
}

/** H264 first when this browser can send it (constrained baseline, packetization-mode=1
 * first), then VP8: the server remuxes an H264 recording in seconds. */
function preferCodecs(transceiver) {
  if (!transceiver.setCodecPreferences || !RTCRtpSender.getCapabilities) return;
  const caps = RTCRtpSender.getCapabilities("video");
  if (!caps || !caps.codecs) return;
  try {
    transceiver.setCodecPreferences(codecOrder(caps.codecs));
  } catch (err) {
    console.warn("stallcast studio: codec preferences refused", err);
  }
}

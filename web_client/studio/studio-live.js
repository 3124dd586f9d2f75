// Going live from a phone: the camera (front or back, portrait when the phone is upright),
// WHIP publishing (RFC 9725, one complete offer: the server takes no trickle ICE) with H264
// preferred, End behind a confirm, flipping the camera and muting the microphone without
// renegotiating, taking over from another device, and the uplink's health from the
// publisher's own RTCPeerConnection statistics.

import { t } from "../shared/i18n.js";
import { describeHttpError } from "./studio-api.js";
import { confirmSheet } from "./studio-sheet.js";
import { codecOrder, judgeHealth, readHealth } from "./studio-media.js";
import { waitIceGathering } from "../shared/webrtc.js";

const HEALTH_INTERVAL_MS = 2000;

export { judgeHealth };

/** Ask for a picture the shape of the screen: 720×1280 upright, 1280×720 on its side. */
export function videoConstraints(portrait = innerHeight > innerWidth) {
  return portrait
    ? { width: { ideal: 720 }, height: { ideal: 1280 }, frameRate: { ideal: 30 } }
    : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
}

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
    this.stream = null; // the preview's MediaStream
    this.facing = "user";
    this.micMuted = false;
    this.remote = null; // the live session of another device, from GET /api/rooms/{id}
    this.endedAt = 0; // when this page last stopped publishing (performance.now())
    this.status = { key: "studio.status.offline", vars: {}, kind: "offline" };
    this.health = null;
    this.previewError = null; // [key, vars] of what went wrong opening the devices
    els.golive.addEventListener("click", () => { if (this.session === null) this.goLive(); });
    els.key.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && this.session === null) this.goLive();
    });
    els.stop.addEventListener("click", () => { this.askEnd(); });
    els.flip.addEventListener("click", () => { this.flip(); });
    els.mute.addEventListener("click", () => { this.toggleMic(); });
    els.camera.addEventListener("change", () => { this.switchDevices(); });
    els.mic.addEventListener("change", () => { this.switchDevices(); });
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener("devicechange", () => { this.listDevices(); });
    }
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
    this.renderDevices(this.devices || []);
    this.renderPreviewNote();
    this.updateButtons();
  }

  renderPreviewNote() {
    this.els.previewNote.textContent = this.previewError ? t(...this.previewError) : "";
  }

  updateButtons() {
    const s = this.session;
    this.els.golive.hidden = s !== null;
    this.els.golive.disabled = s !== null;
    this.els.stop.hidden = s === null;
    this.els.stop.disabled = s === null || !s.location;
    this.els.key.disabled = s !== null;
    this.els.mute.setAttribute("aria-pressed", String(this.micMuted));
    this.els.mute.setAttribute("aria-label",
      t(this.micMuted ? "studio.live.unmuteMic" : "studio.live.muteMic"));
    this.els.golive.textContent = t(this.remote ? "studio.live.takeOver" : "studio.live.go");
  }

  // -- another device ---------------------------------------------------------------------
  /** The room's live session as the server sees it (null: nobody is live). A poll that
   * started before this page stopped publishing is ignored: it may still see us live. */
  setRemote(session, askedAt = performance.now()) {
    if (this.session || askedAt < this.endedAt) return;
    this.remote = session;
    const offline = ["offline", "remote"].includes(this.status.kind);
    if (session) this.setStatus("studio.status.remote", "remote");
    else if (this.status.kind === "remote") this.setStatus("studio.status.offline", "offline");
    else if (offline) this.renderStatus();
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

  // -- devices and preview ---------------------------------------------------------------
  async listDevices() {
    try {
      this.devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      this.devices = [];
    }
    this.renderDevices(this.devices);
  }

  renderDevices(devices) {
    const fill = (select, kind, labelKey) => {
      const current = this.currentDevice(kind) || select.value;
      const options = devices.filter((d) => d.kind === kind).map((d, i) => {
        const option = document.createElement("option");
        option.value = d.deviceId;
        option.textContent = d.label || t(labelKey, { n: i + 1 });
        return option;
      });
      if (!options.length) {
        const none = document.createElement("option");
        none.value = "";
        none.textContent = t("studio.device.none");
        options.push(none);
      }
      select.replaceChildren(...options);
      if (current && options.some((o) => o.value === current)) select.value = current;
    };
    fill(this.els.camera, "videoinput", "studio.device.camera");
    fill(this.els.mic, "audioinput", "studio.device.mic");
  }

  currentDevice(kind) {
    const track = this.stream && (kind === "videoinput"
      ? this.stream.getVideoTracks()[0] : this.stream.getAudioTracks()[0]);
    return track ? track.getSettings().deviceId || "" : "";
  }

  videoWanted() {
    const cam = this.chosenCamera;
    return cam ? { ...videoConstraints(), deviceId: { exact: cam } }
      : { ...videoConstraints(), facingMode: { ideal: this.facing } };
  }

  constraints() {
    const mic = this.els.mic.value;
    return { video: this.videoWanted(), audio: mic ? { deviceId: { exact: mic } } : true };
  }

  /** The preview's stream, opening the camera first if it is not running. */
  ensurePreview() {
    if (this.pending) return this.pending;
    const live = this.stream && this.stream.getTracks().some((tr) => tr.readyState === "live");
    return live ? Promise.resolve(this.stream) : this.startPreview();
  }

  /** Open the camera and microphone and show them; the stream is what goes live. */
  startPreview() {
    const run = (this.pending || Promise.resolve()).catch(() => {}).then(() => this.openDevices());
    const mine = run.finally(() => { if (this.pending === mine) this.pending = null; });
    this.pending = mine;
    return mine;
  }

  async openDevices() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(this.constraints());
    } catch (err) {
      this.previewError = err && err.name === "NotAllowedError" ? ["studio.device.denied"]
        : ["studio.device.failed"];
      this.renderPreviewNote();
      throw err;
    }
    this.previewError = null;
    this.renderPreviewNote();
    const old = this.stream;
    this.useStream(stream);
    if (old && old !== stream) for (const track of old.getTracks()) track.stop();
    await this.listDevices();
    return stream;
  }

  useStream(stream) {
    this.stream = stream;
    this.stallcast.stream = stream;
    for (const track of stream.getAudioTracks()) track.enabled = !this.micMuted;
    const video = stream.getVideoTracks()[0];
    const facing = video && video.getSettings().facingMode;
    // A front camera is shown mirrored, as phones do; viewers get the picture unmirrored.
    this.els.preview.dataset.facing = facing || "";
    this.els.preview.srcObject = stream;
    this.els.preview.play().catch(() => {});
  }

  /** A camera or microphone chosen in Settings: restart the preview and, when live, swap
   * the sent tracks (replaceTrack: no renegotiation). */
  async switchDevices() {
    this.chosenCamera = this.els.camera.value || "";
    try {
      const stream = await this.startPreview();
      await this.replaceSent(stream.getTracks());
    } catch {
      // startPreview has said what went wrong.
    }
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

  /** Front ↔ back: a new video track by facingMode, the same audio, swapped in place. */
  async flip() {
    this.facing = this.facing === "user" ? "environment" : "user";
    this.chosenCamera = "";
    const old = this.stream;
    let video;
    try {
      if (old) for (const track of old.getVideoTracks()) track.stop(); // phones open one camera
      const got = await navigator.mediaDevices.getUserMedia({ video: this.videoWanted() });
      [video] = got.getVideoTracks();
    } catch {
      this.previewError = ["studio.device.failed"];
      this.renderPreviewNote();
      return;
    }
    const audio = old ? old.getAudioTracks() : [];
    const stream = new MediaStream([video, ...audio]);
    this.useStream(stream);
    await this.replaceSent([video]);
    await this.listDevices();
  }

  toggleMic() {
    this.micMuted = !this.micMuted;
    if (this.stream) for (const track of this.stream.getAudioTracks()) track.enabled = !this.micMuted;
    this.updateButtons();
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
      const stream = await this.ensurePreview();
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
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
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

// Going live: camera and microphone choice with a preview, WHIP publishing (RFC 9725, one
// complete offer: the server takes no trickle ICE), End, and the uplink's health from the
// publisher's own RTCPeerConnection statistics.

import { t } from "../shared/i18n.js";
import { describeHttpError } from "./studio-api.js";
import { waitIceGathering } from "../shared/webrtc.js";

const HEALTH_INTERVAL_MS = 2000;
const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };


/** ok / warn / bad from what the publisher measures about its own uplink. */
export function judgeHealth(h) {
  const loss = h.loss ?? 0;
  const rtt = h.rttMs ?? 0;
  if (h.kbps < 150 || (h.fps ?? 0) < 10 || loss > 0.08 || rtt > 600) return "bad";
  if (h.kbps < 600 || (h.fps ?? 0) < 20 || loss > 0.02 || rtt > 250 ||
      (h.limitedBy && h.limitedBy !== "none")) return "warn";
  return "ok";
}

/**
 * The go-live panel. `els` holds the page's elements; `getKey()` returns the stream key (or ""
 * when none is known); `onState(kind)` hears "live", "ended", "offline", "error", "connecting".
 */
export class LivePanel {
  constructor(els, { roomId, getKey, onState = () => {}, stallcast }) {
    this.els = els;
    this.roomId = roomId;
    this.getKey = getKey;
    this.onState = onState;
    this.stallcast = stallcast;
    this.whipUrl = new URL(`/whip/${encodeURIComponent(roomId)}`, location.href).href;
    this.session = null; // { pc, location, key, timer, last } while publishing
    this.stream = null; // the preview's MediaStream
    this.status = { key: "studio.status.offline", vars: {}, kind: "offline" };
    this.health = null;
    this.previewError = null; // [key, vars] of what went wrong opening the devices
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.session === null) this.goLive();
    });
    els.stop.addEventListener("click", () => { this.end(); });
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
    this.renderDevices(this.devices || []);
    this.renderPreviewNote();
    this.updateButtons();
  }

  renderPreviewNote() {
    this.els.previewNote.textContent = this.previewError ? t(...this.previewError) : "";
  }

  updateButtons() {
    const s = this.session;
    this.els.golive.disabled = s !== null;
    this.els.stop.disabled = s === null || !s.location;
    this.els.key.disabled = s !== null;
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
      const current = select.value || this.currentDevice(kind);
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

  constraints() {
    const cam = this.els.camera.value;
    const mic = this.els.mic.value;
    return {
      video: cam ? { ...VIDEO, deviceId: { exact: cam } } : VIDEO,
      audio: mic ? { deviceId: { exact: mic } } : true,
    };
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
        : ["studio.device.failed", { message: err.message || String(err) }];
      this.renderPreviewNote();
      throw err;
    }
    this.previewError = null;
    this.renderPreviewNote();
    const old = this.stream;
    this.stream = stream;
    this.els.preview.srcObject = stream;
    this.els.preview.play().catch(() => {});
    if (old && old !== stream) for (const track of old.getTracks()) track.stop();
    await this.listDevices();
    return stream;
  }

  /** A new camera or microphone: restart the preview and, when live, swap the sent tracks. */
  async switchDevices() {
    try {
      const stream = await this.startPreview();
      const s = this.session;
      if (!s) return;
      for (const sender of s.pc.getSenders()) {
        if (!sender.track) continue;
        const next = stream.getTracks().find((tr) => tr.kind === sender.track.kind);
        if (next) await sender.replaceTrack(next);
      }
    } catch {
      // startPreview has said what went wrong.
    }
  }

  // -- publishing ------------------------------------------------------------------------
  async goLive() {
    const key = this.getKey();
    if (!key) {
      this.els.keyField.hidden = false;
      this.setStatus("studio.status.needKey", "error");
      this.els.key.focus();
      return;
    }
    const pc = new RTCPeerConnection();
    const s = { pc, location: "", key, timer: null, last: null };
    this.session = s;
    this.stallcast.pc = pc;
    this.updateButtons();
    this.setStatus("studio.status.connecting", "connecting");
    pc.addEventListener("connectionstatechange", () => this.onConnectionState(s));
    try {
      const stream = await this.ensurePreview();
      if (this.session !== s) throw new Error("cancelled");
      for (const track of stream.getTracks()) {
        pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      }
      await pc.setLocalDescription(await pc.createOffer());
      await waitIceGathering(pc);
      const resp = await fetch(this.whipUrl, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${key}` },
        body: pc.localDescription.sdp,
      });
      if (resp.status !== 201) throw new Error((await describeHttpError(resp)).text);
      const loc = resp.headers.get("Location");
      if (!loc) throw new Error(t("studio.noLocation"));
      s.location = new URL(loc, this.whipUrl).href;
      const answer = await resp.text();
      if (this.session !== s) throw new Error("cancelled");
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      this.updateButtons();
      this.sampleHealth(s).catch(() => {}); // the baseline the first figures compare with
      s.timer = setInterval(() => {
        this.sampleHealth(s).catch(() => {}); // the pc may close mid-call
      }, HEALTH_INTERVAL_MS);
      this.onConnectionState(s);
    } catch (err) {
      const wasCurrent = this.session === s;
      await this.teardown(s, true);
      if (wasCurrent) {
        if (err && err.name === "NotAllowedError") this.setStatus("studio.status.denied", "error");
        else {
          this.setStatus("studio.status.error", "error",
            { message: err && err.message ? err.message : String(err) });
        }
      }
      this.updateButtons();
    }
  }

  onConnectionState(s) {
    if (this.session !== s) return;
    switch (s.pc.connectionState) {
      case "connected":
        this.setStatus("studio.status.live", "live");
        break;
      case "disconnected":
        this.setStatus("studio.status.retrying", "connecting");
        break;
      case "failed":
        this.teardown(s, true).then(() => {
          this.setStatus("studio.status.failed", "error");
          this.updateButtons();
        });
        break;
      case "new":
      case "connecting":
        this.setStatus("studio.status.connecting", "connecting");
        break;
      default:
        break;
    }
  }

  /** End a session: DELETE it on the server (if it got that far) and close the pc. */
  async teardown(s, deleteOnServer) {
    if (this.session === s) this.session = null;
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
      } catch (err) {
        problem = err.message;
      }
    }
    s.pc.close();
    return problem;
  }

  async end() {
    const s = this.session;
    if (!s) return;
    this.els.stop.disabled = true;
    const problem = await this.teardown(s, true);
    if (problem) this.setStatus("studio.status.endedUnconfirmed", "error", { message: problem });
    else this.setStatus("studio.status.ended", "ended");
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
    const stats = await s.pc.getStats();
    let bytes = 0;
    const h = { kbps: 0, fps: null, width: null, height: null, loss: null, rttMs: null,
      limitedBy: "" };
    const losses = [];
    for (const r of stats.values()) {
      if (r.type === "outbound-rtp") {
        bytes += r.bytesSent || 0;
        if (r.kind === "video") {
          h.fps = r.framesPerSecond ?? h.fps;
          h.width = r.frameWidth ?? h.width;
          h.height = r.frameHeight ?? h.height;
          h.limitedBy = r.qualityLimitationReason || "";
        }
      } else if (r.type === "remote-inbound-rtp") {
        if (typeof r.fractionLost === "number") losses.push(r.fractionLost);
        if (typeof r.roundTripTime === "number") {
          h.rttMs = Math.max(h.rttMs ?? 0, Math.round(r.roundTripTime * 1000));
        }
      }
    }
    if (losses.length) h.loss = Math.max(...losses);
    const now = performance.now();
    if (s.last) {
      const seconds = (now - s.last.at) / 1000;
      h.kbps = seconds > 0 ? Math.max(0, Math.round(((bytes - s.last.bytes) * 8) / seconds / 1000))
        : 0;
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
    const box = this.els.health;
    if (!h) {
      box.dataset.level = "";
      this.els.healthLevel.textContent = t(this.session && this.session.location
        ? "studio.health.measuring" : "studio.health.idle");
      for (const cell of [this.els.hBitrate, this.els.hFps, this.els.hSize, this.els.hLoss,
        this.els.hRtt]) cell.textContent = "–";
      return;
    }
    box.dataset.level = h.level;
    this.els.healthLevel.textContent = t(`studio.health.${h.level}`);
    this.els.hBitrate.textContent = t("studio.health.kbps", { n: h.kbps });
    this.els.hFps.textContent = h.fps === null ? "–" : String(Math.round(h.fps));
    this.els.hSize.textContent = h.width ? `${h.width}×${h.height}` : "–";
    this.els.hLoss.textContent = h.loss === null ? "–" : `${(h.loss * 100).toFixed(1)}%`;
    this.els.hRtt.textContent = h.rttMs === null ? "–" : t("studio.health.ms", { n: h.rttMs });
  }
}

// The camera and microphone of the studio: the preview (mirrored for a front camera), a
// picture the shape of the screen (720×1280 upright, 1280×720 on its side), the device
// lists in Settings, flipping front ↔ back by facingMode and muting the microphone. When
// live, new tracks go to the senders with replaceTrack (no renegotiation).

import { t } from "../shared/i18n.js";

/** Ask for a picture the shape of the screen: 720×1280 upright, 1280×720 on its side. */
export function videoConstraints(portrait = innerHeight > innerWidth) {
  return portrait
    ? { width: { ideal: 720 }, height: { ideal: 1280 }, frameRate: { ideal: 30 } }
    : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
}

/** `onTracks(tracks)` hears new tracks to send; `onChange()` any change to draw. */
export class Camera {
  constructor(els, { stallcast, onTracks = async () => {}, onChange = () => {} }) {
    this.els = els;
    this.stallcast = stallcast;
    this.onTracks = onTracks;
    this.onChange = onChange;
    this.stream = null; // the preview's MediaStream: what goes live
    this.facing = "user";
    this.micMuted = false;
    this.chosenCamera = "";
    this.previewError = null; // [key, vars] of what went wrong opening the devices
    els.flip.addEventListener("click", () => { this.flip(); });
    els.mute.addEventListener("click", () => { this.toggleMic(); });
    els.camera.addEventListener("change", () => { this.switchDevices(); });
    els.mic.addEventListener("change", () => { this.switchDevices(); });
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener("devicechange", () => { this.listDevices(); });
    }
  }

  render() {
    this.renderDevices(this.devices || []);
    this.renderPreviewNote();
    this.els.mute.setAttribute("aria-pressed", String(this.micMuted));
    this.els.mute.setAttribute("aria-label",
      t(this.micMuted ? "studio.live.unmuteMic" : "studio.live.muteMic"));
  }

  renderPreviewNote() {
    this.els.previewNote.textContent = this.previewError ? t(...this.previewError) : "";
  }

  stop() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
  }

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
      await this.onTracks(stream.getTracks());
    } catch {
      // startPreview has said what went wrong.
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
    await this.onTracks([video]);
    await this.listDevices();
  }

  toggleMic() {
    this.micMuted = !this.micMuted;
    if (this.stream) for (const track of this.stream.getAudioTracks()) track.enabled = !this.micMuted;
    this.render();
  }
}

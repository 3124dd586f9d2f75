// The viewer's WHEP connection: one RTCPeerConnection with a video and an audio transceiver
// and the "events" data channel (msgpack both ways), kept up by itself. A connection that
// fails, stays disconnected for a few seconds, goes quiet, or whose channel or peer
// connection closes (from the network or from page code) is dropped: its server session is
// DELETEd and a new one is made, with growing pauses between attempts.
// The server answers only complete offers (no trickle ICE), so the offer is sent once ICE
// gathering has finished.

import { decode, encode } from "../shared/wire.js";
import { waitIceGathering } from "../shared/webrtc.js";

const DISCONNECTED_GRACE_MS = 3000; // "disconnected" often heals by itself; give it this long
const OPEN_TIMEOUT_MS = 20000; // from the offer to an open data channel
const PING_EVERY_MS = 5000;
const SILENCE_LIMIT_MS = 16000; // nothing at all heard (not even a pong) for this long
const WATCHDOG_MS = 400;
const BACKOFF_MS = [300, 1000, 2000, 4000, 8000];

/** The server refused the WHEP offer. */
export class WhepError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

async function whepError(resp) {
  let code = "";
  let message = resp.statusText;
  try {
    const body = await resp.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    // Not JSON: keep the status text.
  }
  return new WhepError(resp.status, code, message);
}


/**
 * new Connection({ url, video, token, onEvent, onState, onPc })
 * - token(fresh): the viewer's bearer token ("" for anonymous); fresh=true after a 401.
 * - onEvent(message): every decoded message from the server (events and replies).
 * - onState(state, error): "connecting" | "open" | "reconnecting" | "failed".
 * - onPc(pc): a new peer connection is in use.
 */
export class Connection {
  constructor({ url, video, token, onEvent, onState, onPc }) {
    Object.assign(this, { url, video, token, onEvent, onState, onPc });
    this.state = "idle";
    this.current = null; // { pc, channel, location, since, lastHeard, lastPing, downSince }
    this.attempt = 0;
    this.everOpen = false;
    this.reconnects = 0;
    this.stopped = false;
    this.timer = null;
    this.nextRef = 1;
    this.pending = new Map(); // ref -> { resolve, reject, timer }
    this.openWaiters = [];
    this.watchdog = setInterval(() => this.check(), WATCHDOG_MS);
  }

  setState(state, error = null) {
    this.state = state;
    if (state === "open") {
      for (const resolve of this.openWaiters.splice(0)) resolve(true);
    }
    this.onState(state, error);
  }

  start() {
    this.setState("connecting");
    this.connect();
  }

  async connect() {
    this.timer = null;
    if (this.stopped) return;
    try {
      await this.open();
    } catch (err) {
      if (err.cur && err.cur !== this.current) return; // an attempt already dropped
      this.abandon();
      if (err instanceof WhepError && err.status === 404) {
        this.stopped = true;
        this.setState("failed", err);
        return;
      }
      console.warn("stallcast: connection attempt failed", err);
      this.retry(err);
    }
  }

  retry(err = null) {
    if (this.stopped || this.timer) return;
    const wait = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.setState(this.everOpen ? "reconnecting" : "connecting", err);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  async open() {
    const pc = new RTCPeerConnection();
    const now = performance.now();
    const cur = { pc, channel: null, location: "", since: now, lastHeard: now, lastPing: now,
                  downSince: null, live: false };
    this.current = cur;
    try {
      await this.negotiate(cur);
    } catch (err) {
      throw Object.assign(err instanceof Error ? err : new Error(String(err)), { cur });
    }
  }

  async negotiate(cur) {
    const { pc } = cur;
    this.onPc(pc);
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const channel = pc.createDataChannel("events");
    cur.channel = channel;
    channel.binaryType = "arraybuffer";
    channel.addEventListener("open", () => {
      if (this.current !== cur) return;
      cur.live = true;
      cur.lastHeard = performance.now();
      this.attempt = 0;
      if (this.everOpen) this.reconnects += 1;
      this.everOpen = true;
      this.setState("open");
    });
    channel.addEventListener("message", (message) => {
      if (this.current !== cur) return;
      cur.lastHeard = performance.now();
      this.receive(message.data);
    });
    channel.addEventListener("close", () => {
      if (this.current === cur) this.drop("the data channel closed");
    });

    const remote = new MediaStream();
    pc.addEventListener("track", (event) => {
      remote.addTrack(event.track);
      if (this.video.srcObject !== remote) this.video.srcObject = remote;
      this.video.play().catch(() => {});
    });
    pc.addEventListener("connectionstatechange", () => {
      if (this.current !== cur) return;
      const s = pc.connectionState;
      if (s === "failed" || s === "closed") this.drop(`connection ${s}`);
      else if (s === "disconnected") cur.downSince ??= performance.now();
      else if (s === "connected") cur.downSince = null;
    });

    await pc.setLocalDescription(await pc.createOffer());
    await waitIceGathering(pc);
    let resp;
    for (let tries = 0; ; tries += 1) {
      const token = await this.token(tries > 0);
      const headers = { "Content-Type": "application/sdp" };
      if (token) headers.Authorization = `Bearer ${token}`;
      resp = await fetch(this.url, { method: "POST", headers, body: pc.localDescription.sdp });
      // A stale or tampered identity: get a new one once and offer again.
      if (resp.status !== 401 || tries > 0) break;
    }
    if (resp.status !== 201) throw await whepError(resp);
    const loc = resp.headers.get("Location");
    if (loc) cur.location = new URL(loc, this.url).href;
    if (this.current !== cur) {
      this.endSession(cur);
      return;
    }
    await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
  }

  receive(data) {
    let message;
    try {
      message = typeof data === "string" ? JSON.parse(data) : decode(data);
    } catch (err) {
      console.warn("stallcast: undecodable message", err);
      return;
    }
    if (!message || typeof message !== "object") return;
    if (message.ref != null && this.pending.has(message.ref)) {
      const waiter = this.pending.get(message.ref);
      this.pending.delete(message.ref);
      clearTimeout(waiter.timer);
      waiter.resolve(message);
    }
    this.onEvent(message);
  }

  /** Periodic health check: catches what no event reports (e.g. pc.close() from page code). */
  check() {
    const cur = this.current;
    if (this.stopped || !cur) return;
    const now = performance.now();
    const { pc, channel } = cur;
    if (pc.signalingState === "closed" || pc.connectionState === "closed") {
      this.drop("the peer connection was closed");
    } else if (pc.connectionState === "failed") {
      this.drop("connection failed");
    } else if (cur.downSince !== null && now - cur.downSince > DISCONNECTED_GRACE_MS) {
      this.drop("disconnected for too long");
    } else if (cur.live && channel.readyState !== "open") {
      this.drop("the data channel closed");
    } else if (!cur.live && now - cur.since > OPEN_TIMEOUT_MS) {
      this.drop("the connection did not open in time");
    } else if (cur.live && now - cur.lastHeard > SILENCE_LIMIT_MS) {
      this.drop("the server went quiet");
    } else if (cur.live && now - cur.lastPing > PING_EVERY_MS) {
      cur.lastPing = now;
      this.send({ type: "ping" });
    }
  }

  /** Leave the current connection and make a new one. */
  drop(reason) {
    if (this.stopped || !this.current) return;
    console.info(`stallcast: reconnecting (${reason})`);
    this.abandon();
    this.retry();
  }

  abandon() {
    const cur = this.current;
    this.current = null;
    for (const [ref, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(Object.assign(new Error("disconnected"), { code: "offline" }));
      this.pending.delete(ref);
    }
    if (!cur) return;
    try {
      cur.pc.close();
    } catch {
      // Already closed.
    }
    this.endSession(cur);
  }

  endSession(cur, keepalive = false) {
    if (!cur.location) return;
    const location = cur.location;
    cur.location = "";
    fetch(location, { method: "DELETE", keepalive }).catch(() => {});
  }

  get isOpen() {
    const cur = this.current;
    return Boolean(cur && cur.live && cur.channel.readyState === "open");
  }

  /** Send one message if the channel is open; false otherwise. */
  send(message) {
    if (!this.isOpen) return false;
    try {
      this.current.channel.send(encode(message));
      return true;
    } catch (err) {
      console.warn("stallcast: send failed", err);
      return false;
    }
  }

  /** Send and wait for the reply with the same ref (an "error" reply resolves too). */
  request(message, timeoutMs = 8000) {
    const ref = this.nextRef++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...message, ref })) {
        reject(Object.assign(new Error("not connected"), { code: "offline" }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(Object.assign(new Error("no answer"), { code: "timeout" }));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
    });
  }

  /** Resolves true once the channel is open, false after timeoutMs. */
  waitOpen(timeoutMs = 30000) {
    if (this.isOpen) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.openWaiters = this.openWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (value) => { clearTimeout(timer); resolve(value); };
      this.openWaiters.push(done);
    });
  }

  /** Leave for good (the page is going away): the server session is ended with keepalive. */
  close() {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.timer);
    const cur = this.current;
    this.current = null;
    if (cur) {
      this.endSession(cur, true);
      cur.pc.close();
    }
  }
}

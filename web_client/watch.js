// Stallcast viewer: play /whep/{room_id} and follow the host through the "events" channel.
// The server answers only complete offers (no trickle ICE), so the offer is sent once ICE
// gathering has finished.

import { decode } from "./msgpack.js";

const ICE_GATHER_TIMEOUT_MS = 5000;

const els = {
  title: document.getElementById("title"),
  video: document.getElementById("video"),
  unmute: document.getElementById("unmute"),
  status: document.getElementById("status"),
};

const roomId = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop() || "");
const whepUrl = new URL(`/whep/${encodeURIComponent(roomId)}`, location.href).href;

const stallcast = { pc: null, events: [] };
window.stallcast = stallcast;

const state = {
  hostLive: null, // null until the server has told us
  hostLeft: false,
  framesSeen: false,
  error: "",
  location: "",
};

function render() {
  let text;
  let kind;
  if (state.error) {
    text = state.error;
    kind = "error";
  } else if (state.hostLeft) {
    text = "the host has left";
    kind = "left";
  } else if (state.hostLive === false) {
    text = "waiting for the host";
    kind = "waiting";
  } else if (state.framesSeen) {
    text = "live";
    kind = "live";
  } else {
    text = "connecting";
    kind = "connecting";
  }
  if (els.status.textContent !== text) els.status.textContent = text;
  els.status.dataset.state = kind;
}

function fail(message) {
  state.error = message;
  render();
}

function onEvent(event) {
  stallcast.events.push(event);
  if (!event || typeof event !== "object") return;
  switch (event.type) {
    case "welcome":
      state.hostLive = Boolean(event.live);
      if (state.hostLive) state.hostLeft = false;
      break;
    case "host_live":
      state.hostLive = true;
      state.hostLeft = false;
      break;
    case "host_left":
      state.hostLive = false;
      state.hostLeft = true;
      break;
    default:
      break;
  }
  render();
}

function onMessage(message) {
  let event;
  try {
    event = typeof message.data === "string" ? JSON.parse(message.data) : decode(message.data);
  } catch (err) {
    console.warn("stallcast: undecodable event", err);
    return;
  }
  onEvent(event);
}

function markFramesSeen() {
  if (state.framesSeen) return;
  state.framesSeen = true;
  render();
}

function watchFrames(video) {
  if ("requestVideoFrameCallback" in video) {
    video.requestVideoFrameCallback(() => markFramesSeen());
  }
  // Fallback for browsers without requestVideoFrameCallback.
  video.addEventListener("timeupdate", () => {
    if (video.currentTime > 0 && video.videoWidth > 0) markFramesSeen();
  });
}

function updateUnmute() {
  els.unmute.textContent = els.video.muted ? "Tap to unmute" : "Mute";
}

function waitIceGathering(pc, timeoutMs = ICE_GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    // Past the timeout, send the candidates gathered so far rather than hang.
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

async function describeHttpError(resp) {
  let detail = resp.statusText;
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) detail = body.error.message;
  } catch {
    // Not JSON: keep the status text.
  }
  return `HTTP ${resp.status}${detail ? ` ${detail}` : ""}`;
}

/** Title and live flag; false when the room does not exist. */
async function loadRoom() {
  try {
    const resp = await fetch(`/api/rooms/${encodeURIComponent(roomId)}/public`);
    if (resp.status === 404) {
      fail("error: HTTP 404 no such room");
      return false;
    }
    if (!resp.ok) return true; // Playback may still work; WHEP reports its own errors.
    const room = await resp.json();
    els.title.textContent = room.title;
    document.title = `${room.title} · Stallcast`;
    if (state.hostLive === null) state.hostLive = Boolean(room.live);
    render();
  } catch {
    // Network hiccup: try playback anyway.
  }
  return true;
}

async function play() {
  const pc = new RTCPeerConnection();
  stallcast.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const channel = pc.createDataChannel("events");
  channel.binaryType = "arraybuffer";
  channel.addEventListener("message", onMessage);

  const remote = new MediaStream();
  pc.addEventListener("track", (event) => {
    remote.addTrack(event.track);
    if (els.video.srcObject !== remote) els.video.srcObject = remote;
    els.video.play().catch(() => {});
  });
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "failed") fail("error: lost the connection to the server");
  });

  await pc.setLocalDescription(await pc.createOffer());
  await waitIceGathering(pc);
  const resp = await fetch(whepUrl, {
    method: "POST",
    headers: { "Content-Type": "application/sdp" },
    body: pc.localDescription.sdp,
  });
  if (resp.status !== 201) throw new Error(await describeHttpError(resp));
  const loc = resp.headers.get("Location");
  if (loc) state.location = new URL(loc, whepUrl).href;
  await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
}

els.unmute.addEventListener("click", () => {
  els.video.muted = !els.video.muted;
  els.video.play().catch(() => {});
  updateUnmute();
});
els.video.addEventListener("volumechange", updateUnmute);
window.addEventListener("pagehide", () => {
  if (state.location) {
    fetch(state.location, { method: "DELETE", keepalive: true }).catch(() => {});
    state.location = "";
  }
  if (stallcast.pc) stallcast.pc.close();
});

watchFrames(els.video);
updateUnmute();
render();
if (await loadRoom()) {
  try {
    await play();
  } catch (err) {
    fail(`error: ${err && err.message ? err.message : err}`);
  }
}

// Stallcast studio: publish the camera and microphone to /whip/{room_id} over WHIP.
// The server answers only complete offers (no trickle ICE, no PATCH), so the offer is sent
// once ICE gathering has finished.

const ICE_GATHER_TIMEOUT_MS = 5000;

const els = {
  title: document.getElementById("title"),
  preview: document.getElementById("preview"),
  form: document.getElementById("controls"),
  keyField: document.getElementById("key-field"),
  key: document.getElementById("key"),
  golive: document.getElementById("golive"),
  stop: document.getElementById("stop"),
  status: document.getElementById("status"),
};

const roomId = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop() || "");
const whipUrl = new URL(`/whip/${encodeURIComponent(roomId)}`, location.href).href;

/** The current session: null when offline. */
let session = null;

window.stallcast = { pc: null };

function setStatus(text, state = text) {
  els.status.textContent = text;
  els.status.dataset.state = state;
}

function keyFromFragment() {
  return new URLSearchParams(location.hash.slice(1)).get("key") || "";
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

function onConnectionState(s) {
  if (session !== s) return;
  switch (s.pc.connectionState) {
    case "connected":
      setStatus("live");
      break;
    case "disconnected":
      setStatus("connection interrupted, retrying", "connecting");
      break;
    case "failed":
      teardown(s, true).then(() => {
        setStatus("error: the connection to the server failed", "error");
        updateButtons();
      });
      break;
    case "new":
    case "connecting":
      setStatus("connecting");
      break;
    default:
      break;
  }
}

function updateButtons() {
  els.golive.disabled = session !== null;
  els.stop.disabled = session === null || !session.location;
  els.key.disabled = session !== null;
}

/** End a session: DELETE it on the server (if it got that far), close the pc, stop the camera. */
async function teardown(s, deleteOnServer) {
  if (session === s) session = null;
  let problem = "";
  if (deleteOnServer && s.location) {
    try {
      const resp = await fetch(s.location, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${s.key}` },
      });
      if (!resp.ok && resp.status !== 404) problem = await describeHttpError(resp);
    } catch (err) {
      problem = err.message;
    }
  }
  s.pc.close();
  for (const track of s.stream ? s.stream.getTracks() : []) track.stop();
  if (els.preview.srcObject === s.stream) els.preview.srcObject = null;
  return problem;
}

async function goLive() {
  const key = els.key.value.trim();
  if (!key) {
    els.keyField.hidden = false;
    setStatus("error: enter the stream key first", "error");
    els.key.focus();
    return;
  }
  const pc = new RTCPeerConnection();
  const s = { pc, stream: null, location: "", key };
  session = s;
  window.stallcast.pc = pc;
  updateButtons();
  setStatus("connecting");
  pc.addEventListener("connectionstatechange", () => onConnectionState(s));
  try {
    s.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: 1280, height: 720 },
      audio: true,
    });
    if (session !== s) throw new Error("cancelled");
    els.preview.srcObject = s.stream;
    els.preview.play().catch(() => {});
    for (const track of s.stream.getTracks()) {
      pc.addTransceiver(track, { direction: "sendonly", streams: [s.stream] });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await waitIceGathering(pc);
    const resp = await fetch(whipUrl, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${key}` },
      body: pc.localDescription.sdp,
    });
    if (resp.status !== 201) throw new Error(await describeHttpError(resp));
    const loc = resp.headers.get("Location");
    if (!loc) throw new Error("the server sent no Location header");
    s.location = new URL(loc, whipUrl).href;
    const answer = await resp.text();
    if (session !== s) throw new Error("cancelled");
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    updateButtons();
    onConnectionState(s);
  } catch (err) {
    const wasCurrent = session === s;
    await teardown(s, true);
    if (wasCurrent) {
      const text = err && err.name === "NotAllowedError"
        ? "error: camera or microphone permission denied"
        : `error: ${err && err.message ? err.message : err}`;
      setStatus(text, "error");
    }
    updateButtons();
  }
}

async function end() {
  const s = session;
  if (!s) return;
  els.stop.disabled = true;
  const problem = await teardown(s, true);
  setStatus(problem ? `ended (the server did not confirm: ${problem})` : "ended",
    problem ? "error" : "ended");
  updateButtons();
}

async function showTitle() {
  try {
    const resp = await fetch(`/api/rooms/${encodeURIComponent(roomId)}/public`);
    if (resp.status === 404) {
      setStatus("error: HTTP 404 no such room", "error");
      return;
    }
    if (!resp.ok) return;
    const room = await resp.json();
    els.title.textContent = `Studio: ${room.title}`;
    document.title = `${room.title} · Stallcast studio`;
  } catch {
    // The title is a nicety; going live does not depend on it.
  }
}

els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (session === null) goLive();
});
els.stop.addEventListener("click", () => { end(); });
window.addEventListener("hashchange", () => {
  const key = keyFromFragment();
  if (key && session === null) els.key.value = key;
});
window.addEventListener("pagehide", () => {
  const s = session;
  if (!s) return;
  session = null;
  if (s.location) {
    fetch(s.location, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${s.key}` },
      keepalive: true,
    }).catch(() => {});
  }
  s.pc.close();
});

const initialKey = keyFromFragment();
els.key.value = initialKey;
els.keyField.hidden = Boolean(initialKey);
updateButtons();
showTitle();

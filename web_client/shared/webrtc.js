// Small WebRTC helpers shared by the studio and the viewer pages.

const ICE_GATHER_TIMEOUT_MS = 5000;

// Wait until the peer connection has gathered its candidates (the server does not take
// trickled candidates). Past the timeout, send what was gathered so far rather than hang.
export function waitIceGathering(pc, timeoutMs = ICE_GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

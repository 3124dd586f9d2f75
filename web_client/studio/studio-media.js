// What the publisher knows about its own media: the codec order it asks for and the
// uplink figures read from getStats(). No DOM here.

/** Codecs in the order to offer: H264 (constrained baseline and packetization-mode=1
 * first), then VP8, then the rest (rtx, red, fec, VP9, AV1) as the browser listed them. */
export function codecOrder(codecs) {
  const name = (c) => c.mimeType.toLowerCase();
  const fmtp = (c) => (c.sdpFmtpLine || "").toLowerCase();
  const h264Rank = (c) => {
    const line = fmtp(c);
    const mode1 = line.includes("packetization-mode=1");
    const baseline = /profile-level-id=42e0/.test(line);
    return (mode1 ? 0 : 2) + (baseline ? 0 : 1);
  };
  const h264 = codecs.filter((c) => name(c) === "video/h264")
    .map((c, i) => ({ c, i })).sort((a, b) => h264Rank(a.c) - h264Rank(b.c) || a.i - b.i)
    .map((x) => x.c);
  const vp8 = codecs.filter((c) => name(c) === "video/vp8");
  const rest = codecs.filter((c) => !["video/h264", "video/vp8"].includes(name(c)));
  return [...h264, ...vp8, ...rest];
}

/** ok / warn / bad from what the publisher measures about its own uplink. */
export function judgeHealth(h) {
  const loss = h.loss ?? 0;
  const rtt = h.rttMs ?? 0;
  if (h.kbps < 150 || (h.fps ?? 0) < 10 || loss > 0.08 || rtt > 600) return "bad";
  if (h.kbps < 600 || (h.fps ?? 0) < 20 || loss > 0.02 || rtt > 250 ||
      (h.limitedBy && h.limitedBy !== "none")) return "warn";
  return "ok";
}

/** The figures of one getStats() report: {h, bytes} (kbps is left for the caller, which
 * knows the previous sample). h.codec is the video codec actually sent ("H264", "VP8"). */
export function readHealth(stats) {
  let bytes = 0;
  const h = { kbps: 0, fps: null, width: null, height: null, loss: null, rttMs: null,
    limitedBy: "", codec: "" };
  const losses = [];
  for (const r of stats.values()) {
    if (r.type === "outbound-rtp") {
      bytes += r.bytesSent || 0;
      if (r.kind === "video") {
        h.fps = r.framesPerSecond ?? h.fps;
        h.width = r.frameWidth ?? h.width;
        h.height = r.frameHeight ?? h.height;
        h.limitedBy = r.qualityLimitationReason || "";
        const codec = r.codecId ? stats.get(r.codecId) : null;
        if (codec && codec.mimeType) h.codec = codec.mimeType.replace(/^video\//i, "").toUpperCase();
      }
    } else if (r.type === "remote-inbound-rtp") {
      if (typeof r.fractionLost === "number") losses.push(r.fractionLost);
      if (typeof r.roundTripTime === "number") {
        h.rttMs = Math.max(h.rttMs ?? 0, Math.round(r.roundTripTime * 1000));
      }
    }
  }
  if (losses.length) h.loss = Math.max(...losses);
  return { h, bytes };
}

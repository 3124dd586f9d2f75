"""Cheap WHEP load viewers for the benchmarks: aiortc does ICE, DTLS and SCTP; media is
counted from the clear RTP header of each SRTP packet and never decrypted.

Why: an aiortc viewer that decodes nothing still costs about 2 % of a core (SRTP unprotect,
jitter buffer, four coroutine hops per packet), 2.5x what the server spends on it, so on a
2-core machine the load generator, not the server, was the limit. SRTP encrypts only the
payload, so sequence number, timestamp, marker bit and SSRC can be read straight off the
wire. ``install()`` puts a function in front of aioice's ``StunProtocol.datagram_received``
that takes RTP/RTCP datagrams (first byte 128..191, RFC 7983) of a viewer's connection to
its counters and hands everything else on: STUN (so consent checks are still answered and
sent), DTLS and SCTP (so data channels still work; ``fast_data_channel`` takes a connected
viewer's DTLS records to SCTP the way the server does). The viewer's aiortc receivers still
send a receiver report about once a second. They send no NACK or PLI, so ``loss`` here is
what reached the viewer, with no retransmission to repair it.

Not a benchmark itself; fanout.py, events.py and joinstorm.py import it (a script's own
folder is on sys.path).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

_installed = False


def install(decoders: bool = False) -> None:
    """Patch this process's aioice once so cheap viewers' RTP is counted, and (unless
    ``decoders``: a test process whose other viewers decode) aiortc's decoder threads
    off. Connections that are not a cheap viewer's are left alone."""
    global _installed
    import aiortc.rtcrtpreceiver
    from aioice.ice import StunProtocol

    if not decoders:
        aiortc.rtcrtpreceiver.decoder_worker = _idle_decoder_worker
    if _installed:
        return
    original = StunProtocol.datagram_received

    def datagram_received(self: Any, data: Any, addr: Any) -> None:
        if 127 < data[0] < 192:
            sink = getattr(self.receiver, "bench_sink", None)
            if sink is not None:
                sink(data)
                return
        original(self, data, addr)

    StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign]
    _installed = True


def fast_data_channel(pc: Any) -> bool:
    """Let a connected viewer's DTLS records reach its SCTP association without aioice's
    STUN parse, queue and task (the server's own receive path, media/datachannel.py): what
    the viewer spends on each event falls, so on a 2-core machine more of it is left to the
    server. False if the viewer has no data channel or no nominated pair yet."""
    from media.datachannel import receive_directly

    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return False
    pair = sctp.transport.transport._connection._nominated.get(1)
    if pair is None:
        return False
    receive_directly(sctp.transport, pair.protocol)
    return True


def _idle_decoder_worker(loop: Any, input_q: Any, output_q: Any, decode_error: Any) -> None:
    """Stands in for aiortc's decoder thread: no packet ever reaches the decoder queue."""


class Stream:
    """One RTP stream seen by its header: which sequence numbers of a window arrived, frames
    (marker bits), the longest gap between frames, and how far behind real time it runs
    (arrival time minus RTP time, against the smallest such gap seen)."""

    __slots__ = ("clock", "highest", "start", "end", "seen", "packets", "frames",
                 "first_frame_at", "last_frame_at", "max_gap", "_ts", "_ts_ext", "lag",
                 "min_lag", "queue_delay")

    def __init__(self, clock_rate: int) -> None:
        self.clock = float(clock_rate)
        self.highest: int | None = None  # extended sequence number
        self.start: int | None = None
        self.end: int | None = None
        self.seen: set[int] | None = None  # only while a window is open
        self.packets = 0
        self.frames = 0
        self.first_frame_at = 0.0
        self.last_frame_at = 0.0
        self.max_gap = 0.0
        self._ts: int | None = None
        self._ts_ext = 0
        self.lag = 0.0
        self.min_lag = math.inf
        self.queue_delay: float | None = None

    def add(self, data: bytes, now: float) -> None:
        self.packets += 1
        seq = (data[2] << 8) | data[3]
        high = self.highest
        if high is None:
            ext = self.highest = seq + (1 << 16)
        else:
            delta = (seq - high) & 0xFFFF
            ext = high + delta if delta < 0x8000 else high - (0x10000 - delta)
            if ext > high:
                self.highest = ext
        if self.seen is not None and ext >= (self.start or 0):
            self.seen.add(ext)
        if data[1] & 0x80:  # marker: the last packet of a video frame (every Opus packet)
            self._frame(int.from_bytes(data[4:8], "big"), now)

    def _frame(self, timestamp: int, now: float) -> None:
        if self.frames:
            gap = now - self.last_frame_at
            if gap > self.max_gap:
                self.max_gap = gap
        else:
            self.first_frame_at = now
        self.frames += 1
        self.last_frame_at = now
        if self._ts is not None:
            step = (timestamp - self._ts) & 0xFFFFFFFF
            self._ts_ext += step if step < 0x80000000 else step - 0x100000000
        self._ts = timestamp
        self.lag = now - self._ts_ext / self.clock
        if self.lag < self.min_lag:
            self.min_lag = self.lag

    def current_delay(self) -> float | None:
        return self.lag - self.min_lag if self.frames else None

    def open_window(self) -> None:
        self.start = (self.highest + 1) if self.highest is not None else 0
        self.end = None
        self.seen = set()
        self.packets = 0
        self.max_gap = 0.0

    def close_window(self) -> None:
        """A stream that stopped counts the time since its last frame as a gap too."""
        self.end = self.highest if self.highest is not None else -1
        if self.frames:
            self.queue_delay = self.lag - self.min_lag
            self.max_gap = max(self.max_gap, time.monotonic() - self.last_frame_at)

    def result(self) -> dict[str, Any]:
        start, end = self.start, self.end
        expected = 0 if start is None or end is None or end < start else end - start + 1
        received = len([s for s in (self.seen or ()) if end is not None and s <= end])
        return {"expected": expected, "received": received, "packets": self.packets,
                "retransmits": 0, "queue_delay_ms": None if self.queue_delay is None
                else round(self.queue_delay * 1000, 1),
                "max_frame_gap_ms": round(self.max_gap * 1000, 1)}


@dataclass
class CheapViewer:
    """One WHEP viewer. ``counters`` holds a Stream per kind ("video", "audio") once its
    first packet arrived; packets of payload types the answer did not name are ``stray``."""

    index: int
    pc: Any = None
    counters: dict[str, Stream] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)  # payload type -> kind
    by_ssrc: dict[bytes, Stream] = field(default_factory=dict)
    channel: Any = None
    rtcp: int = 0
    stray: int = 0
    posted_at: float = 0.0
    answered_at: float | None = None
    connected_at: float | None = None
    retries: int = 0
    error: str | None = None
    state: str = "new"

    def on_packet(self, data: bytes) -> None:
        if len(data) < 12:
            return
        stream = self.by_ssrc.get(data[8:12])
        if stream is None:
            pt = data[1] & 0x7F
            if 63 < pt < 96:  # RTCP (packet types 192..223): sender reports, not counted
                self.rtcp += 1
                return
            kind = self.kinds.get(pt)
            if kind is None:
                self.stray += 1
                return
            if kind not in self.counters:
                self.counters[kind] = Stream(90000 if kind == "video" else 48000)
            stream = self.by_ssrc[data[8:12]] = self.counters[kind]
        stream.add(data, time.monotonic())

    @property
    def first_frame_ms(self) -> float | None:
        """WHEP POST to the first complete video frame (the server starts a viewer at a
        keyframe, so that is the first picture a player could show)."""
        video = self.counters.get("video")
        if video is None or not video.frames:
            return None
        return (video.first_frame_at - self.posted_at) * 1000

    join_ms = first_frame_ms

    @property
    def playing(self) -> bool:
        return self.first_frame_ms is not None

    @property
    def video_frames(self) -> int:
        video = self.counters.get("video")
        return video.frames if video is not None else 0


def _payload_kinds(sdp: str) -> dict[int, str]:
    """Payload type -> media kind from an SDP's m-lines (RTX types count as their kind)."""
    out: dict[int, str] = {}
    for line in sdp.splitlines():
        if line.startswith("m=audio") or line.startswith("m=video"):
            kind = line[2:7]
            for pt in line.split()[3:]:
                if pt.isdigit():
                    out[int(pt)] = kind
    return out


def _ice_connection(pc: Any) -> Any:
    for t in pc.getTransceivers():
        return t.receiver.transport.transport._connection
    sctp = pc.sctp
    return sctp.transport.transport._connection if sctp is not None else None


async def join(viewer: CheapViewer, http: Any, url: str, data_channel: bool = False,
               token: str | None = None, media: bool = True, attempts: int = 1,
               timeout: float = 30, decoders: bool = False) -> None:
    """Offer recvonly audio+video (and an ``events`` data channel), POST it, apply the
    answer. A 503 or 429 is retried after its Retry-After (up to ``attempts`` posts in
    all), as a player would; ``posted_at`` stays the first POST, so join times include the
    wait."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    install(decoders)
    pc = viewer.pc = RTCPeerConnection()
    if media:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
    if data_channel:
        viewer.channel = pc.createDataChannel("events")

    @pc.on("connectionstatechange")
    def _state() -> None:
        viewer.state = pc.connectionState
        if pc.connectionState == "connected" and viewer.connected_at is None:
            viewer.connected_at = time.monotonic()

    await pc.setLocalDescription(await pc.createOffer())
    _ice_connection(pc).bench_sink = viewer.on_packet
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    viewer.posted_at = time.monotonic()
    deadline = viewer.posted_at + timeout
    for attempt in range(attempts):
        async with http.post(url, data=pc.localDescription.sdp, headers=headers) as resp:
            body = await resp.text()
            if resp.status == 201:
                break
            retry_after = resp.headers.get("Retry-After", "")
            if (resp.status not in (429, 503) or attempt == attempts - 1
                    or not retry_after.isdigit()
                    or time.monotonic() + int(retry_after) > deadline):
                raise RuntimeError(f"{url} answered {resp.status}: {body[:200]}")
        viewer.retries += 1
        await asyncio.sleep(int(retry_after))
    viewer.answered_at = time.monotonic()
    viewer.kinds = _payload_kinds(body)
    await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))


async def close_all(viewers: list[CheapViewer], timeout: float = 10) -> None:
    pcs = [v.pc for v in viewers if v.pc is not None]
    if pcs:
        await asyncio.wait_for(asyncio.gather(*(pc.close() for pc in pcs),
                                              return_exceptions=True), timeout)

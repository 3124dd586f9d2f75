"""Fan-out benchmark: the Stallcast forwarding SFU against a naive aiortc relay.

Run from the repository root, inside a private network namespace (WebRTC peers on one machine
talk over its interface address, so the traffic must stay in a namespace of its own)::

    ../shared/netns-run python3 scripts/bench/fanout.py --viewers 100 \
        [--duration 20] [--warmup 5] [--baseline-viewers 10] [--workers 4]

What it does, once per server under test (first the SFU, then the baseline):

* starts the server in its own process: ``python3 -m server.cli serve`` on a fresh data folder
  (it starts its own private redis-server), a host from ``server.cli host create`` and a room
  from ``POST /api/rooms``; or, for the baseline, a small aiohttp + aiortc server defined in
  this file that answers WHIP and serves WHEP viewers through aiortc's ``MediaRelay`` (decode
  once, encode again for every viewer: the usual aiortc pattern). ``--server-dir`` runs the
  SFU from another source tree (e.g. a ``git archive HEAD`` copy while the checkout is
  being edited);
* starts one aiortc publisher process sending 640x480 30 fps VP8 and 20 ms Opus over WHIP.
  It encodes live, so it honours keyframe requests; its VP8 bitrate is pinned (default
  1.2 Mbit/s, about 130 packets/s) so the packet rate is realistic and equal for both
  servers, and it records the REMB bitrate the server asks for without obeying it;
* measures the server alone with its publisher, then starts viewer worker processes (niced,
  ``--viewer-nice``, so the load generator yields the CPU to the server under test), each
  holding a share of the WHEP viewers. ``--viewer cheap`` (the default, cheapviewer.py):
  aiortc does ICE, DTLS and SCTP, and each SRTP packet is counted by its clear RTP header
  (sequence number, marker bit, SSRC) and never decrypted; they send receiver reports and
  answer consent checks but no NACKs, so loss is what reached them, unrepaired. About
  0.25 % of a core each, against 2 % for ``--viewer aiortc``: viewers that do ICE, DTLS,
  SRTP, RTCP, NACK and the jitter buffer but decode nothing
  (``aiortc.rtcrtpreceiver.decoder_worker`` replaced by a thread that ends at once, each
  receiver's decoder queue by a counter of the complete frames the jitter buffer hands
  over); they count every RTP packet by sequence number (retransmissions and RTX included);
* after all viewers play, a warm-up, and until no viewer runs more than ``--settle-ms``
  behind real time (a join crowd can leave a backlog), measures a window: server CPU
  (utime + stime of the server process from /proc/<pid>/stat, threads included, over the
  window's wall time), what every viewer received and what it should have received, and
  the namespace's UDP receive-buffer drops, attributed to the process owning each socket.

It prints ONE JSON document on stdout (logs go to stderr) with, for ``sfu`` and
``baseline``:

* ``server_cpu_pct`` (% of one core), ``cpu_pct_per_viewer``, ``marginal_cpu_pct_per_viewer``
  (above ``server_cpu_pct_publisher_only``), ``server_us_per_packet_delivered`` (server CPU
  over the packets all viewers received; also per video packet);
* ``packets_per_s_per_viewer`` (video, audio), ``video_frames_per_s_per_viewer``;
* ``loss_pct``: sequence numbers of the window never received, after retransmissions;
* ``video_queue_delay_at_end_ms``: how far behind real time viewers ran at the window's end
  (arrival time minus RTP time, against the smallest gap seen): the delay queued anywhere;
* ``join_ms``: WHEP POST to the first complete video frame (out of the jitter buffer, or
  for cheap viewers the first marker bit: the server starts a viewer at a keyframe)
  (p50/p95/max), ``connect_ms``: POST to ICE+DTLS connected;
* ``other_cpu_pct`` (publisher, viewer workers, the server's children such as redis),
  ``machine_busy_pct_of_all_cores`` (every process, other work on the machine included),
  ``udp_in_window`` and ``publisher_in_window`` (frames, keyframes forced, REMBs received),
  ``before_window`` (settling time, backlog left, UDP drops while the crowd joined).

``ratio_baseline_over_sfu`` compares the two servers and ``goals`` checks the targets (CPU
per viewer at least 20x below the baseline; every SFU viewer playing with under 1 % loss).
``--viewers 0`` or ``--baseline-viewers 0`` skips a server.

Every child process is killed at the end, also on errors and on Ctrl-C. Traffic stays on
127.0.0.1 and the namespace's own address; the script refuses to run where it can see other
network interfaces unless given ``--no-netns-check``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import logging
import math
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.fanout")

REPO = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")
WIDTH, HEIGHT, FPS = 640, 480, 30


# --------------------------------------------------------------------------------------------
# Small helpers shared by every role


def setup_logging(role: str, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format=f"%(asctime)s {role} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log.setLevel(logging.INFO)


def emit(event: dict[str, Any]) -> None:
    """One protocol line from a child process to the orchestrator."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def read_command() -> str:
    """The next line the orchestrator sends on stdin ("" at EOF)."""
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return line.strip() if line else ""


def run_async(main: Awaitable[Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    return uvloop.run(main)  # type: ignore[arg-type]


# What the receiving server asked the VP8 encoder for (REMB), though the encoder keeps its pin.
REMB: dict[str, int] = {"count": 0, "last_bps": 0, "min_bps": 0}


def pin_vp8_bitrate(bitrate: int) -> None:
    """Make aiortc's VP8 encoder ignore REMB and keep ``bitrate`` (CBR); note the REMBs."""
    from aiortc.codecs import vpx

    def asked(self: Any, value: int) -> None:
        REMB["count"] += 1
        REMB["last_bps"] = value
        REMB["min_bps"] = min(REMB["min_bps"] or value, value)

    vpx.DEFAULT_BITRATE = bitrate
    pinned = property(lambda self: bitrate, asked)
    setattr(vpx.Vp8Encoder, "target_bitrate", pinned)  # noqa: B010


async def post_sdp(url: str, sdp: str, token: str | None) -> tuple[str, str]:
    import aiohttp

    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.post(url, data=sdp, headers=headers) as resp:
            body = await resp.text()
            if resp.status != 201:
                raise RuntimeError(f"{url} answered {resp.status}: {body[:200]}")
            return body, resp.headers.get("Location", "")


# --------------------------------------------------------------------------------------------
# Publisher role: synthetic 640x480 VP8 + Opus over WHIP


def make_video_track(width: int, height: int, fps: int) -> Any:
    import av
    from aiortc import MediaStreamTrack
    from aiortc.mediastreams import VIDEO_CLOCK_RATE, MediaStreamError

    time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
    # Precomputed planes, so making a frame costs a copy, not Python per-pixel work. The top
    # part is a sweeping gradient; the bottom third is noise, so the encoder always has
    # enough detail to fill its (pinned) bitrate and the packet rate stays realistic.
    row = bytes((x * 255 // width) for x in range(width))
    noise_rows = height // 3
    table = bytes(96 + (b * 64 // 256) for b in range(256))  # noise in 96..159
    lumas = []
    for i in range(fps):
        shift = (i * 8 * 4) % width
        moving = (row[shift:] + row[:shift]) * (height - noise_rows)
        lumas.append(moving + os.urandom(width * noise_rows).translate(table))
    chroma = bytes([128]) * ((width // 2) * (height // 2))

    class SyntheticVideo(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self._start: float | None = None
            self._count = 0

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            if self._start is None:
                self._start = time.time()
            target = self._start + self._count / fps
            await asyncio.sleep(max(0.0, target - time.time()))
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(lumas[self._count % len(lumas)])
            frame.planes[1].update(chroma)
            frame.planes[2].update(chroma)
            frame.pts = int(self._count * VIDEO_CLOCK_RATE / fps)
            frame.time_base = time_base
            self._count += 1
            return frame

    return SyntheticVideo()


def make_audio_track() -> Any:
    import av
    from aiortc import MediaStreamTrack
    from aiortc.mediastreams import MediaStreamError

    rate, samples = 48000, 960  # 20 ms
    # 400 Hz: exactly 8 periods per 20 ms frame, so one precomputed frame loops seamlessly.
    pcm = b"".join(int(6000 * math.sin(2 * math.pi * 400 * i / rate)).to_bytes(2, "little",
                                                                              signed=True)
                   for i in range(samples))

    class Tone(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._start: float | None = None
            self._samples = 0

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            if self._start is None:
                self._start = time.time()
            await asyncio.sleep(max(0.0, self._start + self._samples / rate - time.time()))
            frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
            frame.planes[0].update(pcm)
            frame.sample_rate = rate
            frame.pts = self._samples
            frame.time_base = fractions.Fraction(1, rate)
            self._samples += samples
            return frame

    return Tone()


async def publisher_main(args: argparse.Namespace) -> None:
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
    from aiortc.codecs import vpx

    pin_vp8_bitrate(args.bitrate)
    counts = {"frames": 0, "keyframes_forced": 0}
    encode = vpx.Vp8Encoder.encode

    def counting_encode(self: Any, frame: Any, force_keyframe: bool = False) -> Any:
        counts["frames"] += 1
        counts["keyframes_forced"] += int(force_keyframe)
        return encode(self, frame, force_keyframe)

    setattr(vpx.Vp8Encoder, "encode", counting_encode)  # noqa: B010

    pc = RTCPeerConnection()
    video = pc.addTransceiver(make_video_track(WIDTH, HEIGHT, FPS), direction="sendonly")
    pc.addTransceiver(make_audio_track(), direction="sendonly")
    caps = RTCRtpSender.getCapabilities("video").codecs
    video.setCodecPreferences([c for c in caps if c.mimeType.lower() == "video/vp8"])
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState == "connected":
            connected.set()
        log.info("publisher connection %s", pc.connectionState)

    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer, _ = await post_sdp(args.url, pc.localDescription.sdp, args.token)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.wait_for(connected.wait(), 20)
        emit({"event": "connected"})
        while True:
            cmd = await read_command()
            if cmd == "stats":
                emit({"event": "stats", **counts, "remb": dict(REMB),
                      "state": pc.connectionState})
            elif cmd in ("", "quit", "stop"):
                break
    finally:
        await asyncio.wait_for(pc.close(), 5)


# --------------------------------------------------------------------------------------------
# Viewer worker role: many cheap aiortc WHEP viewers in one process


class SeqCounter:
    """Counts one RTP stream by sequence number: which numbers of a window arrived. It also
    follows how far behind real time the stream runs: arrival time minus RTP time, against
    the smallest such gap seen, is the delay queued up somewhere on the way."""

    __slots__ = ("clock", "highest", "start", "end", "seen", "packets", "retransmits",
                 "_ts", "_ts_ext", "lag", "min_lag", "queue_delay")

    def __init__(self, clock_rate: int) -> None:
        self.clock = float(clock_rate)
        self.highest: int | None = None  # extended sequence number
        self.start: int | None = None
        self.end: int | None = None
        self.seen: set[int] = set()
        self.packets = 0  # every media packet, including retransmissions
        self.retransmits = 0
        self._ts: int | None = None
        self._ts_ext = 0
        self.lag = 0.0
        self.min_lag = math.inf
        self.queue_delay: float | None = None

    def add(self, seq: int, retransmit: bool, timestamp: int = 0) -> None:
        self.packets += 1
        self.retransmits += retransmit
        high = self.highest
        newest = False
        if high is None:
            ext = seq + (1 << 16)
            self.highest = ext
            newest = True
        else:
            delta = (seq - high) & 0xFFFF
            ext = high + delta if delta < 0x8000 else high - (0x10000 - delta)
            if ext > high:
                self.highest = ext
                newest = True
        start = self.start
        if start is not None and ext >= start and (self.end is None or ext <= self.end):
            self.seen.add(ext)
        if newest and not retransmit:
            if self._ts is not None:
                step = (timestamp - self._ts) & 0xFFFFFFFF
                self._ts_ext += step if step < 0x80000000 else step - 0x100000000
            self._ts = timestamp
            self.lag = time.monotonic() - self._ts_ext / self.clock
            if self.lag < self.min_lag:
                self.min_lag = self.lag

    def current_delay(self) -> float | None:
        return self.lag - self.min_lag if self.highest is not None else None

    def open_window(self) -> None:
        self.start = (self.highest + 1) if self.highest is not None else 0
        self.end = None
        self.seen = set()
        self.packets = 0
        self.retransmits = 0

    def close_window(self) -> None:
        self.end = self.highest if self.highest is not None else -1
        if self.highest is not None:
            self.queue_delay = self.lag - self.min_lag

    def result(self) -> dict[str, Any]:
        if self.start is None or self.end is None or self.end < self.start:
            expected = 0
        else:
            expected = self.end - self.start + 1
        return {"expected": expected, "received": len(self.seen), "packets": self.packets,
                "retransmits": self.retransmits,
                "queue_delay_ms": None if self.queue_delay is None
                else round(self.queue_delay * 1000, 1)}


class FrameCounter:
    """Stands in for a receiver's decoder queue. The jitter buffer hands it every complete
    encoded frame, in the event loop's own thread; it counts them and decodes nothing.

    Counting here rather than in a thread (aiortc's ``decoder_worker``) saves a thread
    wake-up per frame, which with a hundred viewers costs more than the rest of the viewer.
    """

    __slots__ = ("frames", "first_at")

    def __init__(self) -> None:
        self.frames = 0
        self.first_at = 0.0

    def put(self, item: Any) -> None:
        if item is None:  # aiortc stopping its decoder
            return
        if not self.frames:
            self.first_at = time.monotonic()
        self.frames += 1


def idle_decoder_worker(loop: Any, input_q: Any, output_q: Any, decode_error: Any) -> None:
    """Replaces ``aiortc.rtcrtpreceiver.decoder_worker``: the thread ends at once, since its
    input queue is a FrameCounter that never yields frames."""


@dataclass
class BenchViewer:
    index: int
    pc: Any = None
    counters: dict[str, SeqCounter] = field(default_factory=dict)
    frames: FrameCounter = field(default_factory=FrameCounter)
    posted_at: float = 0.0
    connected_at: float | None = None
    frames_at_start: int = 0
    frames_in_window: int = 0
    error: str | None = None

    @property
    def join_ms(self) -> float | None:
        if not self.frames.frames:
            return None
        return (self.frames.first_at - self.posted_at) * 1000

    @property
    def playing(self) -> bool:
        return self.join_ms is not None


def watch_receiver(receiver: Any, counter: SeqCounter) -> None:
    """Count every RTP packet a receiver gets, before aiortc handles it."""
    from aiortc.codecs import is_rtx

    codecs: dict[int, Any] = receiver._RTCRtpReceiver__codecs  # filled in by receive()
    original = receiver._handle_rtp_packet

    async def handle(packet: Any, arrival_time_ms: int) -> None:
        if packet.payload:
            codec = codecs.get(packet.payload_type)
            if codec is not None:
                if is_rtx(codec):
                    if len(packet.payload) >= 2:
                        counter.add((packet.payload[0] << 8) | packet.payload[1], True)
                else:
                    counter.add(packet.sequence_number, False, packet.timestamp)
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle


async def join(viewer: BenchViewer, url: str, data_channel: bool) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    pc = viewer.pc = RTCPeerConnection()
    for kind in ("video", "audio"):
        transceiver = pc.addTransceiver(kind, direction="recvonly")
        counter = viewer.counters[kind] = SeqCounter(90000 if kind == "video" else 48000)
        watch_receiver(transceiver.receiver, counter)
        receiver: Any = transceiver.receiver
        receiver._RTCRtpReceiver__decoder_queue = (viewer.frames if kind == "video"
                                                   else FrameCounter())
    if data_channel:
        pc.createDataChannel("events")

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState == "connected" and viewer.connected_at is None:
            viewer.connected_at = time.monotonic()

    await pc.setLocalDescription(await pc.createOffer())
    viewer.posted_at = time.monotonic()
    answer, _ = await post_sdp(url, pc.localDescription.sdp, None)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))


async def viewers_main(args: argparse.Namespace) -> None:
    import aiohttp
    import aiortc.rtcrtpreceiver

    import cheapviewer

    aiortc.rtcrtpreceiver.decoder_worker = idle_decoder_worker
    cheap = args.viewer == "cheap"
    viewers: list[Any] = [cheapviewer.CheapViewer(i) if cheap else BenchViewer(i)
                          for i in range(args.count)]
    gate = asyncio.Semaphore(args.concurrency)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    def frames(v: Any) -> int:
        return int(v.video_frames if cheap else v.frames.frames)

    async def one(viewer: Any) -> None:
        async with gate:
            try:
                joining = (cheapviewer.join(viewer, http, args.url, args.data_channel,
                                            attempts=5) if cheap
                           else join(viewer, args.url, args.data_channel))
                await asyncio.wait_for(joining, 60)
            except Exception as exc:
                viewer.error = f"{exc.__class__.__name__}: {exc}"
                log.warning("viewer %d failed to join: %s", viewer.index, viewer.error)

    await asyncio.gather(*(one(v) for v in viewers))
    deadline = time.monotonic() + args.ready_timeout
    while time.monotonic() < deadline and not all(v.playing or v.error for v in viewers):
        await asyncio.sleep(0.1)
    emit({"event": "ready", "joined": sum(v.error is None for v in viewers),
          "playing": sum(v.playing for v in viewers)})
    try:
        while True:
            cmd = await read_command()
            if cmd == "status":
                delays = [d for v in viewers if "video" in v.counters
                          if (d := v.counters["video"].current_delay()) is not None]
                emit({"event": "status", "max_delay_ms": 1000 * max(delays, default=0.0)})
            elif cmd == "start":
                for v in viewers:
                    for c in v.counters.values():
                        c.open_window()
                    v.frames_at_start = frames(v)
            elif cmd == "stop":
                for v in viewers:
                    for c in v.counters.values():
                        c.close_window()
                    v.frames_in_window = frames(v) - v.frames_at_start
                # Give retransmissions of the window's last packets a moment to arrive.
                await asyncio.sleep(args.grace)
                emit({"event": "result", "viewers": [{
                    "join_ms": v.join_ms,
                    "connect_ms": ((v.connected_at - v.posted_at) * 1000
                                   if v.connected_at is not None else None),
                    "error": v.error,
                    "video_frames": v.frames_in_window,
                    **{kind: c.result() for kind, c in v.counters.items()},
                } for v in viewers]})
            elif cmd in ("", "quit"):
                break
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(*(v.pc.close() for v in viewers if v.pc is not None),
                               return_exceptions=True), 10)
        await http.close()


# --------------------------------------------------------------------------------------------
# Baseline server role: WHIP in, aiortc MediaRelay out (decode once, encode per viewer)


async def baseline_main(args: argparse.Namespace) -> None:
    from aiohttp import web
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay

    pin_vp8_bitrate(args.bitrate)
    relay = MediaRelay()
    sources: dict[str, Any] = {}
    pcs: set[Any] = set()

    def track_pc(pc: Any) -> None:
        pcs.add(pc)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                pcs.discard(pc)
                await pc.close()

    async def whip(request: web.Request) -> web.Response:
        pc = RTCPeerConnection()
        track_pc(pc)

        @pc.on("track")
        def _track(track: Any) -> None:
            sources[track.kind] = track

        await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(status=201, text=pc.localDescription.sdp,
                            content_type="application/sdp",
                            headers={"Location": f"/whip/x/{id(pc)}"})

    async def whep(request: web.Request) -> web.Response:
        if "video" not in sources:
            return web.Response(status=409, text="no publisher yet")
        pc = RTCPeerConnection()
        track_pc(pc)
        await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
        for kind in ("video", "audio"):
            if kind in sources:
                pc.addTrack(relay.subscribe(sources[kind]))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(status=201, text=pc.localDescription.sdp,
                            content_type="application/sdp",
                            headers={"Location": f"/whep/x/{id(pc)}"})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/whip/{room_id}", whip)
    app.router.add_post("/whep/{room_id}", whep)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.gather(*(pc.close() for pc in list(pcs))), 5)
    await runner.cleanup()


# --------------------------------------------------------------------------------------------
# Orchestrator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def udp_counters() -> dict[str, int]:
    """This network namespace's UDP counters (/proc/net/snmp)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], (int(v) for v in rows[1][1:]), strict=True))


def udp_socket_drops() -> dict[int, int]:
    """Datagrams each UDP socket (by inode) dropped because its receive buffer was full."""
    out: dict[int, int] = {}
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(name) as f:
            for line in list(f)[1:]:
                cols = line.split()
                out[int(cols[9])] = int(cols[-1])
    return out


def socket_inodes(pid: int) -> set[int]:
    out: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    out.add(int(link[8:-1]))
    return out


def drops_by_role(watched: dict[str, list[int]]) -> dict[str, int]:
    drops = udp_socket_drops()
    return {role: sum(drops.get(i, 0) for pid in pids for i in socket_inodes(pid))
            for role, pids in watched.items()}


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def children_of(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    return out


class Child:
    """A child process of the benchmark, killed at the end whatever happens."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.pid = proc.pid
        self.descendants: list[tuple[int, bytes]] = []

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {event!r} within {timeout:.0f}s")
            line = await asyncio.wait_for(self.proc.stdout.readline(), left)
            if not line:
                raise RuntimeError(f"{self.name} exited (rc={await self.proc.wait()}) "
                                   f"before {event!r}")
            try:
                message = json.loads(line)
            except ValueError:
                log.info("%s: %s", self.name, line.decode(errors="replace").rstrip())
                continue
            if message.get("event") == event:
                return dict(message)

    async def stop(self, grace: float = 10) -> None:
        if self.proc.returncode is None:
            # Remember its own children (the SFU's private redis-server) to check on them.
            self.descendants = [(pid, cmdline(pid)) for pid in children_of(self.pid)]
            if self.proc.stdin is not None:
                with contextlib.suppress(Exception):
                    self.proc.stdin.write(b"quit\n")
                    self.proc.stdin.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.proc.wait(), 3)
            if self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(self.proc.wait(), grace)
                except TimeoutError:
                    log.warning("%s did not stop, killing it", self.name)
                    with contextlib.suppress(ProcessLookupError):
                        self.proc.kill()
                    await self.proc.wait()
        for pid, line in self.descendants:
            if line and cmdline(pid) == line:  # still there, and still the same process
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    log.warning("killed leftover pid %d of %s", pid, self.name)


class Phase:
    """One server under test with its publisher and viewers."""

    def __init__(self, name: str, args: argparse.Namespace, viewers: int,
                 extra_env: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = args
        self.viewers = viewers
        self.extra_env = extra_env or {}
        self.children: list[Child] = []
        self.tmp = tempfile.TemporaryDirectory(prefix=f"stallcast-bench-{name}-")

    def env(self, root: Path) -> dict[str, str]:
        return dict(os.environ, **self.extra_env, PYTHONPATH=os.pathsep.join(
            [str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))

    async def spawn(self, name: str, argv: list[str], protocol: bool = True,
                    stdout: Any = None, root: Path = REPO, nice: int = 0) -> Child:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=str(root), env=self.env(root),
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
            stdin=asyncio.subprocess.PIPE if protocol else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if protocol else (stdout or sys.stderr),
            stderr=None if protocol else (stdout or sys.stderr),
            limit=1 << 24,
        )
        child = Child(name, proc)
        self.children.append(child)
        return child

    def role(self, role: str, *extra: str) -> list[str]:
        argv = [sys.executable, str(Path(__file__).resolve()), "--role", role]
        if self.args.verbose:
            argv.append("--verbose")
        return argv + list(extra)

    async def wait_healthy(self, base: str, server: Child, timeout: float = 30) -> None:
        import aiohttp

        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if server.proc.returncode is not None:
                    raise RuntimeError(f"{server.name} exited with {server.proc.returncode}")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.get(base + "/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{base}/healthz not 200 within {timeout:.0f}s")

    async def start_sfu(self) -> tuple[Child, str, str, str | None]:
        import aiohttp

        port = free_port()
        data = self.tmp.name
        logfile = open(Path(data) / "server.log", "wb")
        root = Path(self.args.server_dir).resolve()
        server = await self.spawn("stallcast", [
            sys.executable, "-m", "server.cli", "serve", "--data-dir", data,
            "--port", str(port)], protocol=False, stdout=logfile, root=root)
        logfile.close()
        base = f"http://127.0.0.1:{port}"
        await self.wait_healthy(base, server)
        created = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "host", "create", "Bench farm",
            "--data-dir", data, cwd=str(root), env=self.env(root),
            stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(created.communicate(), 30)
        if created.returncode != 0:
            raise RuntimeError(f"host create failed with {created.returncode}")
        token = json.loads(out.decode().strip().splitlines()[-1])["token"]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.post(base + "/api/rooms", json={"title": "Fan-out bench"},
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"POST /api/rooms: {resp.status} {await resp.text()}")
                room = await resp.json()
        return server, base, room["room_id"], room["stream_key"]

    async def start_baseline(self) -> tuple[Child, str, str, str | None]:
        port = free_port()
        server = await self.spawn("baseline", self.role(
            "baseline", "--port", str(port), "--bitrate", str(self.args.bitrate)),
            protocol=False)
        base = f"http://127.0.0.1:{port}"
        await self.wait_healthy(base, server)
        return server, base, "bench", None

    def server_descendant_pids(self, server: Child) -> list[int]:
        return children_of(server.pid)

    async def run(self) -> dict[str, Any]:
        try:
            return await self._run()
        except Exception:
            server_log = Path(self.tmp.name) / "server.log"
            if server_log.exists():
                tail = server_log.read_text(errors="replace").splitlines()[-20:]
                log.error("%s failed; end of the server log:\n%s", self.name, "\n".join(tail))
            raise
        finally:
            for child in reversed(self.children):
                await child.stop()
            self.tmp.cleanup()

    async def _run(self) -> dict[str, Any]:
        args = self.args
        start = self.start_sfu if self.name.startswith("sfu") else self.start_baseline
        server, base, room_id, key = await start()
        log.info("%s: server pid %d at %s, room %s", self.name, server.pid, base, room_id)
        pub_argv = self.role("publisher", "--url", f"{base}/whip/{room_id}",
                             "--bitrate", str(args.bitrate))
        if key:
            pub_argv += ["--token", key]
        publisher = await self.spawn("publisher", pub_argv)
        await publisher.expect("connected", 30)
        await asyncio.sleep(2)
        # The server with its publisher and no viewer: the fixed cost per-viewer numbers sit on.
        idle_s = min(5.0, args.duration / 4)
        c0 = cpu_seconds(server.pid)
        t0 = time.monotonic()
        await asyncio.sleep(idle_s)
        idle_pct = 100 * (cpu_seconds(server.pid) - c0) / (time.monotonic() - t0)
        log.info("%s: server with publisher only: %.1f%% of a core", self.name, idle_pct)

        workers: list[Child] = []
        n_workers = max(1, min(args.workers, self.viewers))
        shares = [self.viewers // n_workers + (i < self.viewers % n_workers)
                  for i in range(n_workers)]
        ready_timeout = 20 + self.viewers * 0.3
        joined_at = time.monotonic()
        udp_before_join = udp_counters()
        for i, share in enumerate(shares):
            argv = self.role("viewers", "--url", f"{base}/whep/{room_id}",
                             "--count", str(share), "--concurrency", str(args.concurrency),
                             "--ready-timeout", str(ready_timeout))
            if not args.data_channel:
                argv.append("--no-data-channel")
            argv += ["--viewer", args.viewer]
            workers.append(await self.spawn(f"viewers-{i}", argv, nice=args.viewer_nice))
        ready = await asyncio.gather(*(w.expect("ready", ready_timeout + 60) for w in workers))
        join_wall = time.monotonic() - joined_at
        playing = sum(r["playing"] for r in ready)
        log.info("%s: %d/%d viewers playing after %.1fs; warm-up %.0fs", self.name, playing,
                 self.viewers, join_wall, args.warmup)
        await asyncio.sleep(args.warmup)
        # A crowd joining can leave the stream behind real time (packets queued in the server
        # or the viewers). The window counts sequence numbers, so it should open only once
        # the backlog is gone, or it would measure the join's aftermath, not the steady state.
        settle_start = time.monotonic()
        while True:
            for w in workers:
                await w.send("status")
            statuses = [await w.expect("status", 10) for w in workers]
            behind = max(st["max_delay_ms"] for st in statuses)
            if behind <= args.settle_ms or time.monotonic() - settle_start > args.settle_timeout:
                break
            await asyncio.sleep(1)
        settle_s = time.monotonic() - settle_start
        if behind > args.settle_ms:
            log.warning("%s: viewers still %.0f ms behind after %.0fs; measuring anyway",
                        self.name, behind, settle_s)

        watched = {"server": [server.pid], "publisher": [publisher.pid],
                   "viewer_workers": [w.pid for w in workers],
                   "server_children": self.server_descendant_pids(server)}
        udp_join = udp_counters()
        await publisher.send("stats")
        pub_before = await publisher.expect("stats", 10)
        for w in workers:
            await w.send("start")
        before = {k: sum(cpu_seconds(p) for p in pids) for k, pids in watched.items()}
        m0 = machine_jiffies()
        udp0, drops0 = udp_counters(), drops_by_role(watched)
        t0 = time.monotonic()
        await asyncio.sleep(args.duration)
        window = time.monotonic() - t0
        after = {k: sum(cpu_seconds(p) for p in pids) for k, pids in watched.items()}
        m1 = machine_jiffies()
        udp1, drops1 = udp_counters(), drops_by_role(watched)
        udp = {"receive_buffer_drops_by_process": {k: drops1[k] - drops0[k] for k in drops1},
               **{k: udp1[k] - udp0[k] for k in ("InDatagrams", "RcvbufErrors",
                                                 "SndbufErrors", "InErrors")}}
        for w in workers:
            await w.send("stop")
        await publisher.send("stats")
        pub_after = await publisher.expect("stats", 10)
        results = await asyncio.gather(*(w.expect("result", 60) for w in workers))
        per_viewer = [v for r in results for v in r["viewers"]]
        cpu_pct = {k: 100 * (after[k] - before[k]) / window for k, _ in watched.items()}
        busy = 100 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
        summary = summarize(self.name, self.viewers, window, cpu_pct, idle_pct, busy,
                            per_viewer, join_wall, {
                                **{k: pub_after[k] - pub_before[k]
                                   for k in ("frames", "keyframes_forced")},
                                "remb_received": pub_after["remb"]["count"]
                                - pub_before["remb"]["count"],
                                "remb_last_bps": pub_after["remb"]["last_bps"],
                                "remb_min_bps_since_start": pub_after["remb"]["min_bps"]})
        summary["udp_in_window"] = udp
        summary["before_window"] = {
            "settle_s": round(settle_s, 1),
            "max_video_delay_at_start_ms": round(behind, 1),
            "udp_receive_buffer_drops_while_joining": udp_join["RcvbufErrors"]
            - udp_before_join["RcvbufErrors"],
        }
        return summary


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def rnd(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def summarize(name: str, requested: int, window: float, cpu_pct: dict[str, float],
              idle_pct: float, busy: float, viewers: list[dict[str, Any]], join_wall: float,
              publisher: dict[str, Any]) -> dict[str, Any]:
    totals: dict[str, dict[str, int]] = {}
    for kind in ("video", "audio"):
        for v in viewers:  # a viewer that never joined received nothing
            v.setdefault(kind, {"expected": 0, "received": 0, "packets": 0, "retransmits": 0,
                                "queue_delay_ms": None})
        totals[kind] = {k: sum(v[kind][k] for v in viewers)
                        for k in ("expected", "received", "packets", "retransmits")}
    receiving = [v for v in viewers if v["video"]["received"] > 0]

    def loss(kind: str) -> float | None:
        exp = sum(totals[k]["expected"] for k in ([kind] if kind != "all" else totals))
        rec = sum(totals[k]["received"] for k in ([kind] if kind != "all" else totals))
        return 100 * (exp - rec) / exp if exp else None

    worst = max((100 * (v["video"]["expected"] - v["video"]["received"])
                 / v["video"]["expected"] for v in receiving if v["video"]["expected"]),
                default=None)
    delivered = {k: totals[k]["received"] for k in totals}
    delivered_all = sum(delivered.values())
    server_s = cpu_pct["server"] / 100 * window
    n = len(viewers)
    joins = [v["join_ms"] for v in viewers if v["join_ms"] is not None]
    connects = [v["connect_ms"] for v in viewers if v["connect_ms"] is not None]
    per_viewer_pps = {k: [v[k]["received"] / window for v in viewers] for k in totals}
    delays = [v["video"]["queue_delay_ms"] for v in viewers
              if v["video"].get("queue_delay_ms") is not None]
    return {
        "viewers": requested,
        "viewers_joined": sum(v["error"] is None for v in viewers),
        "viewers_receiving_video": len(receiving),
        "window_s": rnd(window),
        "server_cpu_pct": rnd(cpu_pct["server"]),
        "server_cpu_pct_publisher_only": rnd(idle_pct),
        "cpu_pct_per_viewer": rnd(cpu_pct["server"] / n, 3) if n else None,
        "marginal_cpu_pct_per_viewer": rnd((cpu_pct["server"] - idle_pct) / n, 3) if n else None,
        "server_us_per_packet_delivered": rnd(1e6 * server_s / delivered_all, 1)
        if delivered_all else None,
        "server_us_per_video_packet_delivered": rnd(1e6 * server_s / delivered["video"], 1)
        if delivered["video"] else None,
        "packets_per_s_per_viewer": {
            "video": rnd(statistics.fmean(per_viewer_pps["video"])) if n else None,
            "audio": rnd(statistics.fmean(per_viewer_pps["audio"])) if n else None,
            "video_min": rnd(min(per_viewer_pps["video"])) if n else None,
        },
        "video_frames_per_s_per_viewer": rnd(
            statistics.fmean(v["video_frames"] for v in viewers) / window) if n else None,
        "loss_pct": {"video": rnd(loss("video"), 3), "audio": rnd(loss("audio"), 3),
                     "all": rnd(loss("all"), 3), "worst_viewer_video": rnd(worst, 3)},
        "retransmissions_received": {k: totals[k]["retransmits"] for k in totals},
        "video_queue_delay_at_end_ms": {"p50": rnd(percentile(delays, 0.5), 1),
                                        "max": rnd(max(delays), 1) if delays else None},
        "join_ms": {"p50": rnd(percentile(joins, 0.5), 1), "p95": rnd(percentile(joins, 0.95), 1),
                    "max": rnd(max(joins), 1) if joins else None, "n": len(joins)},
        "connect_ms": {"p50": rnd(percentile(connects, 0.5), 1),
                       "p95": rnd(percentile(connects, 0.95), 1)},
        "all_joined_and_playing_s": rnd(join_wall, 1),
        "other_cpu_pct": {"publisher": rnd(cpu_pct["publisher"]),
                          "viewer_workers": rnd(cpu_pct["viewer_workers"]),
                          "server_children": rnd(cpu_pct["server_children"])},
        "machine_busy_pct_of_all_cores": rnd(busy, 1),
        "publisher_in_window": publisher,
        "errors": sorted({v["error"] for v in viewers if v["error"]})[:5],
    }


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    import aiortc

    out: dict[str, Any] = {
        "benchmark": "fanout",
        "config": {
            "viewers": args.viewers, "baseline_viewers": args.baseline_viewers,
            "duration_s": args.duration, "warmup_s": args.warmup, "workers": args.workers,
            "viewer_nice": args.viewer_nice,
            "video": f"VP8 {WIDTH}x{HEIGHT} {FPS}fps {args.bitrate} bps (pinned)",
            "audio": "Opus 48 kHz mono 20 ms", "data_channel": args.data_channel,
            "viewer": args.viewer, "loadavg_at_start": os.getloadavg(),
            "cpus": os.cpu_count(), "aiortc": aiortc.__version__,
            "python": sys.version.split()[0], "server_dir": str(Path(args.server_dir).resolve()),
        },
    }
    if args.viewers > 0:
        # Recording is measured by scripts/bench/recording.py; here it would only add noise.
        base_env = {} if args.record else {"STALLCAST_RECORDING_ENABLED": "0"}
        log.info("SFU: %d viewers", args.viewers)
        out["sfu"] = await Phase("sfu", args, args.viewers, base_env).run()
        if args.metrics_compare:
            # Interleave runs with metrics off and on, so drifting background load does not
            # favour one side.
            on = [out["sfu"]["server_cpu_pct"]]
            off: list[float] = []
            for i in range(args.metrics_repeats):
                log.info("SFU with metrics off (%d): %d viewers", i + 1, args.viewers)
                off.append((await Phase("sfu-metrics-off", args, args.viewers,
                                        {**base_env, "STALLCAST_METRICS_ENABLED": "0"})
                            .run())["server_cpu_pct"])
                if i + 1 < args.metrics_repeats:
                    log.info("SFU with metrics on (%d): %d viewers", i + 2, args.viewers)
                    on.append((await Phase("sfu", args, args.viewers, base_env).run())[
                        "server_cpu_pct"])
            on_cpu, off_cpu = sum(on) / len(on), sum(off) / len(off)
            out["metrics_cost"] = {
                "server_cpu_pct_metrics_on_runs": on, "server_cpu_pct_metrics_off_runs": off,
                "server_cpu_pct_metrics_on": round(on_cpu, 2),
                "server_cpu_pct_metrics_off": round(off_cpu, 2),
                "cost_pct_of_forwarding_cpu": round((on_cpu - off_cpu) / off_cpu * 100, 2)
                if off_cpu else None,
                "interval_s": 5,
            }
    if args.baseline_viewers > 0:
        log.info("baseline (aiortc MediaRelay): %d viewers", args.baseline_viewers)
        out["baseline"] = await Phase("baseline", args, args.baseline_viewers).run()
    sfu, base = out.get("sfu"), out.get("baseline")
    if sfu and base:
        def ratio(key: str) -> float | None:
            a, b = base.get(key), sfu.get(key)
            return round(a / b, 1) if a and b else None

        out["ratio_baseline_over_sfu"] = {
            "cpu_pct_per_viewer": ratio("cpu_pct_per_viewer"),
            "marginal_cpu_pct_per_viewer": ratio("marginal_cpu_pct_per_viewer"),
            "server_us_per_packet_delivered": ratio("server_us_per_packet_delivered"),
        }
    if sfu:
        loss = sfu["loss_pct"]["all"]
        out["goals"] = {
            "cpu_per_viewer_ratio_ge_20": (out.get("ratio_baseline_over_sfu", {})
                                           .get("cpu_pct_per_viewer") or 0) >= 20
            if base else None,
            "sfu_all_viewers_playing": sfu["viewers_receiving_video"] == args.viewers,
            "sfu_loss_lt_1pct": loss is not None and loss < 1.0,
        }
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--viewers", type=int, default=20, help="SFU viewers (0: skip the SFU)")
    p.add_argument("--baseline-viewers", type=int, default=10,
                   help="viewers of the aiortc MediaRelay baseline (0: skip it)")
    p.add_argument("--duration", type=float, default=20, help="measurement window, seconds")
    p.add_argument("--metrics-compare", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the SFU with metrics collection off and report the cost")
    p.add_argument("--metrics-repeats", type=int, default=2,
                   help="runs with metrics off (interleaved with runs with metrics on)")
    p.add_argument("--record", action="store_true",
                   help="keep session recording on in the SFU runs (off by default)")
    p.add_argument("--warmup", type=float, default=5,
                   help="seconds between all viewers playing and the window")
    p.add_argument("--settle-ms", type=float, default=200,
                   help="after the warm-up, wait until no viewer is more than this far behind "
                        "real time before opening the window")
    p.add_argument("--settle-timeout", type=float, default=15,
                   help="longest wait for that, seconds")
    p.add_argument("--workers", type=int, default=4, help="viewer worker processes")
    p.add_argument("--concurrency", type=int, default=2,
                   help="WHEP joins in flight per worker")
    p.add_argument("--bitrate", type=int, default=1_200_000, help="publisher VP8 bitrate")
    p.add_argument("--viewer-nice", type=int, default=5,
                   help="nice value of the viewer processes: the load generator yields the CPU "
                        "to the server under test (whose viewers would be elsewhere in real "
                        "life); 0 to compete as equals")
    p.add_argument("--viewer", choices=["cheap", "aiortc"], default="cheap",
                   help="load viewers: cheap (scripts/bench/cheapviewer.py: aiortc's ICE and "
                        "DTLS, SRTP counted by its clear header, never decrypted, no NACKs) "
                        "or aiortc (SRTP, jitter buffer and NACKs, decoding nothing)")
    p.add_argument("--no-data-channel", dest="data_channel", action="store_false",
                   help="viewers open no event data channel")
    p.add_argument("--server-dir", default=str(REPO),
                   help="source tree whose server.cli to run as the SFU (default: this "
                        "checkout; e.g. a `git archive HEAD` copy while the tree is in flux)")
    p.add_argument("--verbose", action="store_true", help="INFO logs from child processes")
    p.add_argument("--no-netns-check", dest="netns_check", action="store_false",
                   help="run even when the machine's own network interfaces are visible")
    # Internal: the roles of the child processes.
    p.add_argument("--role", default="orchestrate",
                   choices=["orchestrate", "publisher", "viewers", "baseline"],
                   help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--token", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--ready-timeout", type=float, default=60, help=argparse.SUPPRESS)
    p.add_argument("--grace", type=float, default=1.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "orchestrate":
        if args.viewers < 0 or args.baseline_viewers < 0 or args.viewers > 1000:
            p.error("viewers must be between 0 and 1000")
        if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 120:
            p.error("duration must be 1..600 s and warm-up 0..120 s")
        if not 0 <= args.settle_timeout <= 300:
            p.error("--settle-timeout must be 0..300 s")
        if not 1 <= args.workers <= 32 or not 1 <= args.concurrency <= 32:
            p.error("workers and concurrency must be 1..32")
        if not 0 <= args.viewer_nice <= 19:
            p.error("--viewer-nice must be 0..19")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.role, args.verbose or args.role == "orchestrate")
    if args.role == "publisher":
        run_async(publisher_main(args))
        return 0
    if args.role == "viewers":
        run_async(viewers_main(args))
        return 0
    if args.role == "baseline":
        run_async(baseline_main(args))
        return 0
    # Interfaces of ../shared/netns-run (v0, v1) and scripts/netns-run (sc0, sc1).
    outside = sorted({name for _, name in socket.if_nameindex()}
                     - {"lo", "v0", "v1", "sc0", "sc1"})
    if outside and args.netns_check:
        log.error("network interfaces %s are visible: run this inside a private network "
                  "namespace (../shared/netns-run), or pass --no-netns-check", outside)
        return 2
    loop = asyncio.new_event_loop()
    main_task = loop.create_task(orchestrate(args))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)
    try:
        result = loop.run_until_complete(main_task)
    except asyncio.CancelledError:
        log.error("interrupted; child processes stopped")
        return 130
    finally:
        loop.close()
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Recording benchmark: what recording a live session costs the server, and how long a finished
session takes to become a class.

Run from the repository root, inside a private network namespace (WebRTC peers on one machine
talk over its interface address, so the traffic must stay in a namespace of its own)::

    scripts/netns-run python3 scripts/bench/recording.py [--minutes 10] [--window 20]
        [--warmup 5] [--viewers 5] [--bitrate 1200000] [--codecs vp8,h264]
        [--cache-dir DIR] [--skip-live] [--skip-packaging] [--verbose]

Part 1, live (once per codec, VP8 and H264): a ``stallcast serve`` process on a fresh data
folder (benchkit.Server, with its private redis-server), one host and two rooms, the second
with ``PATCH /api/rooms/{id} {"record": false}``. For each room in turn: one aiortc publisher
process sends 640x480 30 fps video over WHIP with only the codec under test offered, encoded
live with a pinned bitrate (fanout.py's synthetic track and pinned VP8 encoder; the H264
encoder is pinned the same way) plus 20 ms Opus; one worker process holds ``--viewers``
non-decoding WHEP viewers (fanout.py's viewer role). After a warm-up, the server's CPU
(utime + stime from /proc/<pid>/stat, every thread included, so the recorder's writer thread
too) is measured over ``--window`` seconds. The order is ON then OFF for the first codec and
OFF then ON for the second, so a drift in the machine's other load does not always favour the
same side. The recorded session is then ended (WHIP DELETE) and the benchmark waits until the
server has packaged it, which also checks that the live recording is playable.

Part 2, packaging a ``--minutes`` long session (default 10): a real 10-minute live session
would take 10 minutes per codec, so the recording is made synthetically, in exactly the
format media/recorder.py writes: its own writer thread (a ``media.recorder.Recorder`` fed
through its queue) muxes the frames into Matroska. Video is encoded from synthetic moving
640x480 frames at 30 fps, ~1 Mbit/s, a keyframe every 2.5 s, with PyAV's libvpx (VP8,
realtime) or libx264 (H264 Annex-B, baseline profile, no B-frames, SPS/PPS before every IDR,
as a browser sends); audio is Opus, 20 ms frames. The files are cached in a temporary folder
for the run (or ``--cache-dir``, kept and reused). A second ``stallcast serve`` then gets a
session hash and a packaging job in Redis (``server.sessions.SessionStore.finish``, as the
recording manager does at the end of a live session); its packaging worker picks the job up
and runs ``python -m media.packager``. The clock runs from ``finish`` to
``GET /api/sessions/{id}`` saying ``ready``; a class made of the session is then checked too.

It prints ONE JSON document on stdout (logs go to stderr):

* ``live_recording_cpu.{vp8,h264}``: ``server_cpu_pct_recording_on`` / ``_off`` (% of one
  core) and ``added_by_recording_pct_of_one_core``, each window's details (CPU of the server,
  its redis, the publisher and the viewer worker, machine load, what the viewers received,
  frames the publisher encoded) and ``live_session`` (the recorded session: frames in the
  file, packaged duration, seconds from the WHIP DELETE to ready);
* ``packaging.{vp8,h264}``: ``session_end_to_ready_s``, ``packaged_duration_s``,
  ``segments``, ``transcoded``, ``packager_cpu_s`` (the packager child's CPU), and what the
  synthetic recording holds; ``packaging.recording_source`` says where the file came from.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import inspect
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchkit
import fanout
from server.platform.config import load_config

log = logging.getLogger("bench.recording")

REPO = Path(__file__).resolve().parents[2]

WIDTH, HEIGHT, FPS = 640, 480, 30
CODECS = ("vp8", "h264")
SYNTH_BITRATE = 1_000_000
SYNTH_GOP = 75  # frames: a keyframe every 2.5 s
SYNTH_LOOP = 90  # distinct synthetic frames (3 s), repeated
FIRST_VIDEO_MS = 400  # where a live recording's first keyframe lands (connect time)
FIRST_AUDIO_MS = 320
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# Publisher role: fanout.py's synthetic tracks, VP8 or H264 with a pinned bitrate, over WHIP


def pin_h264_bitrate(bitrate: int) -> None:
    """aiortc's H264 encoder keeps ``bitrate`` whatever REMB asks (like fanout's VP8 pin)."""
    from aiortc.codecs import h264

    def asked(self: Any, value: int) -> None:
        fanout.REMB["count"] += 1
        fanout.REMB["last_bps"] = value
        fanout.REMB["min_bps"] = min(fanout.REMB["min_bps"] or value, value)

    h264.DEFAULT_BITRATE = bitrate
    setattr(h264.H264Encoder, "target_bitrate", property(lambda self: bitrate, asked))  # noqa: B010


async def publisher_main(args: argparse.Namespace) -> None:
    import aiohttp
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
    from aiortc.codecs import h264, vpx

    fanout.pin_vp8_bitrate(args.bitrate)
    pin_h264_bitrate(args.bitrate)
    counts = {"frames": 0, "keyframes_forced": 0, "bytes": 0}
    for cls in (vpx.Vp8Encoder, h264.H264Encoder):
        def counting(self: Any, frame: Any, force_keyframe: bool = False,
                     _encode: Any = cls.encode) -> Any:
            payloads, timestamp = _encode(self, frame, force_keyframe)
            counts["frames"] += 1
            counts["keyframes_forced"] += int(force_keyframe)
            counts["bytes"] += sum(len(p) for p in payloads)
            return payloads, timestamp

        setattr(cls, "encode", counting)  # noqa: B010

    pc = RTCPeerConnection()
    video = pc.addTransceiver(fanout.make_video_track(WIDTH, HEIGHT, FPS), direction="sendonly")
    pc.addTransceiver(fanout.make_audio_track(), direction="sendonly")
    caps = RTCRtpSender.getCapabilities("video").codecs
    video.setCodecPreferences([c for c in caps
                               if c.mimeType.lower() == f"video/{args.codec}"])
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    location = ""
    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer, location = await fanout.post_sdp(args.url, pc.localDescription.sdp, args.token)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.wait_for(connected.wait(), 20)
        benchkit.emit({"event": "connected"})
        while True:
            cmd = await benchkit.read_command()
            if cmd == "stats":
                benchkit.emit({"event": "stats", **counts, "remb": dict(fanout.REMB)})
            elif cmd == "end":
                # End the broadcast as a host's encoder does: DELETE the WHIP resource.
                url = location if "://" in location else args.url.split("/whip/")[0] + location
                async with aiohttp.ClientSession() as http, http.delete(
                        url, headers={"Authorization": f"Bearer {args.token}"}) as resp:
                    status = resp.status
                await asyncio.wait_for(pc.close(), 5)
                benchkit.emit({"event": "ended", "status": status, **counts})
                break
            elif cmd in ("", "quit", "stop"):
                break
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pc.close(), 5)


async def viewers_main(args: argparse.Namespace) -> None:
    """fanout.py's viewer worker: non-decoding WHEP viewers that count what they receive."""
    await fanout.viewers_main(argparse.Namespace(
        url=args.url, count=args.count, concurrency=2, ready_timeout=args.ready_timeout,
        data_channel=True, grace=1.0))


# --------------------------------------------------------------------------------------------
# Orchestrator helpers


def reaped_children_cpu(pid: int) -> float:
    """cutime + cstime (fields 16 and 17): CPU of a process's children it has waited for."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / CLK_TCK


def source_state(root: Path) -> dict[str, Any]:
    """The commit of the tree under test, and whether its server/media code has local edits."""
    def git(*argv: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *argv], capture_output=True, text=True,
                              timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return {"git_head": None}
    return {"git_head": head,
            "uncommitted_server_or_media_edits": bool(git("status", "--porcelain", "--",
                                                          "server", "media", "configs"))}


def host_create(server: benchkit.Server, name: str) -> tuple[str, str]:
    """(host_id, token), from the admin command (benchkit's helper returns the token only)."""
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "host", "create", name,
         "--data-dir", str(server.data_dir)],
        cwd=benchkit.REPO, env=server.env, capture_output=True, text=True, timeout=60,
        check=True)
    created = json.loads(out.stdout.strip().splitlines()[-1])
    return str(created["host_id"]), str(created["token"])


async def spawn(name: str, argv: list[str], nice: int = 0) -> fanout.Child:
    """A role of this script in its own process, speaking JSON lines (fanout's Child, which
    says ``quit`` and then signals, whatever the role)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).resolve()), *argv, cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        preexec_fn=(lambda: os.nice(nice)) if nice else None, limit=1 << 24)
    return fanout.Child(name, proc)


async def wait_session(api: benchkit.Api, token: str, room_id: str, statuses: set[str],
                       timeout: float) -> dict[str, Any]:
    """The newest session of ``room_id`` once its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        body = await api.ok("GET", "/api/sessions", token)
        mine = [s for s in body["sessions"] if s["room_id"] == room_id]
        last = mine[0] if mine else None
        if last is not None and last["status"] in statuses:
            return dict(last)
        if last is not None and last["status"] == "failed":
            raise RuntimeError(f"session failed: {last.get('error')}")
        await asyncio.sleep(0.1)
    raise TimeoutError(f"room {room_id}: no session in {statuses} within {timeout:.0f} s "
                       f"(last: {last})")


def count_packets(path: Path) -> dict[str, Any]:
    """Video and audio packets in a Matroska recording, keyframes, first/last video ms."""
    import av

    out: dict[str, Any] = {"video_packets": 0, "video_keyframes": 0, "audio_packets": 0,
                           "bytes": path.stat().st_size}
    first = last = None
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size == 0:
                continue
            if packet.stream.type == "video":
                out["video_packets"] += 1
                out["video_keyframes"] += int(packet.is_keyframe)
                if packet.pts is not None:
                    first = packet.pts if first is None else first
                    last = packet.pts
            else:
                out["audio_packets"] += 1
        out["codec"] = container.streams.video[0].codec_context.name
    if first is not None and last is not None:
        out["video_span_s"] = round((last - first) / 1000, 2)
        out["video_fps"] = round((out["video_packets"] - 1) / max(0.001, (last - first) / 1000),
                                 1)
    return out


def viewer_summary(viewers: list[dict[str, Any]], window: float) -> dict[str, Any]:
    def total(kind: str, key: str) -> int:
        return sum(int(v.get(kind, {}).get(key, 0)) for v in viewers)

    expected = total("video", "expected") + total("audio", "expected")
    received = total("video", "received") + total("audio", "received")
    n = max(1, len(viewers))
    return {
        "viewers": len(viewers),
        "receiving_video": sum(1 for v in viewers if v.get("video", {}).get("received")),
        "video_packets_per_s_per_viewer": round(total("video", "received") / window / n, 1),
        "audio_packets_per_s_per_viewer": round(total("audio", "received") / window / n, 1),
        "video_frames_per_s_per_viewer": round(
            sum(int(v.get("video_frames", 0)) for v in viewers) / window / n, 1),
        "loss_pct": round(100 * (expected - received) / expected, 3) if expected else None,
    }


# --------------------------------------------------------------------------------------------
# Part 1: server CPU with and without recording


async def live_window(args: argparse.Namespace, server: benchkit.Server, api: benchkit.Api,
                      token: str, codec: str, room: dict[str, Any],
                      record: bool) -> dict[str, Any]:
    room_id = room["room_id"]
    children: list[fanout.Child] = []
    out: dict[str, Any] = {"record": record}
    try:
        extra = ["--verbose"] if args.verbose else []
        publisher = await spawn(f"publisher-{codec}", [
            "--role", "publisher", "--url", f"{server.base}/whip/{room_id}",
            "--token", room["stream_key"], "--codec", codec,
            "--bitrate", str(args.bitrate), *extra])
        children.append(publisher)
        await publisher.expect("connected", 40)
        ready_timeout = 30 + args.viewers
        viewers = await spawn("viewers", [
            "--role", "viewers", "--url", f"{server.base}/whep/{room_id}",
            "--count", str(args.viewers), "--ready-timeout", str(ready_timeout), *extra],
            nice=args.viewer_nice)
        children.append(viewers)
        ready = await viewers.expect("ready", ready_timeout + 30)
        out["viewers_playing_at_start"] = ready["playing"]
        # Older servers make a session only for recorded rooms ("recording"); newer ones make
        # one for every broadcast ("live") and record it unless the room says not to.
        session = None
        with contextlib.suppress(TimeoutError):
            session = await wait_session(api, token, room_id, {"live", "recording"},
                                         15 if record else 3)
        if record and session is None:
            raise RuntimeError(f"{codec}: no live session for the recorded room")
        recording_file = (server.data_dir / "recordings" / f"{session['session_id']}.mkv"
                          if session else None)
        await asyncio.sleep(args.warmup)
        out["session_id"] = session["session_id"] if session else None
        out["recording_file_written"] = bool(recording_file and recording_file.exists())
        if out["recording_file_written"] != record:
            raise RuntimeError(f"{codec}: recording {'ON' if record else 'OFF'} but the "
                               f"recording file {'is missing' if record else 'exists'}")

        pids = {"server": server.pid, "publisher": publisher.pid, "viewer_worker": viewers.pid}
        if server.redis_pid:
            pids["redis"] = server.redis_pid
        await publisher.send("stats")
        pub0 = await publisher.expect("stats", 10)
        await viewers.send("start")
        window = benchkit.CpuWindow(pids)
        window.start()
        await asyncio.sleep(args.window)
        cpu = window.stop()
        await viewers.send("stop")
        await publisher.send("stats")
        pub1 = await publisher.expect("stats", 10)
        result = await viewers.expect("result", 60)
        out["window_s"] = cpu["seconds"]
        out["server_cpu_pct"] = cpu["cpu_pct_of_one_core"].get("server")
        out["cpu_pct_of_one_core"] = cpu["cpu_pct_of_one_core"]
        out["machine_busy_pct_of_all_cores"] = cpu["machine_busy_pct"]
        out["publisher_in_window"] = {
            "frames_per_s": round((pub1["frames"] - pub0["frames"]) / cpu["seconds"], 1),
            "video_kbps": round(8 * (pub1["bytes"] - pub0["bytes"]) / cpu["seconds"] / 1000),
            "keyframes_forced": pub1["keyframes_forced"] - pub0["keyframes_forced"],
        }
        out["viewers_in_window"] = viewer_summary(result["viewers"], cpu["seconds"])
        await viewers.stop()
        await publisher.send("end")
        ended = await publisher.expect("ended", 20)
        out["publisher_total_frames"] = ended["frames"]
        ended_at = time.monotonic()
        if record:
            session = await wait_session(api, token, room_id, {"ready"}, 120)
            detail = await api.ok("GET", f"/api/sessions/{session['session_id']}", token)
            path = server.data_dir / "recordings" / f"{session['session_id']}.mkv"
            vod = server.data_dir / "vod" / session["session_id"]
            extinf = [float(line[8:].split(",")[0])
                      for line in (vod / "index.m3u8").read_text().splitlines()
                      if line.startswith("#EXTINF:")]
            out["live_session"] = {
                "session_id": session["session_id"],
                "codec": detail.get("codec"),
                "session_s": round(detail["ended_at"] - detail["started_at"], 2),
                "packaged_duration_s": detail.get("duration"),
                "whip_delete_to_ready_s": round(time.monotonic() - ended_at, 2),
                "segments": len(extinf),
                "longest_segment_s": round(max(extinf), 2) if extinf else None,
                "recording_file": count_packets(path),
            }
        return out
    finally:
        for child in reversed(children):
            await child.stop()


async def live_part(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    results: dict[str, Any] = {}
    for index, codec in enumerate(args.codecs):
        server = benchkit.Server()
        try:
            await server.start()
            _, token = host_create(server, "Recording bench farm")
            async with aiohttp.ClientSession() as http:
                api = benchkit.Api(server.base, http)
                rooms = {
                    True: await api.ok("POST", "/api/rooms", token, {"title": "Recorded"}),
                    False: await api.ok("POST", "/api/rooms", token, {"title": "Not recorded"}),
                }
                patched = await api.ok("PATCH", f"/api/rooms/{rooms[False]['room_id']}", token,
                                       {"record": False})
                assert patched["record"] is False, patched
                order = [True, False] if index % 2 == 0 else [False, True]
                windows: dict[bool, dict[str, Any]] = {}
                for record in order:
                    log.info("%s: recording %s, %d viewers, %.0f s window", codec,
                             "ON" if record else "OFF", args.viewers, args.window)
                    windows[record] = await live_window(args, server, api, token, codec,
                                                        rooms[record], record)
                    log.info("%s: recording %s: server %.1f%% of a core", codec,
                             "ON" if record else "OFF", windows[record]["server_cpu_pct"] or 0)
                    await asyncio.sleep(2)
        finally:
            server.stop()
        on, off = windows[True]["server_cpu_pct"], windows[False]["server_cpu_pct"]
        results[codec] = {
            "server_cpu_pct_recording_on": on,
            "server_cpu_pct_recording_off": off,
            "added_by_recording_pct_of_one_core": round(on - off, 1),
            "order": ["on" if r else "off" for r in order],
            "recording_on": windows[True],
            "recording_off": windows[False],
        }
    return results


# --------------------------------------------------------------------------------------------
# Part 2: a synthetic recording in the recorder's own format, packaged by the server


def synthetic_frames() -> list[tuple[bytes, bytes, bytes]]:
    """SYNTH_LOOP distinct yuv420p frames (Y, U, V): a textured scene that pans slowly, a
    "product" box moving across it, and sensor-like grain, so encoders work as on a camera.
    Pure Python (numpy is not a dependency): rows are sliced, grain is added as big ints."""
    cw, ch = WIDTH // 2, HEIGHT // 2
    margin = 64
    scene = [bytes(min(235, max(16, int(
        118 + 48 * math.sin(x / 37.0) * math.cos(y / 23.0) + 30 * math.sin((x + 2 * y) / 71.0)
        + (40 if (x // 80 + y // 60) % 2 else 0))))
        for x in range(WIDTH + margin)) for y in range(HEIGHT)]
    u_rows = [bytes(128 + int(20 * math.sin(x / 29.0 + y / 41.0)) for x in range(cw + margin))
              for y in range(ch)]
    v_rows = [bytes(128 + int(20 * math.cos(x / 33.0 - y / 27.0)) for x in range(cw + margin))
              for y in range(ch)]
    box_w, box_h = 160, 120
    box = [bytes(200 + 30 * (((x // 16) + (y // 16)) % 2) for x in range(box_w))
           for y in range(box_h)]
    grain_table = bytes(b % 7 for b in range(256))  # 0..6 added to pixels of at most 249
    frames = []
    for i in range(SYNTH_LOOP):
        phase = 2 * math.pi * i / SYNTH_LOOP
        pan = int(margin / 2 + (margin / 2 - 1) * math.sin(phase))
        bx = int((WIDTH - box_w) * (0.5 + 0.45 * math.sin(phase)))
        by = int(HEIGHT / 2 - box_h / 2 + 80 * math.cos(phase))
        rows = []
        for y in range(HEIGHT):
            row = scene[y][pan:pan + WIDTH]
            if by <= y < by + box_h:
                row = row[:bx] + box[y - by] + row[bx + box_w:]
            rows.append(row)
        luma = b"".join(rows)
        grain = os.urandom(len(luma)).translate(grain_table)
        luma = (int.from_bytes(luma, "little") + int.from_bytes(grain, "little")).to_bytes(
            len(luma), "little")
        cpan = pan // 2
        u = b"".join(r[cpan:cpan + cw] for r in u_rows)
        v = b"".join(r[cpan:cpan + cw] for r in v_rows)
        frames.append((luma, u, v))
    return frames


def opus_packets(seconds: float) -> list[bytes]:
    """20 ms Opus packets (48 kHz stereo) of a gliding tone with a little noise: a voice-like
    load for the packager's Opus decoder and AAC encoder."""
    import av

    rate, samples = 48000, 960
    encoder: Any = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = rate
    encoder.layout = "stereo"
    encoder.format = "s16"
    encoder.bit_rate = 48000
    encoder.time_base = fractions.Fraction(1, rate)
    loop = []  # one second of distinct frames, repeated
    noise = os.urandom(samples * 50)
    for f in range(50):
        pcm = bytearray()
        for n in range(samples):
            t = (f * samples + n) / rate
            hz = 220 + 180 * math.sin(2 * math.pi * 0.5 * t)
            value = int(5000 * math.sin(2 * math.pi * hz * t) + (noise[f * samples + n] - 128) * 8)
            pcm += value.to_bytes(2, "little", signed=True) * 2
        loop.append(bytes(pcm))
    out: list[bytes] = []
    count = int(seconds * 50)
    for i in range(count):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
        frame.planes[0].update(loop[i % len(loop)])
        frame.sample_rate = rate
        frame.pts = i * samples
        frame.time_base = fractions.Fraction(1, rate)
        out += [bytes(p) for p in encoder.encode(frame)]
    out += [bytes(p) for p in encoder.encode(None)]
    return out[:count]


def video_encoder(codec: str) -> Any:
    import av

    name = {"vp8": "libvpx", "h264": "libx264"}[codec]
    enc: Any = av.CodecContext.create(name, "w")
    enc.width, enc.height, enc.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    enc.bit_rate = SYNTH_BITRATE
    enc.time_base = fractions.Fraction(1, FPS)
    enc.framerate = FPS
    enc.gop_size = SYNTH_GOP
    enc.thread_count = 1
    if codec == "vp8":
        # Realtime, as WebRTC encoders run; the fastest speed keeps generation short.
        enc.options = {"deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0",
                       "error-resilient": "1", "max-intra-rate": "300"}
    else:
        # Baseline, no B-frames, fixed GOP, no scene-cut IDRs; without a global header x264
        # repeats SPS/PPS before every IDR, in Annex-B, as WebRTC H264 arrives.
        enc.profile = "baseline"
        enc.options = {"preset": "veryfast", "tune": "zerolatency", "bf": "0",
                       "x264-params": f"keyint={SYNTH_GOP}:min-keyint={SYNTH_GOP}:scenecut=0"
                                      ":repeat-headers=1:annexb=1"}
    return enc


def make_recording(path: Path, codec: str, minutes: float, audio: list[bytes],
                   frames: list[tuple[bytes, bytes, bytes]]) -> dict[str, Any]:
    """Write ``path`` through media.recorder's writer thread: the recorder's own Matroska
    layout (add_mux_stream, ms timestamps, keyframe flags, 1 s clusters)."""
    import av

    from media.recorder import Recorder

    started = time.monotonic()
    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    recorder = Recorder(tmp, lambda: None,
                        keyframe_interval=float(load_config().recording.keyframe_interval_s))
    recorder._tracks["video"].codec = codec  # what on_packet sets from the first RTP packet
    queue_put = recorder._queue.put  # blocking put: back-pressure, nothing is dropped
    encoder = video_encoder(codec)
    total_frames = int(minutes * 60 * FPS)
    audio_i = 0
    video_bytes = keyframes = 0

    def feed_audio_until(ms: int) -> None:
        nonlocal audio_i
        while audio_i < len(audio) and FIRST_AUDIO_MS + 20 * audio_i <= ms:
            queue_put(("audio", audio[audio_i], FIRST_AUDIO_MS + 20 * audio_i, True))
            audio_i += 1

    def send(packets: Any) -> None:
        nonlocal video_bytes, keyframes
        for packet in packets:
            data = bytes(packet)
            ms = FIRST_VIDEO_MS + int(packet.pts * 1000 / FPS)
            key = Recorder._is_keyframe(codec, data)
            if key != bool(packet.is_keyframe):
                raise RuntimeError(f"{codec}: encoder and recorder disagree on a keyframe")
            feed_audio_until(ms)
            queue_put(("video", data, ms, key))
            video_bytes += len(data)
            keyframes += int(key)

    for i in range(total_frames):
        luma, u, v = frames[i % len(frames)]
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(luma)
        frame.planes[1].update(u)
        frame.planes[2].update(v)
        frame.pts = i
        send(encoder.encode(frame))
        if i and i % (FPS * 60) == 0:
            log.info("%s: %d of %d frames encoded", codec, i, total_frames)
    send(encoder.encode(None))
    feed_audio_until(FIRST_VIDEO_MS + int(total_frames * 1000 / FPS))
    recorder.close()
    if recorder.error:
        raise RuntimeError(f"recorder failed: {recorder.error}")
    tmp.rename(path)
    stats = recorder.stats
    seconds = total_frames / FPS
    return {
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "video_frames": stats.video_frames, "audio_frames": stats.audio_frames,
        "video_keyframes": keyframes, "dropped_frames": stats.dropped_frames,
        "width": stats.width, "height": stats.height,
        "video_kbps": round(8 * video_bytes / seconds / 1000),
        "generate_s": round(time.monotonic() - started, 1),
    }


async def package_one(server: benchkit.Server, api: benchkit.Api, sessions: Any, host_id: str,
                      token: str, codec: str, path: Path, seconds: float,
                      timeout: float) -> dict[str, Any]:
    room = await api.ok("POST", "/api/rooms", token, {"title": f"Ten-minute class ({codec})"})
    session = await sessions.start(room["room_id"], host_id, room["title"], "", codec)
    sid = session["session_id"]
    now = time.time()
    await sessions.update(sid, file=str(path), width=WIDTH, height=HEIGHT,
                          started_at=now - seconds - FIRST_VIDEO_MS / 1000)
    children_cpu0 = reaped_children_cpu(server.pid)
    server_cpu0 = benchkit.cpu_seconds(server.pid)
    busy0 = benchkit.machine_busy()
    started = time.monotonic()
    # The end of the session, as the recording manager ends one: a packaging job is queued.
    if "package" in inspect.signature(sessions.finish).parameters:
        await sessions.finish(sid, room["room_id"], package=True)
    else:  # servers before "every live session is a session"
        await sessions.finish(sid, room["room_id"])
    progress_seen = 0
    while True:
        detail = await api.ok("GET", f"/api/sessions/{sid}", token)
        if detail["status"] == "ready":
            break
        if detail["status"] == "failed":
            raise RuntimeError(f"{codec}: packaging failed: {detail.get('error')}")
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{codec}: not ready after {timeout:.0f} s: {detail}")
        if detail.get("progress") and detail["progress"] >= progress_seen + 0.25:
            progress_seen = detail["progress"]
            log.info("%s: packaging %.0f%%", codec, 100 * progress_seen)
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - started
    busy1 = benchkit.machine_busy()
    vod = server.data_dir / "vod" / sid
    playlist = (vod / "index.m3u8").read_text()
    extinf = [float(line[8:].split(",")[0]) for line in playlist.splitlines()
              if line.startswith("#EXTINF:")]
    segments = sorted(vod.glob("seg_*.ts"))
    # The session is ready, so a class made of it is ready to sell and play.
    cls = await api.ok("POST", f"/api/sessions/{sid}/class", token,
                       {"title": f"Ten-minute class ({codec})", "price": 990})
    cls_view = await api.ok("GET", f"/api/classes/{cls['class_id']}")
    play = await api.ok("GET", f"/api/classes/{cls['class_id']}/play")
    return {
        "session_end_to_ready_s": round(elapsed, 2),
        "packaged_duration_s": detail.get("duration"),
        "segments": len(segments),
        "playlist_seconds": round(sum(extinf), 2),
        "longest_segment_s": round(max(extinf), 3) if extinf else None,
        "vod_mb": round(sum(s.stat().st_size for s in segments) / 1e6, 1),
        "transcoded": codec != "h264",
        "packager_cpu_s": round(reaped_children_cpu(server.pid) - children_cpu0, 1),
        "server_cpu_s_meanwhile": round(benchkit.cpu_seconds(server.pid) - server_cpu0, 2),
        "machine_busy_pct_of_all_cores": round(
            100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 1),
        "speed_x_realtime": round(seconds / elapsed, 1),
        "class_status": cls_view["status"],
        "class_duration_s": cls_view["duration"],
        "class_playlist_signed": "sig=" in play["playlist"],
    }


async def packaging_part(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    import aiohttp
    import redis.asyncio as aioredis

    from server.platform.redis_server import socket_url
    from server.vod.sessions import SessionStore

    seconds = args.minutes * 60
    out: dict[str, Any] = {
        "recording_source": "synthetic, same container layout as media/recorder.py",
        "recording_written_by": "media.recorder.Recorder's writer thread, fed through its queue",
        "minutes": args.minutes,
        "synthetic_video": f"{WIDTH}x{HEIGHT} {FPS} fps, ~{SYNTH_BITRATE // 1000} kbit/s, "
                           f"keyframe every {SYNTH_GOP / FPS:g} s; VP8 libvpx realtime, H264 "
                           "libx264 baseline Annex-B no B-frames",
        "synthetic_audio": "Opus 48 kHz stereo 20 ms, 48 kbit/s",
    }
    files: dict[str, Path] = {}
    frames: list[tuple[bytes, bytes, bytes]] | None = None
    audio: list[bytes] | None = None
    for codec in args.codecs:
        path = cache / f"synthetic-{codec}-{args.minutes:g}min.mkv"
        files[codec] = path
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists():
            out[codec] = {"recording": {**json.loads(meta_path.read_text()), "cached": True}}
            log.info("%s: using cached %s", codec, path)
            continue
        if frames is None:
            frames = synthetic_frames()
        if audio is None:
            audio = opus_packets(seconds + 1)
        log.info("%s: generating a %.4g-minute recording", codec, args.minutes)
        loop = asyncio.get_running_loop()
        meta = await loop.run_in_executor(None, make_recording, path, codec, args.minutes,
                                          audio, frames)
        meta_path.write_text(json.dumps(meta))
        out[codec] = {"recording": meta}
        log.info("%s: generated in %.0f s (%s MB)", codec, meta["generate_s"], meta["file_mb"])

    server = benchkit.Server()
    client: Any = None
    try:
        await server.start()
        host_id, token = host_create(server, "Recording bench farm")
        client = aioredis.Redis.from_url(socket_url(server.data_dir), decode_responses=True)
        sessions = SessionStore(client)
        async with aiohttp.ClientSession() as http:
            api = benchkit.Api(server.base, http)
            for codec in args.codecs:
                log.info("%s: packaging through the server's job queue", codec)
                out[codec].update(await package_one(
                    server, api, sessions, host_id, token, codec, files[codec], seconds,
                    timeout=max(120.0, seconds * 1.5)))
                log.info("%s: ready %.1f s after the session ended", codec,
                         out[codec]["session_end_to_ready_s"])
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
        server.stop()
    return out


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    import aiortc
    import av

    started = time.monotonic()
    result: dict[str, Any] = {
        "benchmark": "recording",
        "config": {
            "codecs": args.codecs, "viewers": args.viewers, "window_s": args.window,
            "warmup_s": args.warmup, "publisher": f"{WIDTH}x{HEIGHT} {FPS} fps, "
            f"{args.bitrate} bit/s pinned (aiortc encoder), Opus 20 ms",
            "viewer_nice": args.viewer_nice, "minutes": args.minutes, "cpus": os.cpu_count(),
            "aiortc": aiortc.__version__, "av": av.__version__,
            "python": sys.version.split()[0], "server_dir": str(benchkit.REPO),
            "server_dir_git": source_state(benchkit.REPO),
            "this_checkout_git": source_state(REPO),
        },
    }
    if not args.skip_live:
        result["live_recording_cpu"] = await live_part(args)
    if not args.skip_packaging:
        if args.cache_dir:
            cache = Path(args.cache_dir)
            cache.mkdir(parents=True, exist_ok=True)
            result["packaging"] = await packaging_part(args, cache)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="stallcast-bench-recording-"))
            try:
                result["packaging"] = await packaging_part(args, tmp)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    result["benchmark_s"] = round(time.monotonic() - started, 1)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10,
                   help="length of the synthetic session to package (default 10)")
    p.add_argument("--window", type=float, default=20, help="CPU window, seconds")
    p.add_argument("--warmup", type=float, default=5,
                   help="seconds between the viewers playing and the window")
    p.add_argument("--viewers", type=int, default=5, help="non-decoding WHEP viewers")
    p.add_argument("--viewer-nice", type=int, default=5,
                   help="nice value of the viewer process (the load generator yields the CPU)")
    p.add_argument("--bitrate", type=int, default=1_200_000,
                   help="publisher video bitrate, pinned (bit/s)")
    p.add_argument("--codecs", default="vp8,h264", help="comma-separated: vp8, h264")
    p.add_argument("--cache-dir", help="keep the synthetic recordings here and reuse them")
    p.add_argument("--server-dir", default=str(REPO),
                   help="source tree whose server.cli and media.packager to run (default: this "
                        "checkout; e.g. a `git archive HEAD` copy while the tree is in flux)")
    p.add_argument("--skip-live", action="store_true", help="skip part 1 (live CPU)")
    p.add_argument("--skip-packaging", action="store_true", help="skip part 2 (packaging)")
    p.add_argument("--allow-network", action="store_true",
                   help="run even where a default route is visible (not in a private netns)")
    p.add_argument("--verbose", action="store_true", help="INFO logs from child processes")
    # Internal: the roles of the child processes.
    p.add_argument("--role", default="orchestrate",
                   choices=["orchestrate", "publisher", "viewers"], help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--token", help=argparse.SUPPRESS)
    p.add_argument("--codec", default="vp8", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--ready-timeout", type=float, default=60, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "orchestrate":
        args.codecs = [c.strip().lower() for c in args.codecs.split(",") if c.strip()]
        if not args.codecs or set(args.codecs) - set(CODECS):
            p.error(f"--codecs must name some of {', '.join(CODECS)}")
        if not 0 < args.minutes <= 60:
            p.error("--minutes must be in (0, 60]")
        if not 1 <= args.window <= 300 or not 0 <= args.warmup <= 60:
            p.error("--window must be 1..300 s and --warmup 0..60 s")
        if not 0 <= args.viewers <= 200:
            p.error("--viewers must be 0..200")
        if not 0 <= args.viewer_nice <= 19:
            p.error("--viewer-nice must be 0..19")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "publisher":
        benchkit.worker_main("publisher", args.verbose, lambda: publisher_main(args))
        return 0
    if args.role == "viewers":
        benchkit.worker_main("viewers", args.verbose, lambda: viewers_main(args))
        return 0
    benchkit.setup_logging("recording", verbose=True)
    root = Path(args.server_dir).resolve()
    if not (root / "server" / "cli.py").is_file():
        log.error("%s holds no server/cli.py", root)
        return 2
    # benchkit.Server runs `python -m server.cli serve` from benchkit.REPO; this process
    # imports media.recorder and server.sessions: all from the tree under test.
    benchkit.REPO = root
    sys.path.insert(0, str(root))
    if not args.skip_live:
        benchkit.require_private_network(args.allow_network)
    loop = asyncio.new_event_loop()
    task = loop.create_task(orchestrate(args))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        result = loop.run_until_complete(task)
    except asyncio.CancelledError:
        log.error("interrupted; child processes stopped")
        return 130
    finally:
        loop.close()
    benchkit.write_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

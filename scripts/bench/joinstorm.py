"""Join-storm benchmark: does a crowd arriving at once cost the host and the audience already
watching anything, or only the newcomers some join time?

Run from the repository root, inside a private network namespace::

    scripts/netns-run .venv/bin/python scripts/bench/joinstorm.py [--watching 20]
        [--storm 150] [--spread 10] [--hold 30] [--workers 3] [--server-dir DIR]

What it does:

* starts ``stallcast serve`` on a fresh data folder (``--server-dir``: from another source
  tree, e.g. a ``git worktree`` of an older commit for a before/after comparison), with
  ``metrics.require_auth = 0`` so the benchmark can read the server's own event-loop lag;
* one publisher process (fanout.py's: 640x480 30 fps VP8 pinned at 1.2 Mbit/s, and Opus)
  over WHIP; then ``--watching`` W viewers join one after another and play;
* the storm: ``--storm`` J more viewers post WHEP offers at evenly spaced moments within
  ``--spread`` S seconds, spread over ``--workers`` processes; a 503 is retried after its
  Retry-After, as a player would. Then it waits until every storm viewer plays (or
  S + ``--join-timeout``) and keeps watching for ``--hold`` seconds more, long enough for
  30 s of failed consent checks to end a session;
* meanwhile it times ``GET /healthz`` every 100 ms from outside (the server's loop answers
  it; it also pings Redis) and reads the server's ``stallcast_event_loop_lag_seconds`` and
  ``stallcast_gc_pause_seconds`` histograms before and after.

Viewers are cheapviewer.py's: aiortc's ICE/DTLS, SRTP counted by header, never decrypted.
It prints ONE JSON document: ``publisher_kept`` (the publisher's connection still up, the
room still live and every watching viewer still receiving at the end), the watching viewers'
worst video frame-arrival gap during storm and hold, storm join times (WHEP POST to the
first complete video frame, p50/p95/max), event-loop lag (probe and server histogram),
CPU of every process as % of one core, and ``goals``: publisher kept, worst gap < 500 ms,
storm join p95 < 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import benchkit
import cheapviewer
from benchkit import Api, Child, CpuWindow, Server
from cheapviewer import CheapViewer

log = logging.getLogger("bench.joinstorm")
SCRIPT = str(Path(__file__).resolve())
FANOUT = str(Path(__file__).resolve().parent / "fanout.py")


# --------------------------------------------------------------------------------------------
# Worker: a share of the viewers (watching ones, or a slice of the storm)


def viewer_report(v: CheapViewer) -> dict[str, Any]:
    video, audio = v.counters.get("video"), v.counters.get("audio")
    return {
        "join_ms": v.first_frame_ms,
        "answer_ms": (v.answered_at - v.posted_at) * 1000 if v.answered_at else None,
        "connect_ms": (v.connected_at - v.posted_at) * 1000 if v.connected_at else None,
        "retries": v.retries, "error": v.error, "state": v.pc.connectionState if v.pc else "",
        "video": video.result() if video else None, "audio": audio.result() if audio else None,
        "since_last_frame_ms": (time.monotonic() - video.last_frame_at) * 1000
        if video and video.frames else None,
    }


async def worker(args: argparse.Namespace) -> None:
    import aiohttp

    viewers = [CheapViewer(args.first + i) for i in range(args.count)]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def one(v: CheapViewer, at: float | None) -> None:
            if at is not None:
                await asyncio.sleep(max(0.0, at - time.time()))
            try:
                await cheapviewer.join(v, http, args.url, attempts=args.attempts,
                                       timeout=args.join_timeout)
            except Exception as exc:
                v.error = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("viewer %d: %s", v.index, v.error)

        async def playing(timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not all(x.playing or x.error for x in viewers):
                await asyncio.sleep(0.1)

        tasks: list[asyncio.Task[None]] = []
        if args.mode == "watch":
            for v in viewers:  # one after another: the steady audience before the storm
                await one(v, None)
            await playing(30)
            benchkit.emit({"event": "ready", "playing": sum(v.playing for v in viewers)})
        else:
            cheapviewer.install()
            benchkit.emit({"event": "ready", "playing": 0})
        try:
            while True:
                command = (await benchkit.read_command()).split()
                if not command or command[0] == "stop":
                    break
                if command[0] == "go":  # the storm: post at evenly spaced moments
                    t0, spread, total = float(command[1]), float(command[2]), int(command[3])
                    tasks = [asyncio.create_task(one(v, t0 + spread * v.index / total))
                             for v in viewers]
                elif command[0] == "open":
                    for v in viewers:
                        for s in v.counters.values():
                            s.open_window()
                elif command[0] == "status":
                    benchkit.emit({"event": "status", "done": sum(
                        bool(v.playing or v.error) for v in viewers)})
                elif command[0] == "close":
                    for v in viewers:
                        for s in v.counters.values():
                            s.close_window()
                    benchkit.emit({"event": "result",
                                   "viewers": [viewer_report(v) for v in viewers]})
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                await cheapviewer.close_all(viewers)


# --------------------------------------------------------------------------------------------
# Orchestrator


class Probe:
    """Times GET /healthz every 100 ms: how late the server's loop answers."""

    def __init__(self, http: Any, base: str) -> None:
        self.http, self.base = http, base
        self.samples: list[float] = []
        self.failures = 0
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        import aiohttp

        while True:
            started = time.monotonic()
            try:
                async with self.http.get(self.base + "/healthz",
                                         timeout=aiohttp.ClientTimeout(total=3)) as resp:
                    await resp.read()
                self.samples.append(time.monotonic() - started)
            except (aiohttp.ClientError, TimeoutError):
                self.failures += 1
                self.samples.append(time.monotonic() - started)
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - started)))

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, Any]:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        return {**benchkit.percentiles(self.samples), "timeouts_3s": self.failures}


async def histograms(http: Any, base: str) -> dict[str, dict[str, float]]:
    """Bucket counts (cumulative, by upper bound) of the loop-lag and GC-pause histograms."""
    async with http.get(base + "/metrics") as resp:
        text = await resp.text()
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        for name in ("stallcast_event_loop_lag_seconds", "stallcast_gc_pause_seconds"):
            if line.startswith(name + "_bucket") or line.startswith(name + "_sum") \
                    or line.startswith(name + "_count"):
                key, _, value = line.rpartition(" ")
                if 'generation="' in key and 'generation="2"' not in key:
                    continue  # young collections are short; the full ones are what stall
                out.setdefault(name, {})[key.split("{")[0].rsplit("_", 1)[1] + (
                    key.split('le="')[1].split('"')[0] if 'le="' in key else "")] = float(value)
    return out


def histogram_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Observations between two scrapes: count, mean, and the bucket bound under which 99 %
    (and all) of them fell."""
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    count = delta.get("count", 0.0)
    bounds = sorted((float(k[6:]), v) for k, v in delta.items()
                    if k.startswith("bucket") and k[6:] != "+Inf")

    def bound(q: float) -> float | str | None:
        if not count:
            return None
        for le, n in bounds:
            if n >= q * count:
                return le * 1000
        return "> %g" % (bounds[-1][0] * 1000) if bounds else None

    return {"observations": int(count),
            "mean_ms": round(delta.get("sum", 0.0) / count * 1000, 1) if count else None,
            "p99_at_most_ms": bound(0.99), "max_at_most_ms": bound(1.0)}


def worst(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(max(present), 1) if present else None


def loss_pct(reports: list[dict[str, Any]], kind: str) -> float | None:
    exp = sum(r[kind]["expected"] for r in reports if r[kind])
    rec = sum(r[kind]["received"] for r in reports if r[kind])
    return round(100 * (exp - rec) / exp, 3) if exp else None


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    benchkit.raise_nofile()
    env = {"STALLCAST_METRICS_REQUIRE_AUTH": "0"}
    if "half_open_per_client" in (Path(args.server_dir) / "configs/default.toml").read_text():
        # Every benchmark viewer comes from one address; the per-address cap is not the
        # subject here, the node's own admission is.
        env["STALLCAST_LIMITS_HALF_OPEN_PER_CLIENT"] = str(args.storm + args.watching)
    if not args.record:
        env["STALLCAST_RECORDING_ENABLED"] = "0"
    server = Server(env=env, log_level="INFO", root=Path(args.server_dir))
    children: list[Child] = []
    out: dict[str, Any] = {"benchmark": "joinstorm", "config": {
        "watching": args.watching, "storm": args.storm, "spread_s": args.spread,
        "hold_s": args.hold, "workers": args.workers, "record": args.record,
        "server_dir": str(Path(args.server_dir).resolve()), "cpus": os.cpu_count(),
        "loadavg_at_start": loadavg(), "viewers": "cheapviewer (SRTP counted, not decrypted)",
        "video": "VP8 640x480 30 fps 1.2 Mbit/s pinned, Opus 20 ms"}}
    try:
        await server.start()
        token = server.host_create("Storm farm")
        async with aiohttp.ClientSession() as http:
            api = Api(server.base, http)
            room = await api.ok("POST", "/api/rooms", token, {"title": "Join storm"})
            room_id, whep = room["room_id"], f"{server.base}/whep/{room['room_id']}"
            publisher = await Child.spawn("publisher", [
                FANOUT, "--role", "publisher", "--url", f"{server.base}/whip/{room_id}",
                "--token", room["stream_key"], *(["--verbose"] if args.verbose else [])])
            children.append(publisher)
            await publisher.expect("connected", 30)
            await asyncio.sleep(2)
            common = ["--url", whep, "--attempts", str(args.attempts),
                      "--join-timeout", str(args.join_timeout)]
            watchers = await Child.spawn("watchers", [
                SCRIPT, "--role", "worker", "--mode", "watch", "--first", "0",
                "--count", str(args.watching), *common])
            children.append(watchers)
            ready = await watchers.expect("ready", 60 + args.watching)
            out["watching_playing_before_storm"] = ready["playing"]
            storm: list[Child] = []
            for w in range(args.workers):
                first = args.storm * w // args.workers
                count = args.storm * (w + 1) // args.workers - first
                storm.append(await Child.spawn(f"storm-{w}", [
                    SCRIPT, "--role", "worker", "--mode", "storm", "--first", str(first),
                    "--count", str(count), *common]))
            children.extend(storm)
            for c in storm:
                await c.expect("ready", 30)
            await asyncio.sleep(3)  # the publisher's first RTCP/REMB settles; a quiet base

            pids = {"server": server.pid, "publisher": publisher.proc.pid,
                    "watchers": watchers.proc.pid,
                    **{c.name: c.proc.pid for c in storm}}
            if server.redis_pid:
                pids["redis"] = server.redis_pid
            hist0 = await histograms(http, server.base)
            probe = Probe(http, server.base)
            probe.start()
            cpu = CpuWindow(pids)
            profile = (benchkit.Profile(server.pid, Path(args.profile), None,
                                        args.profile_native) if args.profile else None)
            await watchers.send("open")
            cpu.start()
            t0 = time.time() + 0.5
            for c in storm:
                await c.send(f"go {t0} {args.spread} {args.storm}")
            deadline = t0 + args.spread + args.join_timeout
            while time.time() < deadline:
                await asyncio.sleep(1)
                done = 0
                for c in storm:
                    await c.send("status")
                    done += (await c.expect("status", 30))["done"]
                if done == args.storm and time.time() > t0 + args.spread:
                    break
            storm_s = time.time() - t0
            storm_cpu = cpu.stop()
            if profile is not None:
                out["server_profile_storm"] = profile.summary(top=25)
            await asyncio.sleep(args.hold)
            lag = await probe.stop()
            hist1 = await histograms(http, server.base)
            for c in (watchers, *storm):
                await c.send("close")
            watching = (await watchers.expect("result", 60))["viewers"]
            stormers = [v for c in storm for v in (await c.expect("result", 60))["viewers"]]
            await publisher.send("stats")
            pub = await publisher.expect("stats", 10)
            live = (await api.ok("GET", f"/api/rooms/{room_id}/public"))["live"]
        log_text = server.log_path.read_text(errors="replace")
        if args.server_log:
            Path(args.server_log).write_text(log_text)
        out.update(summarise(args, watching, stormers, pub, live, storm_s, storm_cpu, lag,
                             hist0, hist1, log_text))
        out["config"]["loadavg_at_end"] = loadavg()
    finally:
        await benchkit.stop_all(children)
        server.stop()
    return out


def summarise(args: argparse.Namespace, watching: list[dict[str, Any]],
              stormers: list[dict[str, Any]], pub: dict[str, Any], live: bool,
              storm_s: float, storm_cpu: dict[str, Any], lag: dict[str, Any],
              hist0: dict[str, dict[str, float]], hist1: dict[str, dict[str, float]],
              log_text: str) -> dict[str, Any]:
    # A watching viewer still plays if a frame reached it in the last second of the hold.
    still = [w for w in watching if w["since_last_frame_ms"] is not None
             and w["since_last_frame_ms"] < 1000 and w["state"] == "connected"]
    gaps = [w["video"]["max_frame_gap_ms"] if w["video"] else None for w in watching]
    kept = pub.get("state") == "connected" and live and len(still) == len(watching)
    joins = [s["join_ms"] / 1000 for s in stormers if s["join_ms"] is not None]
    storm_worst = worst([s["video"]["max_frame_gap_ms"] if s["video"] else None
                         for s in stormers])
    p95 = benchkit.percentiles(joins)["p95"] if len(joins) == len(stormers) else None
    result = {
        "publisher_kept": kept,
        "publisher": {"connection_state_at_end": pub.get("state"), "room_live_at_end": live,
                      "keyframes_forced": pub.get("keyframes_forced"),
                      "server_log_publisher_left": log_text.count("publisher left"),
                      "server_log_consent_expired": log_text.count("Consent to send expired")},
        "watching": {
            "viewers": len(watching), "still_playing_at_end": len(still),
            "worst_video_frame_gap_ms": worst(gaps),
            "video_frame_gap_ms_per_viewer": benchkit.percentiles(
                [g / 1000 for g in gaps if g is not None]),
            "worst_audio_frame_gap_ms": worst([w["audio"]["max_frame_gap_ms"] if w["audio"]
                                               else None for w in watching]),
            "loss_pct": {"video": loss_pct(watching, "video"),
                         "audio": loss_pct(watching, "audio")}},
        "storm": {
            "viewers": len(stormers), "playing": len(joins),
            "failed": sum(1 for s in stormers if s["error"]),
            "errors": sorted({s["error"] for s in stormers if s["error"]})[:5],
            "answered_503_then_retried": sum(s["retries"] for s in stormers),
            "join_ms": benchkit.percentiles(joins),
            "whep_answer_ms": benchkit.percentiles(
                [s["answer_ms"] / 1000 for s in stormers if s["answer_ms"] is not None]),
            "connect_ms": benchkit.percentiles(
                [s["connect_ms"] / 1000 for s in stormers if s["connect_ms"] is not None]),
            "seconds_until_all_played": round(storm_s, 1),
            "worst_video_frame_gap_after_joining_ms": storm_worst},
        "event_loop_lag": {
            "healthz_probe_ms": lag,
            "server_loop_lag_histogram": histogram_delta(
                hist0.get("stallcast_event_loop_lag_seconds", {}),
                hist1.get("stallcast_event_loop_lag_seconds", {})),
            "server_full_gc_pauses": histogram_delta(
                hist0.get("stallcast_gc_pause_seconds", {}),
                hist1.get("stallcast_gc_pause_seconds", {}))},
        "cpu_during_storm": storm_cpu,
    }
    worst_gap = result["watching"]["worst_video_frame_gap_ms"]  # type: ignore[index]
    result["goals"] = {"publisher_kept": kept,
                       "watching_worst_gap_lt_500ms": worst_gap is not None and worst_gap < 500,
                       "storm_join_p95_lt_3s": p95 is not None and p95 < 3000}
    return result


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--watching", type=int, default=20, help="viewers playing before (W)")
    p.add_argument("--storm", type=int, default=150, help="viewers of the storm (J)")
    p.add_argument("--spread", type=float, default=10.0, help="seconds the storm posts in (S)")
    p.add_argument("--hold", type=float, default=30.0,
                   help="seconds to keep watching after every storm viewer plays")
    p.add_argument("--join-timeout", type=float, default=30.0,
                   help="seconds a storm viewer may take to play (retries included)")
    p.add_argument("--attempts", type=int, default=6,
                   help="WHEP posts per viewer (a 503 is retried after its Retry-After)")
    p.add_argument("--workers", type=int, default=3, help="storm viewer processes")
    p.add_argument("--record", action="store_true", help="keep session recording on")
    p.add_argument("--server-dir", default=str(benchkit.REPO),
                   help="source tree whose server to run (default: this checkout)")
    p.add_argument("--profile", metavar="PATH", default="",
                   help="py-spy record the server during the storm into PATH (raw collapsed "
                        "stacks) and add its busiest frames to the output")
    p.add_argument("--profile-native", action="store_true",
                   help="with --profile: include C frames (OpenSSL, the collector, uvloop)")
    p.add_argument("--server-log", metavar="PATH", default="",
                   help="keep the server's log (INFO) in PATH")
    p.add_argument("--allow-network", action="store_true",
                   help="run even though this network namespace has a route out")
    p.add_argument("--verbose", action="store_true", help="info logs on stderr")
    p.add_argument("--role", choices=["orchestrator", "worker"], default="orchestrator",
                   help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=["watch", "storm"], default="watch", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role == "orchestrator":
        if not (0 < args.watching <= 200 and 0 < args.storm <= 1000
                and 0 < args.spread <= 120 and 0 <= args.hold <= 300
                and 1 <= args.workers <= 16 and 1 <= args.attempts <= 20
                and 1 <= args.join_timeout <= 120):
            p.error("watching 1..200, storm 1..1000, spread 0..120 s, hold 0..300 s, "
                    "workers 1..16, attempts 1..20, join timeout 1..120 s")
    return args


def main() -> None:
    args = parse_args()
    if args.role == "worker":
        benchkit.worker_main(f"{args.mode}-{args.first}", args.verbose, lambda: worker(args))
        return
    benchkit.require_private_network(args.allow_network)
    benchkit.setup_logging("joinstorm", True)
    with contextlib.suppress(KeyboardInterrupt):
        result = benchkit.run_async(orchestrate(args))
        benchkit.write_result(result)
        sys.exit(0 if all(result["goals"].values()) else 1)


if __name__ == "__main__":
    main()

"""Event fan-out benchmark: how long a host's pinned card takes to reach N viewers.

Run from the repository root, inside a private network namespace (WebRTC peers on one machine
talk over its interface address, so the traffic must stay in a namespace of its own)::

    scripts/netns-run python3 scripts/bench/events.py --viewers 100 [--pins 20]
        [--interval 0.5] [--workers 4] [--join-concurrency 4] [--data-only]
        [--aiortc-sctp] [--profile PATH [--profile-native]] [--allow-network] [--verbose]

What it does:

* starts ``python3 -m server.cli serve`` on a fresh data folder (the server starts its own
  private redis-server there) with the hard open-file limit as its soft limit, a host from
  ``server.cli host create``, a room and one product per pin (``Bench card <i>``);
* starts ``--workers`` worker processes that share the N aiortc WHEP viewers between them.
  Each viewer offers recvonly audio and video (as the watch page does; ``--data-only`` leaves
  them out) and an ``events`` data channel, and counts as joined once the server's
  ``welcome`` arrives on it. The room has no publisher, so no media flows; aiortc's decoder
  threads are replaced by a no-op. ``--viewer cheap`` (the default) also puts
  cheapviewer.py's hook in front of aioice, so any RTP would be counted by its header and
  never decrypted; the data channel needs SCTP over DTLS, which stays aiortc's, but its
  DTLS records reach SCTP without aioice's queue and task, as on the server
  (``--aiortc-sctp`` keeps aiortc's way: the viewers then cost more of the 2 cores). With
  no media in the room both kinds cost the same: this is the cheapest viewer that still has
  a working data channel. Joins are staggered (``--join-concurrency`` per worker);
* measures the server's CPU with every viewer connected and nothing happening (``idle``);
* pins the K products one after another, one ``PUT /api/rooms/{room_id}/pin`` every
  ``--interval`` seconds, noting ``time.time()`` just before each call. Every worker notes
  ``time.time()`` when a ``card_pinned`` event arrives on a viewer's channel (before
  decoding it). All processes share one clock, so latency = receipt - call start.

It prints ONE JSON document on stdout (logs go to stderr) with: viewers asked for and joined,
pins, deliveries expected (joined viewers x pins) and received, latency p50/p95/p99/max in
ms (from the host's call; also from the server's publish time stamp, and the spread between
the first and the last viewer of each pin), the pin API call time, server CPU as % of one
core while idle and during the pin phase (utime + stime from /proc/<pid>/stat), the pin
phase's CPU per delivered event (all of it, and above idle), memory and open files of the
server, the load average at the end, and the CPU
of the Redis and viewer processes and of the whole machine (every process shares 2 cores).
With ``--profile PATH`` it also samples the server with py-spy during the pin phase (it
pauses the server 100 times a second, so latency figures of such a run are a little worse)
and lists the frames with the most samples. ``summary`` repeats the headline figures (µs
per delivery, p50/p99 pin-to-receipt), logged on one line too. ``ok`` (and exit status 0)
means every viewer joined and every event reached every viewer.

Every child process is stopped at the end, also on errors and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import benchkit
from benchkit import Api, Child, CpuWindow, Peer, Server

log = logging.getLogger("bench.events")

SCRIPT = str(Path(__file__).resolve())


# --------------------------------------------------------------------------------------------
# Worker: a share of the viewers


async def viewers_worker(args: argparse.Namespace) -> None:
    import aiohttp

    benchkit.no_decoders()
    if args.viewer == "cheap":
        import cheapviewer

        cheapviewer.install()
    receipts: list[list[Any]] = []  # [viewer index, product id, receipt time, server ts]

    def on_message(peer: Peer, event: dict[str, Any], received: float) -> None:
        if event.get("type") == "card_pinned":
            card = event.get("card") or {}
            receipts.append([peer.index, card.get("product_id"), received, event.get("ts")])

    indices = list(range(args.first, args.first + args.count))
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        peers, failures = await benchkit.join_many(
            http, args.base, args.room, indices, on_message, media=not args.data_only,
            concurrency=args.join_concurrency)
    if args.viewer == "cheap" and not args.aiortc_sctp:
        fast = sum(cheapviewer.fast_data_channel(p.pc) for p in peers)
        log.info("%d of %d viewers take their events past aioice's queue", fast, len(peers))
    benchkit.emit({"event": "joined", "joined": len(peers), "failures": failures,
                   "join_seconds": [p.join_seconds for p in peers],
                   "rss_mb": benchkit.rss_mb(os.getpid()),
                   "open_fds": benchkit.open_fds(os.getpid())})
    try:
        while True:
            command = await benchkit.read_command()
            if command == "report":
                benchkit.emit({"event": "report", "receipts": receipts,
                               "open": sum(1 for p in peers if p.open),
                               "rss_mb": benchkit.rss_mb(os.getpid())})
            elif command in ("stop", ""):
                break
    finally:
        await benchkit.close_peers(peers)
    benchkit.emit({"event": "stopped"})


# --------------------------------------------------------------------------------------------
# Orchestrator


def shares(total: int, parts: int) -> list[tuple[int, int]]:
    """(first index, count) for each of ``parts`` workers."""
    parts = max(1, min(parts, total)) if total else 1
    out, first = [], 0
    for w in range(parts):
        count = total // parts + (1 if w < total % parts else 0)
        out.append((first, count))
        first += count
    return out


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    benchkit.raise_nofile()
    server = Server()
    children: list[Child] = []
    result: dict[str, Any] = {"benchmark": "events", "viewers": args.viewers, "pins": args.pins,
                              "interval_s": args.interval, "workers": args.workers,
                              "viewer_media": "data channel only" if args.data_only
                              else "recvonly audio+video + data channel",
                              "viewer": args.viewer, "viewer_sctp_receive":
                              "aiortc" if args.aiortc_sctp or args.viewer != "cheap"
                              else "direct (cheapviewer.fast_data_channel)"}
    try:
        await server.start()
        token = server.host_create("Bench farm")
        async with aiohttp.ClientSession() as http:
            api = Api(server.base, http)
            room = await api.room(token, "Events benchmark")
            products = [await api.product(token, title=f"Bench card {i}", stock=10)
                        for i in range(args.pins)]
            pids = {"server": server.pid}
            if server.redis_pid:
                pids["redis"] = server.redis_pid

            # -- viewers join ------------------------------------------------------------
            join_started = time.time()
            join_cpu = CpuWindow(pids)
            join_cpu.start()
            for w, (first, count) in enumerate(shares(args.viewers, args.workers)):
                argv = [SCRIPT, "--role", "viewers", "--base", server.base, "--room", room,
                        "--first", str(first), "--count", str(count),
                        "--join-concurrency", str(args.join_concurrency)]
                if args.data_only:
                    argv.append("--data-only")
                argv += ["--viewer", args.viewer]
                if args.aiortc_sctp:
                    argv.append("--aiortc-sctp")
                if args.verbose:
                    argv.append("--verbose")
                children.append(await Child.spawn(f"viewers-{w}", argv))
            join_timeout = args.join_timeout or max(90.0, args.viewers * 0.6)
            joined = await asyncio.gather(*(c.expect("joined", join_timeout) for c in children))
            for c in children:
                pids[c.name] = c.proc.pid
            join_seconds = [s for j in joined for s in j["join_seconds"] if s is not None]
            n_joined = sum(j["joined"] for j in joined)
            failures = [f for j in joined for f in j["failures"]]
            result["joined"] = n_joined
            result["join"] = {
                "phase_seconds": round(time.time() - join_started, 1),
                "whep_post_to_welcome_ms": benchkit.percentiles(join_seconds),
                "failed": len(failures), "failure_samples": failures[:5],
                "server_cpu": join_cpu.stop()["cpu_pct_of_one_core"].get("server"),
            }
            log.info("%d of %d viewers joined in %.1f s", n_joined, args.viewers,
                     time.time() - join_started)

            # -- idle: everyone connected, nothing happening ----------------------------
            await asyncio.sleep(1.0)
            idle = CpuWindow(pids)
            idle.start()
            await asyncio.sleep(args.idle)
            idle_result = idle.stop()

            # -- pins ----------------------------------------------------------------------
            window = CpuWindow(pids)
            calls: dict[str, tuple[float, float]] = {}
            profile = (benchkit.Profile(server.pid, Path(args.profile), args.pins * args.interval,
                                        args.profile_native) if args.profile else None)
            window.start()
            first_at = time.time()
            for i, product in enumerate(products):
                await asyncio.sleep(max(0.0, first_at + i * args.interval - time.time()))
                started = time.time()
                await api.ok("PUT", f"/api/rooms/{room}/pin", token,
                             {"product_id": product["product_id"]})
                calls[product["product_id"]] = (started, time.time())
            await asyncio.sleep(max(0.0, first_at + args.pins * args.interval - time.time()))
            pin_result = window.stop()
            await asyncio.sleep(args.settle)  # stragglers still count, outside the window
            if profile is not None:
                result["server_profile_pin_phase"] = profile.summary()

            # -- what arrived ----------------------------------------------------------------
            for c in children:
                await c.send("report")
            reports = await asyncio.gather(*(c.expect("report", 120) for c in children))
            result.update(analyse(args, calls, reports, n_joined, idle_result, pin_result))
            result["memory"] = {
                "server_rss_mb": benchkit.rss_mb(server.pid),
                "server_open_fds": benchkit.open_fds(server.pid),
                "redis_rss_mb": benchkit.rss_mb(server.redis_pid) if server.redis_pid else None,
                "viewer_workers_rss_mb": round(sum(r["rss_mb"] or 0 for r in reports), 1),
            }
            result["still_open_viewers"] = sum(r["open"] for r in reports)
            result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        await benchkit.stop_all(children)
        server.stop()
    return result


def analyse(args: argparse.Namespace, calls: dict[str, tuple[float, float]],
            reports: list[dict[str, Any]], joined: int, idle: dict[str, Any],
            pins: dict[str, Any]) -> dict[str, Any]:
    latencies: list[float] = []
    from_publish: list[float] = []
    per_pin: dict[str, list[float]] = defaultdict(list)
    seen: set[tuple[int, str]] = set()
    duplicates = unknown = 0
    for report in reports:
        for viewer, pid, received, ts in report["receipts"]:
            if pid not in calls:
                unknown += 1
                continue
            if (viewer, pid) in seen:
                duplicates += 1
                continue
            seen.add((viewer, pid))
            latencies.append(received - calls[pid][0])
            per_pin[pid].append(received)
            if isinstance(ts, (int, float)):
                from_publish.append(received - ts)
    spreads = [max(v) - min(v) for v in per_pin.values() if v]
    expected = joined * len(calls)
    idle_cpu = idle["cpu_pct_of_one_core"].get("server", 0.0)
    pin_cpu = pins["cpu_pct_of_one_core"].get("server", 0.0)
    extra_cpu_s = max(0.0, (pin_cpu - idle_cpu) / 100 * pins["seconds"])
    return {
        "deliveries": {"expected": expected, "received": len(seen),
                       "missing": expected - len(seen), "duplicates": duplicates,
                       "unknown_pins": unknown},
        "latency_ms": benchkit.percentiles(latencies),
        "latency_from_server_publish_ms": benchkit.percentiles(from_publish),
        "first_to_last_viewer_spread_ms": benchkit.percentiles(spreads),
        "pin_api_call_ms": benchkit.percentiles([end - start for start, end in calls.values()]),
        "server_cpu_pct_of_one_core": {"idle": idle_cpu, "pin_phase": pin_cpu},
        "server_cpu_us_per_delivery_above_idle": (
            round(extra_cpu_s / len(seen) * 1e6, 1) if seen else None),
        # Everything the server spent during the pin phase, background included (an upper
        # bound of what one delivery costs).
        "server_cpu_us_per_delivery": (
            round(pins["cpu_seconds"].get("server", 0.0) / len(seen) * 1e6, 1)
            if seen else None),
        "cpu_idle_window": idle,
        "cpu_pin_window": pins,
    }


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, in one place."""
    latency = result.get("latency_ms") or {}
    return {"viewers": result.get("joined"), "deliveries":
            (result.get("deliveries") or {}).get("received"),
            "us_per_delivery": result.get("server_cpu_us_per_delivery"),
            "us_per_delivery_above_idle": result.get("server_cpu_us_per_delivery_above_idle"),
            "p50_ms": latency.get("p50"), "p99_ms": latency.get("p99"),
            "machine_busy_pct": (result.get("cpu_pin_window") or {}).get("machine_busy_pct"),
            "load_average": result.get("load_average")}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--viewers", type=int, default=100, help="WebRTC viewers (N)")
    p.add_argument("--pins", type=int, default=20, help="cards the host pins (K)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between pins")
    p.add_argument("--workers", type=int, default=4, help="viewer worker processes")
    p.add_argument("--join-concurrency", type=int, default=4,
                   help="WHEP joins in flight per worker")
    p.add_argument("--data-only", action="store_true",
                   help="viewers offer only the data channel (no audio/video m-lines)")
    p.add_argument("--viewer", choices=["cheap", "aiortc"], default="cheap",
                   help="cheap: RTP counted by header (cheapviewer.py), SCTP kept; aiortc: "
                        "plain aiortc viewers that decode nothing")
    p.add_argument("--aiortc-sctp", action="store_true",
                   help="cheap viewers keep aiortc's own receive path for their data channel "
                        "(aioice's queue and a task per datagram), as before media/datachannel.py")
    p.add_argument("--idle", type=float, default=3.0, help="seconds of idle CPU measurement")
    p.add_argument("--settle", type=float, default=3.0,
                   help="seconds to wait for late events after the pin phase")
    p.add_argument("--join-timeout", type=float, default=0.0,
                   help="seconds for all viewers to join (default: max(90, 0.6 x N))")
    p.add_argument("--profile", metavar="PATH", default="",
                   help="py-spy record the server during the pin phase into PATH (raw "
                        "collapsed stacks) and add its busiest frames to the output")
    p.add_argument("--profile-native", action="store_true",
                   help="with --profile: include C frames (garbage collector, OpenSSL, uvloop)")
    p.add_argument("--allow-network", action="store_true",
                   help="run even though this network namespace has a route out")
    p.add_argument("--verbose", action="store_true", help="info logs on stderr")
    # Internal: how the orchestrator starts its workers.
    p.add_argument("--role", choices=["orchestrator", "viewers"], default="orchestrator",
                   help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--room", help=argparse.SUPPRESS)
    p.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.role == "viewers":
        benchkit.worker_main("viewers", args.verbose, lambda: viewers_worker(args))
        return
    benchkit.require_private_network(args.allow_network)
    benchkit.setup_logging("events", True)
    with contextlib.suppress(KeyboardInterrupt):
        result = benchkit.run_async(orchestrate(args))
        result["ok"] = (result.get("joined") == args.viewers
                        and result.get("deliveries", {}).get("missing") == 0)
        result["summary"] = summary(result)
        log.info("%s", " ".join(f"{k}={v}" for k, v in result["summary"].items()))
        benchkit.write_result(result)
        sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()

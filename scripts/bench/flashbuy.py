"""Flash-sale benchmark: buys per second over HTTP and over the data channel, and no oversell.

Run from the repository root, inside a private network namespace (the data-channel buyers are
aiortc WebRTC peers, so the traffic must stay in a namespace of its own)::

    scripts/netns-run python3 scripts/bench/flashbuy.py [--quantity 2000] [--limit 2]
        [--http-buyers 2000] [--http-attempts 3] [--http-concurrency 64] [--replays 100]
        [--dc-viewers 16] [--dc-attempts 375] [--dc-inflight 4] [--data-only]
        [--appendfsync always] [--profile PATH [--profile-native]] [--allow-network]
        [--verbose]

What it does:

* starts ``python3 -m server.cli serve`` on a fresh data folder (the server starts its own
  private redis-server there, by default with ``appendfsync always`` as shipped), a host, a
  room and a product with exactly ``--quantity`` in stock;
* an HTTP buyer process makes ``--http-buyers`` viewer identities (``POST /api/viewers``);
  a data-channel buyer process makes ``--dc-viewers`` identities and joins the room with each
  over WHEP (``Authorization: Bearer <viewer token>`` on the WHEP POST) with an ``events``
  data channel;
* three phases run one after another, each alone on the machine and each on a fresh flash
  sale of ``--quantity`` (the product holds five times that):
  - HTTP (per-buyer limit ``--limit``): every buyer tries ``--http-attempts`` times (in a
    shuffled order, so one buyer's attempts may race each other) with
    ``POST /api/rooms/{room_id}/buy``, ``--http-concurrency`` requests in flight over an
    aiohttp connection pool of that size. The first ``--replays`` buys that create an order
    are sent again with the same idempotency key, which must give back the same order;
  - data channel: every viewer sends ``--dc-attempts`` msgpack ``buy`` messages, at most
    ``--dc-inflight`` of them awaiting a reply at once (16 x 4 = 64 in flight by default),
    each answered by ``buy_result`` or ``error`` with the same ``ref``. Its sale's per-buyer
    limit lets these few viewers sell it out, so the mix of outcomes is the HTTP phase's;
  - Redis alone (scripts/bench/redisalone.py): the server's own buy script, built as the
    server's store builds it, sent straight to the same Redis with the HTTP phase's workload
    and requests in flight: the yardstick of ``summary.ratio``; then the same call again
    from redis-benchmark (``-c`` requests in flight, buyers, persons and keys random over
    ``--http-buyers``), the yardstick of ``summary.ratio_to_redis_benchmark``;
  So there are more attempts than stock: created, ``sold_out`` and ``limit`` paths all run;
* afterwards the host's ``GET /api/orders`` and the room's ``GET /api/rooms/{room_id}/state``
  tell how many orders the sale really has and what remains.

It prints ONE JSON document on stdout (logs go to stderr). ``summary`` holds the headline:
``ratio`` (HTTP attempts/s over Redis-alone attempts/s), ``ratio_while_selling`` (the same
up to each phase's last order, before refusals of a sold-out sale dominate), p50/p99,
data-channel attempts/s and ``data_channel_to_http``, oversell and CPU. Then, for each
path: attempts,
seconds, attempts per second and orders created per second, latency p50/p95/p99/max in ms
(all attempts, created ones, refused ones), and outcomes by code; then the checks: orders of
the sale (by the host's list), sold according to the sale (quantity - remaining), orders the
buyers were told were created, ``oversell`` (orders beyond the quantity, must be 0), buyers
over the per-buyer limit (must be 0), idempotent replays that matched; and the CPU of the
server, Redis and the buyer processes (% of one core) during the buying. With
``--profile PATH`` it also samples the server with py-spy while the buying runs (which slows
it a little) and lists the frames with the most samples. ``checks.ok`` (and exit status 0)
means no oversell, the sale's counter agrees with the orders and with what buyers were told,
nobody is over the per-buyer limit, and every idempotent replay gave back the same order.

Buyers send their next attempt as soon as the last one is answered (a closed loop), so the
server runs flat out and latency is mostly queueing: about (requests in flight) / (attempts
per second). Lower ``--http-concurrency`` and ``--dc-inflight`` to see unloaded latency.

Every child process is stopped at the end, also on errors and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import secrets
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import benchkit
from benchkit import Api, Child, CpuWindow, Peer, Server, buyer_contact

log = logging.getLogger("bench.flashbuy")

SCRIPT = str(Path(__file__).resolve())


def _go(command: str) -> tuple[str, float]:
    """``go <sale_id> <start time>`` from the orchestrator."""
    parts = command.split()
    if len(parts) != 3 or parts[0] != "go":
        raise RuntimeError(f"unexpected command {command!r}")
    return parts[1], float(parts[2])


async def _wait_command(expected: str) -> str:
    command = await benchkit.read_command()
    if not command.startswith(expected):
        raise RuntimeError(f"expected {expected!r}, got {command!r}")
    return command


# --------------------------------------------------------------------------------------------
# Worker: HTTP buyers


async def http_worker(args: argparse.Namespace) -> None:
    import aiohttp

    run = secrets.token_hex(3)
    connector = aiohttp.TCPConnector(limit=args.http_concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        api = Api(args.base, http)
        sem = asyncio.Semaphore(args.http_concurrency)

        async def token() -> str:
            async with sem:
                return await api.viewer_token()

        tokens = await asyncio.gather(*(token() for _ in range(args.http_buyers)))
        benchkit.emit({"event": "ready", "buyers": len(tokens)})
        sale_id, start_at = _go(await _wait_command("go"))

        attempts = [(b, k) for b in range(args.http_buyers) for k in range(args.http_attempts)]
        random.Random(7).shuffle(attempts)
        queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        for item in attempts:
            queue.put_nowait(item)
        results: list[list[Any]] = []  # [latency s, outcome, buyer index, order id]
        replays: list[list[Any]] = []  # [latency s, outcome]
        replays_left = args.replays
        path = f"/api/rooms/{args.room}/buy"

        async def attempt(body: dict[str, Any], tok: str) -> tuple[float, str, str | None]:
            started = time.perf_counter()
            try:
                status, reply = await api.call("POST", path, tok, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                return time.perf_counter() - started, f"client_{type(exc).__name__}", None
            latency = time.perf_counter() - started
            if status == 201:
                return latency, "created", reply.get("order_id")
            if status == 200 and isinstance(reply, dict) and "order_id" in reply:
                return latency, "duplicate", reply.get("order_id")
            code = reply.get("error", {}).get("code") if isinstance(reply, dict) else None
            return latency, str(code or f"http_{status}"), None

        async def lane() -> None:
            nonlocal replays_left
            while not queue.empty():
                b, k = queue.get_nowait()
                body = {"sale_id": sale_id, "quantity": 1,
                        "contact": buyer_contact(f"http-{run}-{b}"),
                        "idempotency_key": f"http-{run}-{b}-{k}"}
                latency, outcome, order_id = await attempt(body, tokens[b])
                results.append([latency, outcome, b, order_id, time.time()])
                if outcome == "created" and replays_left > 0:
                    replays_left -= 1
                    r_latency, r_outcome, r_order = await attempt(body, tokens[b])
                    ok = r_outcome == "duplicate" and r_order == order_id
                    replays.append([r_latency, "same_order" if ok else f"mismatch:{r_outcome}"])

        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.time()
        await asyncio.gather(*(lane() for _ in range(args.http_concurrency)))
        ended = time.time()
    benchkit.emit({"event": "done", "began": began, "ended": ended, "results": results,
                   "replays": replays, "rss_mb": benchkit.rss_mb(os.getpid())})
    await benchkit.read_command()  # "stop" (or EOF)


# --------------------------------------------------------------------------------------------
# Worker: data-channel buyers


async def dc_worker(args: argparse.Namespace) -> None:
    import aiohttp

    benchkit.no_decoders()
    run = secrets.token_hex(3)
    pending: dict[tuple[int, int], asyncio.Future[tuple[float, dict[str, Any]]]] = {}
    unmatched: Counter[str] = Counter()

    def on_message(peer: Peer, event: dict[str, Any], received: float) -> None:
        kind = event.get("type")
        if kind not in ("buy_result", "error"):
            return
        future = pending.pop((peer.index, event.get("ref", -1)), None)
        if future is None or future.done():
            unmatched[f"{kind}:{event.get('code', '')}"] += 1
            return
        future.set_result((received, event))

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        api = Api(args.base, http)
        tokens = {i: await api.viewer_token() for i in range(args.dc_viewers)}
        peers, failures = await benchkit.join_many(
            http, args.base, args.room, list(tokens), on_message, tokens=tokens,
            media=not args.data_only, concurrency=4)
    benchkit.emit({"event": "ready", "viewers": len(peers), "failures": failures})
    sale_id, start_at = _go(await _wait_command("go"))
    loop = asyncio.get_running_loop()
    results: list[list[Any]] = []  # [latency s, outcome, viewer index, order id]

    async def lane(peer: Peer, refs: range) -> None:
        for ref in refs:
            future: asyncio.Future[tuple[float, dict[str, Any]]] = loop.create_future()
            pending[(peer.index, ref)] = future
            sent = time.time()
            try:
                peer.send({"type": "buy", "sale_id": sale_id, "quantity": 1, "ref": ref,
                           "idempotency_key": f"dc-{run}-{peer.index}-{ref}",
                           "contact": buyer_contact(f"dc-{run}-{peer.index}")})
                received, reply = await asyncio.wait_for(future, args.reply_timeout)
            except TimeoutError:
                pending.pop((peer.index, ref), None)
                results.append([time.time() - sent, "timeout", peer.index, None, time.time()])
                continue
            except Exception as exc:
                pending.pop((peer.index, ref), None)
                results.append([time.time() - sent, f"client_{type(exc).__name__}",
                                peer.index, None, time.time()])
                continue
            if reply["type"] == "buy_result":
                order = reply.get("order") or {}
                outcome = "created" if order.get("created") else "duplicate"
                results.append([received - sent, outcome, peer.index, order.get("order_id"),
                                received])
            else:
                results.append([received - sent, str(reply.get("code")), peer.index, None,
                                received])

    await asyncio.sleep(max(0.0, start_at - time.time()))
    began = time.time()
    depth = max(1, args.dc_inflight)
    await asyncio.gather(*(lane(p, range(j, args.dc_attempts, depth))
                           for p in peers for j in range(depth)))
    ended = time.time()
    benchkit.emit({"event": "done", "began": began, "ended": ended, "results": results,
                   "unmatched": dict(unmatched), "open": sum(1 for p in peers if p.open),
                   "rss_mb": benchkit.rss_mb(os.getpid())})
    await benchkit.read_command()  # "stop" (or EOF)
    await benchkit.close_peers(peers)


# --------------------------------------------------------------------------------------------
# Orchestrator


def path_summary(done: dict[str, Any]) -> dict[str, Any]:
    results = done["results"]
    seconds = max(1e-9, done["ended"] - done["began"])
    outcomes = Counter(r[1] for r in results)
    created = [r[0] for r in results if r[1] == "created"]
    refused = [r[0] for r in results if r[1] != "created"]
    # While the sale still sells: up to the last order made (afterwards refusals dominate,
    # and a node that knows a sale is sold out answers them without Redis).
    last = max((r[-1] for r in results if r[1] == "created"), default=done["ended"])
    selling = [r for r in results if r[-1] <= last]
    selling_s = max(1e-9, last - done["began"])
    return {
        "attempts": len(results),
        "seconds": round(seconds, 2),
        "attempts_per_s": round(len(results) / seconds, 1),
        "created_per_s": round(len(created) / seconds, 1),
        "selling": {"attempts": len(selling), "seconds": round(selling_s, 2),
                    "attempts_per_s": round(len(selling) / selling_s, 1),
                    "latency_ms": benchkit.percentiles([r[0] for r in selling])},
        "latency_ms": benchkit.percentiles([r[0] for r in results]),
        "latency_created_ms": benchkit.percentiles(created),
        "latency_refused_ms": benchkit.percentiles(refused),
        "outcomes": dict(sorted(outcomes.items())),
    }


async def _phase(child: Child, pids: dict[str, int], timeout: float, sale_id: str,
                 profile: benchkit.Profile | None = None) -> dict[str, Any]:
    """One phase's buying, alone on the machine: its outcome and the CPU it took."""
    start_at = time.time() + 0.5
    await child.send(f"go {sale_id} {start_at}")
    await asyncio.sleep(max(0.0, start_at - time.time()))
    window = CpuWindow({**pids, child.name: child.proc.pid})
    window.start()
    done = await child.expect("done", timeout)
    done["cpu"] = window.stop()
    if profile is not None:
        done["profile"] = profile.summary()
    return done


async def _sale(api: Api, token: str, room: str, product: dict[str, Any],
                args: argparse.Namespace, limit: int) -> str:
    sale = await api.ok("POST", f"/api/rooms/{room}/sales", token, {
        "product_id": product["product_id"], "price": 2900, "quantity": args.quantity,
        "duration": 900, "per_buyer_limit": limit})
    return str(sale["sale_id"])


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    benchkit.raise_nofile()
    env = {"STALLCAST_REDIS_APPENDFSYNC": args.appendfsync} if args.appendfsync else {}
    server = Server(env=env)
    children: list[Child] = []
    result: dict[str, Any] = {
        "benchmark": "flashbuy",
        "load_average_at_start": list(os.getloadavg()),
        "sale": {"quantity": args.quantity, "per_buyer_limit": args.limit},
        "http": {"buyers": args.http_buyers, "attempts_each": args.http_attempts,
                 "concurrency": args.http_concurrency},
        "data_channel": {"viewers": args.dc_viewers, "attempts_each": args.dc_attempts,
                         "inflight_per_viewer": args.dc_inflight,
                         "viewer_media": "data channel only" if args.data_only
                         else "recvonly audio+video + data channel"},
        "redis_alone": {"concurrency": args.http_concurrency},
        "redis_appendfsync": args.appendfsync or "as configured (default: always)",
    }
    try:
        await server.start()
        await _fsync_watch(server, start=True)
        token = server.host_create("Flash farm")
        async with aiohttp.ClientSession() as http:
            api = Api(server.base, http)
            room = await api.room(token, "Flash sale benchmark")
            product = await api.product(token, title="Flash mangoes 1 kg",
                                        stock=args.quantity * 5, per_buyer_limit=args.limit)
            common = ["--base", server.base, "--room", room] + (
                ["--verbose"] if args.verbose else [])
            roles: list[tuple[str, list[str]]] = []
            if args.http_buyers and args.http_attempts:
                roles.append(("http", [SCRIPT, "--role", "http", *common,
                    "--http-buyers", str(args.http_buyers),
                    "--http-attempts", str(args.http_attempts),
                    "--http-concurrency", str(args.http_concurrency),
                    "--replays", str(args.replays)]))
            if args.dc_viewers and args.dc_attempts:
                roles.append(("dc", [SCRIPT, "--role", "dc", *common,
                    "--dc-viewers", str(args.dc_viewers), "--dc-attempts", str(args.dc_attempts),
                    "--dc-inflight", str(args.dc_inflight),
                    "--reply-timeout", str(args.reply_timeout)]
                    + (["--data-only"] if args.data_only else [])))
            for role, argv in roles:
                children.append(await Child.spawn(role, argv))
            ready = await asyncio.gather(*(c.expect("ready", 180) for c in children))
            for c, r in zip(children, ready, strict=True):
                if c.name == "dc":
                    result["data_channel"]["joined"] = r["viewers"]
                    result["data_channel"]["join_failures"] = r["failures"][:5]
            pids = {"server": server.pid}
            if server.redis_pid:
                pids["redis"] = server.redis_pid
            # The phases run one after another, each on a fresh sale of the same size, so
            # each path's figures are its own.
            ok = True
            for child in children:
                key = "http" if child.name == "http" else "data_channel"
                # Few data-channel viewers buy as much as the many HTTP buyers: their limit
                # lets them sell the sale out, so both phases see the same mix of outcomes.
                limit = (args.limit if child.name == "http"
                         else args.quantity // max(1, args.dc_viewers) + 1)
                result[key]["per_buyer_limit"] = limit
                sale_id = await _sale(api, token, room, product, args, limit)
                profile = (benchkit.Profile(server.pid, Path(args.profile), None,
                                            args.profile_native)
                           if args.profile and child.name == "http" else None)
                done = await _phase(child, pids, args.timeout, sale_id, profile)
                result[key].update(path_summary(done))
                result[key]["cpu_during_buying"] = done["cpu"]
                if done.get("profile") is not None:
                    result["server_profile_buying"] = done["profile"]
                if child.name == "http":
                    replays = done["replays"]
                    result["http"]["idempotent_replays"] = {
                        "sent": len(replays),
                        "outcomes": dict(Counter(r[1] for r in replays)),
                        "latency_ms": benchkit.percentiles([r[0] for r in replays])}
                else:
                    result[key]["replies_without_request"] = done["unmatched"]
                    result[key]["still_open"] = done["open"]
                await asyncio.sleep(0.5)  # let the stock coalescer publish its last update
                result[key]["checks"] = await checks(api, token, room, sale_id, args, [done],
                                                   limit)
                ok = ok and result[key]["checks"]["ok"]
            if args.http_buyers and args.http_attempts:
                await redis_alone(server, api, token, room, product, args, pids, result)
                if _server_batches():
                    await redis_alone(server, api, token, room, product, args, pids, result,
                                      batched=True)
            result["memory"] = {"server_rss_mb": benchkit.rss_mb(server.pid),
                                "redis_rss_mb": (benchkit.rss_mb(server.redis_pid)
                                                 if server.redis_pid else None)}
            result["redis_fsync"] = await _fsync_watch(server, start=False)
            result["summary"] = summary(result)
            result["checks"] = {"ok": ok, "oversell": result["summary"]["oversell"]}
    finally:
        await benchkit.stop_all(children)
        server.stop()
    return result


async def _fsync_watch(server: Server, start: bool) -> dict[str, Any]:
    """Redis's own latency monitor for its AOF fsyncs (``appendfsync always``: a created
    order is answered only after one): the floor under any client's p99 on this disk."""
    import redis.asyncio as aioredis

    client = aioredis.Redis(unix_socket_path=str(server.data_dir / "redis.sock"),
                            decode_responses=True)
    try:
        if start:
            await client.config_set("latency-monitor-threshold", 5)
            await client.execute_command("LATENCY", "RESET")
            return {}
        history = await client.execute_command("LATENCY", "HISTORY", "aof-fsync-always")
        ms = sorted(int(v) for _, v in history)
        return {"threshold_ms": 5, "fsyncs_over_threshold": len(ms),
                "slowest_ms": ms[-5:][::-1], "note": "at most one sample a second is kept"}
    finally:
        await client.aclose()


def _server_batches() -> bool:
    """Whether this checkout's server shares pipelines between buys in flight."""
    sys.path.insert(0, str(benchkit.REPO))
    try:
        import server.platform.pipelining  # noqa: F401
    except ImportError:
        return False
    return True


async def redis_alone(server: Server, api: Api, token: str, room: str,
                      product: dict[str, Any], args: argparse.Namespace,
                      pids: dict[str, int], result: dict[str, Any],
                      batched: bool = False) -> None:
    """The same buy script at the same Redis, with the HTTP phase's workload (redisalone.py):
    one redis-py call per attempt (then redis-benchmark), or ``batched`` the way the
    server sends them (``redis_alone_batched``)."""
    sale_id = await _sale(api, token, room, product, args, args.limit)
    child = await Child.spawn("redis_driver", [
        str(Path(SCRIPT).with_name("redisalone.py")),
        "--socket", str(server.data_dir / "redis.sock"), "--sale", sale_id, "--room", room,
        "--buyers", str(args.http_buyers), "--attempts", str(args.http_attempts),
        "--replays", str(args.replays), "--concurrency", str(args.http_concurrency),
        *(["--batched"] if batched else [])])
    try:
        ready = await child.expect("ready", 60)
        redis_pid = {k: v for k, v in pids.items() if k == "redis"}
        done = await _phase(child, redis_pid, args.timeout, sale_id)
        if batched:
            await child.send("stop")
            section = result["redis_alone_batched"] = {"concurrency": args.http_concurrency}
            section["call_shape"] = ready["shape"]
            section.update(path_summary(done))
            section["cpu_during_buying"] = done["cpu"]
            return
        # The same call again from redis-benchmark (C): no Python client in the way.
        window = CpuWindow(redis_pid)
        window.start()
        await child.send(f"bench {await _sale(api, token, room, product, args, args.limit)}")
        benchmarked = await child.expect("benchmarked", args.timeout)
        benchmarked["cpu_during_buying"] = window.stop()
        benchmarked.pop("event", None)
        result["redis_benchmark"] = benchmarked
    finally:
        await benchkit.stop_all([child])
    section = result["redis_alone"]
    section["call_shape"] = ready["shape"]
    section.update(path_summary(done))
    section["cpu_during_buying"] = done["cpu"]
    section["idempotent_replays"] = dict(Counter(r[1] for r in done["replays"]))


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, in one place."""
    http, dc, alone = result["http"], result["data_channel"], result["redis_alone"]

    def get(d: Any, *keys: str) -> Any:
        return _dig(d, keys)

    return {
        "ratio": _ratio(get(http, "attempts_per_s") or 0, get(alone, "attempts_per_s") or 0),
        "ratio_to_redis_alone_batched": _ratio(
            get(http, "attempts_per_s") or 0,
            get(result.get("redis_alone_batched", {}), "attempts_per_s") or 0),
        "redis_alone_batched_attempts_per_s": get(result.get("redis_alone_batched", {}),
                                                  "attempts_per_s"),
        "ratio_to_redis_benchmark": _ratio(get(http, "attempts_per_s") or 0,
                                           get(result.get("redis_benchmark", {}),
                                               "attempts_per_s") or 0),
        "redis_benchmark_attempts_per_s": get(result.get("redis_benchmark", {}),
                                              "attempts_per_s"),
        "ratio_while_selling": _ratio(get(http, "selling", "attempts_per_s") or 0,
                                      get(alone, "selling", "attempts_per_s") or 0),
        "http_attempts_per_s": get(http, "attempts_per_s"),
        "redis_alone_attempts_per_s": get(alone, "attempts_per_s"),
        "http_p50_ms": get(http, "latency_ms", "p50"),
        "http_p99_ms": get(http, "latency_ms", "p99"),
        "http_created_p99_ms": get(http, "latency_created_ms", "p99"),
        "redis_alone_created_p99_ms": get(alone, "latency_created_ms", "p99"),
        "redis_fsync_slowest_ms": get(result.get("redis_fsync", {}), "slowest_ms"),
        "data_channel_attempts_per_s": get(dc, "attempts_per_s"),
        "data_channel_p50_ms": get(dc, "latency_ms", "p50"),
        "data_channel_p99_ms": get(dc, "latency_ms", "p99"),
        "data_channel_to_http": _ratio(get(dc, "attempts_per_s") or 0,
                                       get(http, "attempts_per_s") or 0),
        "oversell": sum(get(s, "checks", "oversell") or 0 for s in (http, dc)),
        "server_cpu_pct_http": get(http, "cpu_during_buying", "cpu_pct_of_one_core", "server"),
        "server_cpu_pct_data_channel": get(dc, "cpu_during_buying", "cpu_pct_of_one_core",
                                           "server"),
        "redis_cpu_pct_http": get(http, "cpu_during_buying", "cpu_pct_of_one_core", "redis"),
        # CPU per attempt holds still on a busy machine, where rates follow the scheduler.
        "server_cpu_ms_per_attempt_http": _per_attempt(http, "server"),
        "server_cpu_ms_per_attempt_data_channel": _per_attempt(dc, "server"),
        "redis_cpu_ms_per_attempt_http": _per_attempt(http, "redis"),
        "redis_cpu_ms_per_attempt_alone": _per_attempt(alone, "redis"),
        "redis_cpu_pct_alone": get(alone, "cpu_during_buying", "cpu_pct_of_one_core", "redis"),
        "driver_cpu_pct_alone": get(alone, "cpu_during_buying", "cpu_pct_of_one_core",
                                    "redis_driver"),
        "load_average_at_end": list(os.getloadavg()),
    }


def _per_attempt(section: dict[str, Any], process: str) -> float | None:
    cpu = _dig(section, ("cpu_during_buying", "cpu_seconds", process))
    attempts = section.get("attempts")
    return round(1000 * cpu / attempts, 3) if cpu is not None and attempts else None


def _dig(d: Any, keys: tuple[str, ...]) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


async def checks(api: Api, token: str, room: str, sale_id: str, args: argparse.Namespace,
                 done: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    orders = await api.orders(token, room)
    of_sale = [o for o in orders if o.get("sale_id") == sale_id]
    live = [o for o in of_sale if o.get("status") != "cancelled"]
    per_buyer: dict[str, int] = defaultdict(int)
    for o in live:
        per_buyer[o["buyer_id"]] += int(o.get("quantity", 1))
    state = await api.ok("GET", f"/api/rooms/{room}/state")
    sale = next((s for s in state.get("sales", []) if s.get("sale_id") == sale_id), None)
    source = "state"
    if sale is None:  # the state lists running sales; the host's list has them all
        sales = (await api.ok("GET", f"/api/rooms/{room}/sales", token))["sales"]
        sale = next(s for s in sales if s["sale_id"] == sale_id)
        source = "host sales list"
    remaining = int(sale["remaining"])
    told_created = {r[3] for d in done for r in d["results"] if r[1] == "created"}
    sold_units = sum(int(o.get("quantity", 1)) for o in live)
    replays_ok = all(r[1] == "same_order" for d in done for r in d.get("replays", []))
    over_limit = sum(1 for n in per_buyer.values() if n > limit)
    ok = (sold_units <= args.quantity and args.quantity - remaining == sold_units
          and told_created == {o["order_id"] for o in live} and over_limit == 0 and replays_ok)
    return {
        "ok": ok,
        "orders_of_sale": len(of_sale),
        "orders_by_status": dict(Counter(o.get("status") for o in of_sale)),
        "units_sold_by_orders": sold_units,
        "sale_quantity": args.quantity,
        "sale_remaining": remaining,
        "sale_remaining_from": source,
        "sold_by_sale_counter": args.quantity - remaining,
        "buyers_told_created": len(told_created),
        "oversell": max(0, sold_units - args.quantity),
        "counter_matches_orders": args.quantity - remaining == sold_units,
        "told_created_match_orders": told_created == {o["order_id"] for o in live},
        "buyers_over_limit": over_limit,
        "replays_all_same_order": replays_ok,
        "max_orders_per_buyer": max(per_buyer.values(), default=0),
    }


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quantity", type=int, default=2000, help="units in the flash sale")
    p.add_argument("--limit", type=int, default=2, help="per_buyer_limit of the sale")
    p.add_argument("--http-buyers", type=int, default=2000, help="HTTP buyer identities")
    p.add_argument("--http-attempts", type=int, default=3, help="buy attempts per HTTP buyer")
    p.add_argument("--http-concurrency", type=int, default=64,
                   help="HTTP requests in flight (aiohttp connection limit)")
    p.add_argument("--replays", type=int, default=100,
                   help="created HTTP buys sent again with the same idempotency key")
    p.add_argument("--dc-viewers", type=int, default=16, help="data-channel buyers (viewers)")
    p.add_argument("--dc-attempts", type=int, default=375, help="buy messages per viewer")
    p.add_argument("--dc-inflight", type=int, default=4,
                   help="buy messages awaiting a reply per viewer")
    p.add_argument("--reply-timeout", type=float, default=30.0,
                   help="seconds a data-channel buy waits for its reply")
    p.add_argument("--data-only", action="store_true",
                   help="data-channel buyers offer no audio/video m-lines")
    p.add_argument("--appendfsync", choices=["always", "everysec", "no"], default="",
                   help="override the private Redis fsync policy (default: the config's)")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="seconds the buying may take before the benchmark gives up")
    p.add_argument("--profile", metavar="PATH", default="",
                   help="py-spy record the server while buying into PATH (raw collapsed "
                        "stacks) and add its busiest frames to the output")
    p.add_argument("--profile-native", action="store_true",
                   help="with --profile: include C frames (garbage collector, OpenSSL, uvloop)")
    p.add_argument("--allow-network", action="store_true",
                   help="run even though this network namespace has a route out")
    p.add_argument("--verbose", action="store_true", help="info logs on stderr")
    # Internal: how the orchestrator starts its workers.
    p.add_argument("--role", choices=["orchestrator", "http", "dc"], default="orchestrator",
                   help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--room", help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.role == "http":
        benchkit.worker_main("http", args.verbose, lambda: http_worker(args))
        return
    if args.role == "dc":
        benchkit.worker_main("dc", args.verbose, lambda: dc_worker(args))
        return
    benchkit.require_private_network(args.allow_network)
    benchkit.setup_logging("flashbuy", True)
    with contextlib.suppress(KeyboardInterrupt):
        result = benchkit.run_async(orchestrate(args))
        benchkit.write_result(result)
        sys.exit(0 if result["checks"]["ok"] else 1)


if __name__ == "__main__":
    main()

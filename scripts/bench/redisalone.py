"""The flash-sale benchmark's yardstick: the server's own buy script driven straight at the
server's Redis, with the workload of the HTTP phase (same buyers, attempts, contacts,
replays, order of attempts and requests in flight), so ``flashbuy.py`` can say what share of
Redis's speed the server reaches.

Run by ``flashbuy.py`` as a worker (``--role redis``), never by hand. It builds each call
the way the server does (``RoomBuys.request`` of server/commerce/buying.py when the server
has it, else the older ``CommerceStore.buy`` key layout, copied here) and sends it as the
same EVALSHA, over redis-py asyncio with hiredis, one connection per request in flight;
then, told ``bench <sale id>``, hands the same call to redis-benchmark (C), with buyers,
persons, order ids and idempotency keys random, for a yardstick with no Python client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import os
import random
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import benchkit
from benchkit import REPO, buyer_contact

Call = Callable[[int, int], Awaitable[str]]
TEMPLATE_SALE = "s_template"


def _old_shape(store: Any, sale: dict[str, Any], room_id: str,
               buyer_ids: list[str], contacts: list[Any]) -> Call:
    """The BUY call of ``CommerceStore.buy`` before buys became one round trip (one script
    call; the server also read the room, sale, contact and the order, and wrote counters,
    contact and events in further round trips, which are left out here)."""
    from server.commerce.rules import person_keys
    from server.commerce.store import RESERVATIONS, titled

    async def call(b: int, k: int) -> str:
        buyer_id, contact = buyer_ids[b], contacts[b]
        oid = "o_" + secrets.token_hex(8)
        now = time.time()
        src_key = f"sale:{sale['sale_id']}"
        idem = f"redis-{b}-{k}"
        fields = {
            "order_id": oid, "buyer_id": buyer_id, "host_id": sale["host_id"],
            "room_id": room_id, "product_id": sale["product_id"],
            "product_title": titled(cast(Any, sale)), "sale_id": sale["sale_id"], "quantity": 1,
            "currency": sale["currency"], "name": contact.name, "phone": contact.phone,
            "address": contact.address, "created_at": now, "idempotency_key": idem,
            "source": src_key, "source_field": "remaining", "tracking_number": ""}
        flat = [str(x) for kv in fields.items() for x in kv]
        phone_key, address_key = person_keys(contact)
        code, _, _ = await store._buy(
            keys=[src_key, f"{src_key}:buyers", f"idem:{buyer_id}:{idem}", f"order:{oid}",
                  f"buyer:{buyer_id}:orders", f"host:{sale['host_id']}:orders",
                  RESERVATIONS, f"room:{room_id}:orders", f"{src_key}:contacts",
                  f"product:{sale['product_id']}"],
            args=[now, 1, buyer_id, oid, "remaining", sale["per_buyer_limit"], "confirmed",
                  now + 900, phone_key, address_key, *flat])
        return str(code)

    return call


def _new_shape(store: Any, sale: dict[str, Any], room_id: str,
               buyer_ids: list[str], contacts: list[Any], batched: bool = False) -> Call:
    """The one call a buy is now: exactly what ``Commerce.buy`` sends (RoomBuys.place,
    without its sold-out flag: every attempt reaches Redis). ``batched``: the calls in
    flight share pipelines as the server's do (server/platform/pipelining.py); else each
    is its own redis-py Script call, one connection each."""
    from server.commerce.buying import RoomBuys
    from server.commerce.rules import BuyInput

    buys = RoomBuys(store.redis)
    # Before pipelining, buys.script was redis-py's Script itself (whose .script is its
    # source); now it is a BatchedScript whose .script is that Script.
    plain = buys.script if isinstance(buys.script.script, str) else buys.script.script
    script = buys.script if batched else plain

    async def call(b: int, k: int) -> str:
        order = BuyInput(idem=f"redis-{b}-{k}", quantity=1, sale_id=sale["sale_id"],
                         product_id="", contact=contacts[b])
        keys, argv = buys.request(room_id=room_id, buyer_id=buyer_ids[b], order=order,
                                  confirm=True, reservation_ttl=900.0, now=time.time(),
                                  counters=True)
        reply = await script(keys=keys, args=argv)
        return str(reply[0])

    return call


async def redis_worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(REPO))
    import redis.asyncio as aioredis

    from server.commerce.rules import contact_input
    from server.commerce.store import CommerceStore

    client = aioredis.Redis(unix_socket_path=args.socket, decode_responses=True,
                            max_connections=args.concurrency + 2)
    store = CommerceStore(client)
    raw = await client.hgetall(f"sale:{args.sale}")
    sale: dict[str, Any] = {str(k): str(v) for k, v in raw.items()}
    sale["per_buyer_limit"] = int(sale["per_buyer_limit"])
    run = secrets.token_hex(3)
    buyer_ids = [f"v_rb{run}{b:06d}" for b in range(args.buyers)]
    contacts = [contact_input(buyer_contact(f"redis-{run}-{b}")) for b in range(args.buyers)]
    try:
        import server.commerce.buying  # noqa: F401  (buys in one round trip)

        shape = _new_shape
    except ImportError:
        shape = _old_shape
    call = (_new_shape(store, sale, args.room, buyer_ids, contacts, batched=True)
            if args.batched else shape(store, sale, args.room, buyer_ids, contacts))
    template = await _template(
        client, shape(store, {**sale, "sale_id": TEMPLATE_SALE}, args.room, buyer_ids, contacts),
        buyer_ids[0], contacts[0])
    await client.ping()
    await asyncio.gather(*(client.ping() for _ in range(args.concurrency)))  # connections
    benchkit.emit({"event": "ready", "shape": shape.__name__.strip("_")
                   + ("_batched" if args.batched else "")})
    await benchkit.read_command()  # "go"

    attempts = [(b, k) for b in range(args.buyers) for k in range(args.attempts)]
    random.Random(7).shuffle(attempts)
    queue = list(reversed(attempts))
    results: list[list[Any]] = []  # [latency s, outcome, finished at]
    replays: list[list[Any]] = []
    replays_left = args.replays

    async def lane() -> None:
        nonlocal replays_left
        while queue:
            b, k = queue.pop()
            started = time.perf_counter()
            code = await call(b, k)
            results.append([time.perf_counter() - started, _outcome(code), time.time()])
            if code == "ok" and replays_left > 0:
                replays_left -= 1
                started = time.perf_counter()
                again = await call(b, k)
                replays.append([time.perf_counter() - started, _outcome(again), time.time()])

    began = time.time()
    await asyncio.gather(*(lane() for _ in range(args.concurrency)))
    ended = time.time()
    await client.aclose()
    benchkit.emit({"event": "done", "began": began, "ended": ended, "results": results,
                   "replays": replays, "rss_mb": benchkit.rss_mb(os.getpid())})
    command = await benchkit.read_command()  # "bench <sale id>", or "stop" (or EOF)
    if command.startswith("bench "):
        benchkit.emit({"event": "benchmarked", **await redis_benchmark(
            args, template, TEMPLATE_SALE, command.split()[1])})
        await benchkit.read_command()


async def _template(client: Any, call: Call, buyer_id: str, contact: Any) -> list[str]:
    """The EVALSHA one attempt sends (tried on a sale that is not there, so nothing is
    written), with what differs between attempts made ``__rand_int__`` for
    redis-benchmark."""
    from server.commerce.rules import person_keys

    seen: list[list[Any]] = []
    real = client.evalsha

    async def spy(*argv: Any) -> Any:
        seen.append(["EVALSHA", *(str(a) for a in argv)])
        return await real(*argv)

    client.evalsha = spy
    try:
        await call(0, 10**6)
    finally:
        client.evalsha = real
    argv = seen[-1]
    marks = [buyer_id, *(k for k in person_keys(contact) if k)]
    out = []
    now = time.time()
    for arg in argv:
        with contextlib.suppress(ValueError):
            if abs(float(arg) - now) < 60:  # the attempt's clock: set when benchmarking
                out.append(f"__now__{float(arg) - now!r}")
                continue
        for mark in marks:
            arg = arg.replace(mark, "__rand_int__")
        if arg.startswith("o_") or arg.startswith("order:o_"):
            arg = arg.rsplit("o_", 1)[0] + "o___rand_int__"
        out.append(arg.replace("redis-0-1000000", "rb-__rand_int__"))
    return out


async def redis_benchmark(args: argparse.Namespace, template: list[str], old_sale: str,
                          new_sale: str) -> dict[str, Any]:
    """redis-benchmark (C, ``args.concurrency`` connections) sending the recorded call with
    random buyers, persons, orders and keys: Redis's speed without any Python client."""
    import shutil

    exe = shutil.which("redis-benchmark")
    if exe is None:
        return {"error": "redis-benchmark not found"}
    now = time.time()
    argv = [repr(now + float(a[7:])) if a.startswith("__now__") else a.replace(old_sale, new_sale)
            for a in template]
    n = args.buyers * args.attempts
    proc = await asyncio.create_subprocess_exec(
        exe, "-s", args.socket, "-c", str(args.concurrency), "-n", str(n),
        "-r", str(args.buyers), "--csv", *argv, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    began = time.time()
    out, err = await proc.communicate()
    seconds = time.time() - began
    rows = list(csv.reader(io.StringIO(out.decode(errors="replace"))))
    head = rows[0] if rows else []
    last = rows[-1] if len(rows) > 1 else []
    found = dict(zip(head, last, strict=False))
    import redis.asyncio as aioredis

    client = aioredis.Redis(unix_socket_path=args.socket, decode_responses=True)
    sold = await client.hmget(f"sale:{new_sale}", "quantity", "remaining")
    probe = await client.execute_command(*(a.replace("__rand_int__", "probe") for a in argv))
    await client.aclose()
    return {"requests": n, "seconds": round(seconds, 2),
            "units_sold": int(sold[0]) - int(sold[1]), "one_more_answers": str(probe[0]),
            "attempts_per_s": float(found.get("rps", 0) or 0),
            "latency_ms": {k.replace("_latency_ms", ""): float(v) for k, v in found.items()
                           if k.endswith("_latency_ms")},
            "stderr": err.decode(errors="replace")[-300:]}


def _outcome(code: str) -> str:
    return {"ok": "created", "duplicate": "duplicate"}.get(code, code)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--socket", required=True)
    p.add_argument("--sale", required=True)
    p.add_argument("--room", required=True)
    p.add_argument("--buyers", type=int, required=True)
    p.add_argument("--attempts", type=int, required=True)
    p.add_argument("--replays", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--batched", action="store_true",
                   help="calls in flight share pipelines (the server's BatchedScript)")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()
    benchkit.worker_main("redis", ARGS.verbose, lambda: redis_worker(ARGS))

"""A buy attempt is one Redis round trip, over HTTP and over the data channel, and a node
that knows a sale is sold out refuses more attempts without asking Redis.

Redis's own command statistics count the commands scripts run too, so the round trips are
counted from its slow log with a threshold of 0 µs: it holds every command, with its
arguments and client, and a script's own commands come from the client "?:0".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgpack
import pytest
import redis.asyncio as aioredis

from helpers.clients import wait_for, watch
from helpers.rooms import open_shop
from helpers.servers import Running, start_server
from helpers.shop import Api, contact_for
from server.commerce.buying import ROOM_BUY, SOLD_OUT_TTL_S
from server.commerce.lua import PIN

BUY_SHA = hashlib.sha1(ROOM_BUY.encode()).hexdigest()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.config_set("slowlog-log-slower-than", 0)
    await client.config_set("slowlog-max-len", 100_000)
    yield client
    await client.config_set("slowlog-log-slower-than", 10_000)
    await client.aclose()


async def sent(redis: aioredis.Redis) -> list[list[str]]:
    """The commands clients sent since the last call, oldest first (the log is reset)."""
    entries = await redis.slowlog_get(-1)
    await redis.slowlog_reset()
    out = []
    for entry in reversed(entries):
        client = entry.get("client_address", b"")
        if (client.decode() if isinstance(client, bytes) else str(client)).startswith("?"):
            continue  # run by a script
        argv = [a.decode(errors="replace") if isinstance(a, bytes) else str(a)
                for a in entry["command"].split(b" " if isinstance(entry["command"], bytes)
                                                else " ")]
        if argv[0].upper() not in ("SLOWLOG", "CONFIG"):
            out.append(argv)
    return out


def per_attempt(commands: list[list[str]], buyers: list[str], rid: str) -> list[list[str]]:
    """The commands (other than the buy script) that only a buy attempt would send: they name
    a buyer, an order, an idempotency key, a saved contact or the room's own record."""
    marks = (*buyers, "order:", "idem:", ":contact")
    return [c for c in commands if not (c[0].upper() == "EVALSHA" and c[1] == BUY_SHA)
            and (any(m in arg for arg in c for m in marks) or f"room:{rid}" in c)]


@contextlib.asynccontextmanager
async def selling(server: Running, **sale: Any) -> AsyncIterator[tuple[Api, str, str,
                                                                        dict[str, Any]]]:
    """A host's room with a flash sale (``sale``: its fields) of a product of 50."""
    async with open_shop(server, stock=50) as shop:
        made = await shop.api.sale(shop.host, shop.rid, shop.pid, **sale)
        yield shop.api, shop.host, shop.rid, made


async def warm_up(api: Api, rid: str, token: str) -> None:
    """One refused buy, so the buy script is loaded (a first EVALSHA answers NOSCRIPT, once
    a server's life) before the counting starts."""
    status, _ = await api.call("POST", f"/api/rooms/{rid}/buy", token, {
        "sale_id": "s_none", "idempotency_key": "warm-up-key"})
    assert status == 404


def buy_calls(commands: list[list[str]]) -> int:
    return sum(1 for c in commands if c[0].upper() == "EVALSHA" and c[1] == BUY_SHA)


async def test_http_buy_is_one_round_trip(server: Running, redis: aioredis.Redis) -> None:
    async with open_shop(server, in_room=True, stock=50, per_buyer_limit=2) as shop:
        api, host, rid = shop.api, shop.host, shop.rid
        sale = await api.sale(host, rid, shop.pid, quantity=20, per_buyer_limit=2)
        viewers = [await api.viewer() for _ in range(6)]
        await warm_up(api, rid, viewers[0][1])
        await sent(redis)
        attempts = 0
        for n, (vid, token) in enumerate(viewers):
            # One, two more (over the limit of 2: refused by Redis), one (the limit is
            # spent), and one more: refused by the node itself, which saw it spent.
            for k, quantity in enumerate((1, 2, 1)):
                body = {"sale_id": sale["sale_id"], "idempotency_key": f"rt-{n}-{k}-key",
                        "contact": contact_for(vid), "quantity": quantity}
                status, reply = await api.call("POST", f"/api/rooms/{rid}/buy", token, body)
                attempts += 1
                assert status == (409 if k == 1 else 201), reply
            status, reply = await api.call("POST", f"/api/rooms/{rid}/buy", token, {
                "sale_id": sale["sale_id"], "idempotency_key": f"rt-{n}-3-key",
                "contact": contact_for(vid)})
            assert status == 409 and reply["error"]["code"] == "limit"
            # A replay answers with the first order; a buy without a contact uses the saved
            # one; a direct buy of the product is the same one call.
            status, reply = await api.call("POST", f"/api/rooms/{rid}/buy", token, {
                "sale_id": sale["sale_id"], "idempotency_key": f"rt-{n}-0-key",
                "contact": contact_for(vid)})
            assert status == 200 and reply["created"] is False
            status, reply = await api.call("POST", f"/api/rooms/{rid}/buy", token, {
                "product_id": shop.pid, "idempotency_key": f"rt-{n}-direct"})
            assert status == 201 and reply["name"] == contact_for(vid)["name"], reply
            attempts += 2
        status, reply = await api.call("POST", "/api/rooms/r_nosuchroom/buy", viewers[0][1], {
            "sale_id": sale["sale_id"], "idempotency_key": "rt-no-room"})
        assert status == 404 and reply["error"]["code"] == "not_found"
        attempts += 1
        commands = await sent(redis)
        assert buy_calls(commands) == attempts
        assert per_attempt(commands, [v for v, _ in viewers], rid) == []


async def test_data_channel_buy_is_one_round_trip(server: Running,
                                                  redis: aioredis.Redis) -> None:
    async with selling(server, quantity=20, per_buyer_limit=3) as (api, _, rid, sale):
        vid, token = await api.viewer()
        buyer = await watch(server.base, rid, token=token)
        try:
            assert await wait_for(lambda: buyer.of("welcome"), 15)
            await warm_up(api, rid, token)
            await sent(redis)
            for ref in range(5):  # three orders, then the limit twice (known on the node)
                buyer.channel.send(msgpack.packb({
                    "type": "buy", "sale_id": sale["sale_id"], "ref": ref,
                    "idempotency_key": f"dc-rt-{ref:04d}", "contact": contact_for(vid)}))
                assert await wait_for(lambda ref=ref: [e for e in buyer.events
                                                       if e.get("ref") == ref], 10), ref
            replies = [e for e in buyer.events if e.get("ref") is not None]
            assert [e["type"] for e in replies] == ["buy_result"] * 3 + ["error"] * 2
            assert {e["code"] for e in replies[3:]} == {"limit"}
            # The order_status event the script published reached the buyer, as before.
            assert await wait_for(lambda: len(buyer.of("order_status")) == 3, 10)
            told = buyer.of("order_status")[0]["order"]
            assert told == {k: v for k, v in replies[0]["order"].items()
                            if k not in ("payment", "created")}
            commands = await sent(redis)
            assert buy_calls(commands) == 3
            assert per_attempt(commands, [vid], rid) == []
        finally:
            await buyer.stop()


async def test_sold_out_refusals_stay_on_the_node(server: Running,
                                                  redis: aioredis.Redis) -> None:
    async with selling(server, quantity=2, per_buyer_limit=2) as (api, host, rid, sale):
        first_vid, first = await api.viewer()
        winner = {"sale_id": sale["sale_id"], "quantity": 2, "idempotency_key": "so-winner",
                  "contact": contact_for(first_vid)}
        order = await api.ok("POST", f"/api/rooms/{rid}/buy", first, winner)
        others = [await api.viewer() for _ in range(20)]
        await sent(redis)
        began = time.monotonic()
        for n, (vid, token) in enumerate(others):
            status, reply = await api.call("POST", f"/api/rooms/{rid}/buy", token, {
                "sale_id": sale["sale_id"], "idempotency_key": f"so-late-{n:03d}",
                "contact": contact_for(vid)})
            assert status == 409 and reply["error"]["code"] == "sold_out"
        # The winner's retry is not refused by the flag: it gets its order back.
        status, again = await api.call("POST", f"/api/rooms/{rid}/buy", first, winner)
        assert status == 200 and again["order_id"] == order["order_id"]
        elapsed = time.monotonic() - began
        reached = buy_calls(await sent(redis)) - 1  # the retry went to Redis
        # The flag lasts SOLD_OUT_TTL_S: at most one attempt per lapse asks Redis again.
        assert reached <= int(elapsed / SOLD_OUT_TTL_S), reached

        # Never trusted for a yes: stock put back sells again once the flag has lapsed.
        await api.ok("POST", f"/api/orders/{order['order_id']}/cancel", host, {})
        late_vid, late = await api.viewer()

        async def bought() -> Any:
            status, _ = await api.call("POST", f"/api/rooms/{rid}/buy", late, {
                "sale_id": sale["sale_id"], "idempotency_key": "so-after-cancel",
                "contact": contact_for(late_vid)})
            return status == 201

        assert await poll(bought, 10)


async def poll(check: Any, timeout: float) -> bool:
    """``await check()`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


def test_counting_reads_the_log_shape() -> None:
    """The slow log gives argv; the classifier finds a buy and a stray per-attempt call."""
    commands = [["EVALSHA", BUY_SHA, "12", "room:r_1"], ["HGETALL", "room:r_1"],
                ["HGETALL", "order:o_1"], ["EVALSHA", "other", "1", "room:r_1:seq"]]
    assert buy_calls(commands) == 1
    assert per_attempt(commands, ["v_1"], "r_1") == [["HGETALL", "room:r_1"],
                                                   ["HGETALL", "order:o_1"]]


async def test_every_attempt_counts_in_the_session(server: Running,
                                                   redis: aioredis.Redis) -> None:
    """The script adds each attempt it answers (and each order with its GMV) to the live
    session's figures; the attempts a node refused by itself are added on its next tick."""
    async with selling(server, quantity=3, per_buyer_limit=3) as (api, _, rid, sale):
        await redis.set(f"room:{rid}:session", "sess_counted")  # as a live session has
        buyers = [await api.viewer() for _ in range(8)]
        for n, (vid, token) in enumerate(buyers):
            status, _ = await api.call("POST", f"/api/rooms/{rid}/buy", token, {
                "sale_id": sale["sale_id"], "idempotency_key": f"count-{n:03d}",
                "contact": contact_for(vid)})
            assert status == (201 if n < 3 else 409)

        async def counted() -> bool:
            return await redis.hget("stats:sess_counted", "buys") == "8"

        assert await poll(counted, 10)
        stats = await redis.hgetall("stats:sess_counted")
        assert stats["orders"] == "3" and float(stats["gmv"]) == 3 * 2900
        assert await redis.scard("stats:sess_counted:buyers") == 3


async def test_a_retry_on_another_node_gets_its_order_not_that_nodes_sold_out(
        server: Running, redis_url: str) -> None:
    """The first attempt made an order on one node but its answer was lost; the client
    resends the key (``retry``) to another node that has just seen the sale sell out. That
    node's memory of the refusal must not answer: the buyer gets its order. The same
    resend without ``retry`` is answered from the memory (what ``retry`` is for)."""
    async with selling(server, quantity=1, per_buyer_limit=1) as (api, _, rid, sale), \
            start_server(redis_url) as other, aiohttp.ClientSession() as http:
        far = Api(other.base, http)
        vid, token = await api.viewer()
        first = {"sale_id": sale["sale_id"], "idempotency_key": "lost-answer",
                 "contact": contact_for(vid)}
        order = await api.ok("POST", f"/api/rooms/{rid}/buy", token, first)
        late_vid, late = await far.viewer()
        status, reply = await far.call("POST", f"/api/rooms/{rid}/buy", late, {
            "sale_id": sale["sale_id"], "idempotency_key": "late-comer",
            "contact": contact_for(late_vid)})
        assert status == 409 and reply["error"]["code"] == "sold_out"
        status, reply = await far.call("POST", f"/api/rooms/{rid}/buy", token, first)
        assert status == 409 and reply["error"]["code"] == "sold_out"  # from memory
        status, again = await far.call("POST", f"/api/rooms/{rid}/buy", token,
                                       {**first, "retry": True})
        assert status == 200, again
        assert again["order_id"] == order["order_id"] and again["created"] is False
        status, reply = await far.call("POST", f"/api/rooms/{rid}/buy", token,
                                       {**first, "retry": "yes"})
        assert status == 400 and reply["error"]["code"] == "invalid"


WRITES = ("SET", "SADD", "DEL", "INCR", "PUBLISH", "MULTI", "EXEC", "EVAL")


async def test_a_pin_reaches_viewers_after_one_write(server: Running, redis: aioredis.Redis,
                                                     redis_url: str) -> None:
    """Pinning writes the room's pinned card and announces it in one script call (with
    appendfsync always each write call is an fsync before viewers hear of it): the only
    write a pin or unpin sends is PIN's EVALSHA, and the announcement takes the room's next
    seq as every other event does."""
    pin_sha = hashlib.sha1(PIN.encode()).hexdigest()
    async with open_shop(server, stock=5) as shop:
        api, host, rid = shop.api, shop.host, shop.rid
        raw_client = aioredis.Redis.from_url(redis_url)  # the payloads are msgpack
        listener = raw_client.pubsub()
        await listener.subscribe(f"stallcast:room:{rid}")
        await api.ok("PUT", f"/api/rooms/{rid}/pin", host, {"product_id": shop.pid})  # loads
        seq = int(await redis.get(f"room:{rid}:seq") or 0)
        await sent(redis)
        await api.ok("DELETE", f"/api/rooms/{rid}/pin", host)
        await api.ok("PUT", f"/api/rooms/{rid}/pin", host, {"product_id": shop.pid})
        commands = await sent(redis)
        writes = [c for c in commands if c[0].upper() in WRITES or (
            c[0].upper() == "EVALSHA" and c[1] != pin_sha and f"room:{rid}:seq" in c)]
        assert writes == [], writes
        assert sum(1 for c in commands if c[0].upper() == "EVALSHA" and c[1] == pin_sha) == 2
        assert await redis.get(f"room:{rid}:pinned") == shop.pid
        assert await redis.sismember(f"room:{rid}:products", shop.pid)
        announced = []
        async with asyncio.timeout(5):
            while len(announced) < 3:
                message = await listener.get_message(ignore_subscribe_messages=True,
                                                     timeout=1)
                if message is not None:
                    number, _, payload = message["data"].partition(b" ")
                    announced.append((int(number), msgpack.unpackb(payload)["type"]))
        assert announced[1:] == [(seq + 1, "card_unpinned"), (seq + 2, "card_pinned")]
        await listener.aclose()
        await raw_client.aclose()

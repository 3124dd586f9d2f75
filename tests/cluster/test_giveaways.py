"""Giveaways with real Redis and real aiortc viewers: only viewers present who watched long
enough in this live session (or who wrote the keyword) are candidates, the recorded seed
and sorted candidate list give the recorded winners again (checked here by an HMAC-SHA256
ranking written independently of the server's), a draw cut short after it was recorded is
finished by the next request, and each winner gets a zero-price order to accept."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import aiohttp

from helpers.clients import publish, wait_for, watch
from helpers.servers import start_server
from helpers.shop import Api, contact_for
from server.commerce.giveaways import draw


def ranked(candidates: list[str], seed: str, n: int) -> list[str]:
    """The documented rule, rewritten here: lowest HMAC-SHA256(key=seed, msg=id) first."""
    macs = {c: hmac.new(seed.encode(), c.encode(), hashlib.sha256).hexdigest()
            for c in candidates}
    return sorted(macs, key=macs.__getitem__)[:n]


def test_draw_is_a_pure_function_of_candidates_and_seed() -> None:
    people = [f"v_{i:04d}" for i in range(50)]
    first = draw(people, "seed-1", 5)
    assert first == draw(list(reversed(people)) + people[:3], "seed-1", 5)  # order, repeats
    assert len(set(first)) == 5 and set(first) <= set(people)
    assert first == ranked(people, "seed-1", 5)
    assert first != draw(people, "seed-2", 5)
    assert draw(people[:2], "seed-1", 5) == draw(people[:2], "seed-1", 2)
    assert draw([], "seed-1", 3) == []


async def test_draws_among_eligible_viewers(redis_url: str) -> None:
    env = {"STALLCAST_GIVEAWAYS_PRESENCE_INTERVAL_S": "1"}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        _, host = await server.new_host()
        room = await server.new_room(host)
        rid = room["room_id"]
        pid = (await api.product(host))["product_id"]
        pub = await publish(server.base, rid, room["stream_key"])
        people = [await api.viewer() for _ in range(5)]
        for vid, token in people:
            await api.ok("PUT", "/api/me", token, {"nickname": f"Fan {vid[-4:]}"})
        early = [await watch(server.base, rid, token=t) for _, t in people[:4]]
        anonymous = await watch(server.base, rid)
        late = None
        try:
            assert await wait_for(lambda: all(v.of("welcome") for v in early), 15)
            await asyncio.sleep(4.5)
            late = await watch(server.base, rid, token=people[4][1])
            assert await wait_for(lambda: bool(late.of("welcome")), 15)
            await asyncio.sleep(1.5)
            status, _ = await api.call("POST", f"/api/rooms/{rid}/giveaways", people[0][1],
                                       {"product_id": pid, "winners": 2})
            assert status == 401
            status, _ = await api.call("POST", f"/api/rooms/{rid}/giveaways", host,
                                       {"product_id": pid, "winners": 0})
            assert status == 400
            opened = await api.ok("POST", f"/api/rooms/{rid}/giveaways", host, {
                "product_id": pid, "winners": 2, "mode": "watch", "min_watch_s": 3})
            gid = opened["giveaway_id"]
            drawn = await api.ok("POST", f"/api/rooms/{rid}/giveaways/{gid}/draw", host)
            record = await api.ok("GET", f"/api/rooms/{rid}/giveaways/{gid}", host)
            assert record["candidates"] == sorted(v for v, _ in people[:4])  # not the late one
            assert record["winner_ids"] == ranked(record["candidates"], record["seed"], 2)
            assert drawn["winner_ids"] == record["winner_ids"] and len(record["seed"]) == 64
            status, _ = await api.call("POST", f"/api/rooms/{rid}/giveaways/{gid}/draw", host)
            assert status == 409
            tokens = dict(people)
            names = [f"Fan {w[-4:]}" for w in record["winner_ids"]]
            assert record["winner_names"] == names
            assert await wait_for(lambda: any(
                e["giveaway"].get("winner_names") == names
                for e in anonymous.of("giveaway_drawn")), 5)
            assert all("winner_ids" not in e["giveaway"] for e in anonymous.of("giveaway_drawn"))
            for winner, order_id in zip(record["winner_ids"], record["order_ids"], strict=True):
                order = await api.ok("GET", f"/api/me/orders/{order_id}", tokens[winner])
                assert order["unit_price"] == 0 and order["total"] == 0
                assert order["status"] == "reserved" and order["prize"] == "giveaway"
                accepted = await api.ok("POST", f"/api/me/orders/{order_id}/accept",
                                        tokens[winner], {"contact": contact_for(winner)})
                assert accepted["status"] == "confirmed"
            loser = next(t for v, t in people if v not in record["winner_ids"])
            status, _ = await api.call("POST", f"/api/me/orders/{record['order_ids'][0]}/accept",
                                       loser, {"contact": contact_for("x")})
            assert status == 404

            # Keyword: who writes it while the giveaway is open, case and width aside.
            keyword = await api.ok("POST", f"/api/rooms/{rid}/giveaways", host, {
                "product_id": pid, "winners": 5, "mode": "keyword", "keyword": "Mango"})
            kid = keyword["giveaway_id"]
            for (_, token), text in zip(people[:3], ("I want MANGO!", "ｍａｎｇｏ please",
                                                     "hello"), strict=True):
                await api.ok("POST", f"/api/rooms/{rid}/chat", token, {"text": text})
            kdrawn = await api.ok("POST", f"/api/rooms/{rid}/giveaways/{kid}/draw", host)
            assert kdrawn["candidates"] == sorted(v for v, _ in people[:2])
            assert sorted(kdrawn["winner_ids"]) == kdrawn["candidates"]
            assert kdrawn["winner_ids"] == ranked(kdrawn["candidates"], kdrawn["seed"], 5)
        finally:
            for v in [*early, anonymous, *([late] if late else [])]:
                await v.stop()
            await pub.stop()


async def test_cut_short_draw_is_finished_and_the_cap_is_seeded(redis_url: str) -> None:
    """A node records a draw (DRAWN) and dies before the orders: the next draw request
    makes them from the recorded winners, once, however many arrive together. The
    candidate cap keeps the seed's first ones, not the ids that sort first, and a
    candidate merged into an account since counts as that account."""
    env = {"STALLCAST_GIVEAWAYS_MAX_CANDIDATES": "5"}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        redis = server.ctx.redis
        _, host = await server.new_host()
        rid = (await server.new_room(host))["room_id"]
        pid = (await api.product(host))["product_id"]
        people = [await api.viewer() for _ in range(3)]
        tokens = dict(people)
        # The cap: 40 watchers, 5 kept; one of them signed in as another (merged).
        old, account = people[0][0], people[1][0]
        await redis.set(f"viewer:{old}:merged_into", account)
        watchers = [f"v_{i:04d}" for i in range(37)] + [old, people[2][0], account]
        gid = (await api.ok("POST", f"/api/rooms/{rid}/giveaways", host, {
            "product_id": pid, "winners": 2}))["giveaway_id"]
        capped = await server.ctx.giveaways.draw(gid, watchers)
        everyone = sorted({account if w == old else w for w in watchers})
        assert capped["candidate_total"] == len(everyone) == 39
        assert capped["candidates"] == sorted(ranked(everyone, capped["seed"], 5))
        assert capped["winner_ids"] == ranked(everyone, capped["seed"], 2)
        assert old not in capped["candidates"]

        # Cut short: the draw is recorded with two real viewers as winners, no orders.
        gid = (await api.ok("POST", f"/api/rooms/{rid}/giveaways", host, {
            "product_id": pid, "winners": 2}))["giveaway_id"]
        seed = "s" * 64
        candidates = sorted([people[1][0], people[2][0]])
        winners = ranked(candidates, seed, 2)
        key = f"giveaway:{gid}"
        assert await server.ctx.giveaways._drawn(
            keys=[key, f"{key}:prize", f"room:{rid}:giveaway_keyword"],
            args=[seed, json.dumps(candidates), json.dumps(winners), time.time(), 2, gid, 2])
        assert (await api.ok("GET", f"/api/rooms/{rid}/giveaways/{gid}", host))[
            "order_ids"] == []
        answers = await asyncio.gather(*(api.call(
            "POST", f"/api/rooms/{rid}/giveaways/{gid}/draw", host) for _ in range(3)))
        done = [body for status, body in answers if status == 200]
        assert done and all(status in (200, 409) for status, _ in answers), answers
        record = await api.ok("GET", f"/api/rooms/{rid}/giveaways/{gid}", host)
        assert record["winner_ids"] == winners and record["seed"] == seed
        assert len(record["order_ids"]) == 2 and all(
            d["order_ids"] == record["order_ids"] for d in done)
        orders = [o for o in await api.orders(host) if o.get("prize_id") == gid]
        assert sorted(o["order_id"] for o in orders) == sorted(record["order_ids"])
        for winner, oid in zip(winners, record["order_ids"], strict=True):
            order = await api.ok("GET", f"/api/me/orders/{oid}", tokens[winner])
            assert order["buyer_id"] == winner and order["total"] == 0
        status, _ = await api.call("POST", f"/api/rooms/{rid}/giveaways/{gid}/draw", host)
        assert status == 409  # finished now: no second draw


async def test_watch_time_of_an_earlier_show_does_not_count(redis_url: str) -> None:
    """A viewer watched the last show long enough; the host goes live again (a new
    session): it starts from zero, so a draw right away does not find it."""
    env = {"STALLCAST_GIVEAWAYS_PRESENCE_INTERVAL_S": "1"}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        redis = server.ctx.redis
        _, host = await server.new_host()
        room = await server.new_room(host)
        rid, key = room["room_id"], room["stream_key"]
        pid = (await api.product(host))["product_id"]
        vid, token = await api.viewer()
        pub = await publish(server.base, rid, key)
        viewer = await watch(server.base, rid, token=token)
        try:
            assert await wait_for(lambda: bool(viewer.of("welcome")), 15)
            first = await redis.get(f"room:{rid}:session")
            assert first
            await asyncio.sleep(6.5)
            assert vid in await server.ctx.presence.eligible(rid, 5)  # the first show
            await pub.stop()
            assert await wait_for(lambda: bool(viewer.of("host_left")), 10)
            pub = await publish(server.base, rid, key)
            for _ in range(100):
                second = await redis.get(f"room:{rid}:session")
                if second and second != first:
                    break
                await asyncio.sleep(0.1)
            assert second and second != first
            await asyncio.sleep(1.5)  # ticks in the new show: present, < 5 s watched
            assert vid in await server.ctx.presence.eligible(rid, 0)
            assert float(await redis.hget(f"room:{rid}:watch", vid)) < 5
            gid = (await api.ok("POST", f"/api/rooms/{rid}/giveaways", host, {
                "product_id": pid, "winners": 1, "min_watch_s": 5}))["giveaway_id"]
            drawn = await api.ok("POST", f"/api/rooms/{rid}/giveaways/{gid}/draw", host)
            assert drawn["candidates"] == [] and drawn["winner_ids"] == []
        finally:
            await viewer.stop()
            await pub.stop()

"""Giveaways with real Redis and real aiortc viewers: only viewers present who watched long
enough (or who wrote the keyword) are candidates, the recorded seed and sorted candidate
list give the recorded winners again, and each winner gets a zero-price order to accept."""

from __future__ import annotations

import asyncio

import aiohttp

from helpers.clients import publish, wait_for, watch
from helpers.servers import start_server
from helpers.shop import Api, contact_for
from server.commerce.giveaways import draw


def test_draw_is_a_pure_function_of_candidates_and_seed() -> None:
    people = [f"v_{i:04d}" for i in range(50)]
    first = draw(people, "seed-1", 5)
    assert first == draw(list(reversed(people)) + people[:3], "seed-1", 5)  # order, repeats
    assert len(set(first)) == 5 and set(first) <= set(people)
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
            assert record["winner_ids"] == draw(record["candidates"], record["seed"], 2)
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
            assert kdrawn["winner_ids"] == draw(kdrawn["candidates"], kdrawn["seed"], 5)
        finally:
            for v in [*early, anonymous, *([late] if late else [])]:
                await v.stop()
            await pub.stop()

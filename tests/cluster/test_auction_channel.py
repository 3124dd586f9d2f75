"""Auctions on the data channel, with real aiortc viewers: a late joiner's welcome carries
the running auction, a `bid` is answered by `bid_result` (or an error) with its ref, and a
burst of a few hundred bids a second reaches viewers as a handful of coalesced
`auction_bid` events, the last one with the final state."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import msgpack

from helpers.clients import publish, wait_for, watch
from helpers.servers import Running
from helpers.shop import Api


async def test_bids_over_the_channel_and_coalesced_events(server: Running) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        _, host = await server.new_host()
        room = await server.new_room(host)
        rid = room["room_id"]
        pid = (await api.product(host, stock=2))["product_id"]
        pub = await publish(server.base, rid, room["stream_key"])
        aid = (await api.ok("POST", f"/api/rooms/{rid}/auctions", host, {
            "product_id": pid, "start_price": 500, "increment": 5, "duration_s": 60,
            "extend_s": 0}))["auction_id"]
        vid, token = await api.viewer()
        viewer = await watch(server.base, rid, token=token)
        anonymous = await watch(server.base, rid)
        try:
            assert await wait_for(lambda: viewer.of("welcome") and anonymous.of("welcome"), 15)
            running = viewer.of("welcome")[0]["snapshot"]["auction"]
            assert running["auction_id"] == aid and running["status"] == "running"
            assert running["next_amount"] == 500 and "top_bidder" not in running

            def reply(ref: int) -> dict[str, Any]:
                return next((e for e in viewer.events if e.get("ref") == ref), {})

            viewer.channel.send(msgpack.packb({"type": "bid", "amount": 499, "ref": 1}))
            viewer.channel.send(msgpack.packb({"type": "bid", "amount": 500, "ref": 2}))
            viewer.channel.send(msgpack.packb({"type": "bid", "amount": "x", "ref": 3}))
            assert await wait_for(lambda: all(reply(r) for r in (1, 2, 3)), 10)
            assert (reply(1)["type"], reply(1)["code"]) == ("error", "too_low")
            won = reply(2)
            assert won["type"] == "bid_result"
            assert won["bid"]["amount"] == 500 and won["bid"]["auction_id"] == aid
            assert (reply(3)["type"], reply(3)["code"]) == ("error", "invalid")
            anonymous.channel.send(msgpack.packb({"type": "bid", "amount": 900, "ref": 4}))
            assert await wait_for(lambda: any(e.get("ref") == 4 for e in anonymous.events), 10)
            refused = next(e for e in anonymous.events if e.get("ref") == 4)
            assert refused["code"] == "unauthorized"

            # A burst: two bidders outbid each other as fast as HTTP goes.
            # 60 rivals taking turns: each bids 5 times, within its per-viewer HTTP limit.
            rivals = await asyncio.gather(*(api.viewer() for _ in range(60)))
            await wait_for(lambda: bool(anonymous.of("auction_bid")), 5)
            before = len(anonymous.of("auction_bid"))
            amount, started = 505, time.monotonic()
            for n in range(300):
                await api.ok("POST", f"/api/rooms/{rid}/auctions/{aid}/bids",
                             rivals[n % 60][1], {"amount": amount})
                amount += 5
            elapsed = time.monotonic() - started
            final = 1 + 300

            def settled() -> bool:
                bids = anonymous.of("auction_bid")
                return bool(bids) and bids[-1]["auction"]["bid_count"] == final

            assert await wait_for(settled, 10)
            told = len(anonymous.of("auction_bid")) - before
            interval = server.config.auctions.bid_event_interval_ms / 1000
            assert 300 / elapsed > 100, elapsed  # a real burst
            assert told <= elapsed / interval + 3, (told, elapsed)
            last = anonymous.of("auction_bid")[-1]["auction"]
            assert last["top_amount"] == amount - 5 and last["next_amount"] == amount
            counts = [e["auction"]["bid_count"] for e in anonymous.of("auction_bid")]
            assert counts == sorted(counts)  # one node: never an older state after a newer
        finally:
            await viewer.stop()
            await anonymous.stop()
            await pub.stop()

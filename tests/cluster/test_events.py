"""Room events reach viewers' data channels on every node; viewers act over the channel."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import msgpack

from helpers.clients import wait_for, watch
from helpers.procs import host_create, serving
from helpers.rooms import open_shop
from helpers.servers import Running
from helpers.shop import CONTACT, Api


async def test_pin_on_node_a_reaches_viewer_on_node_b(tmp_path: Path, redis_url: str) -> None:
    token = host_create(tmp_path / "a", "Mango farm", redis_url)
    async with serving(tmp_path / "a", redis_url) as node_a, \
            serving(tmp_path / "b", redis_url) as node_b, aiohttp.ClientSession() as http:
        api_a = Api(node_a.base, http)
        room = await api_a.ok("POST", "/api/rooms", token, {"title": "Mangoes"})
        product = await api_a.product(token, title="Hainan mangoes 2 kg")
        viewer = await watch(node_b.base, room["room_id"])
        try:
            assert await wait_for(lambda: viewer.of("welcome"), 15)
            welcome = viewer.of("welcome")[0]
            await api_a.ok("PUT", f"/api/rooms/{room['room_id']}/pin", token,
                           {"product_id": product["product_id"]})
            assert await wait_for(lambda: viewer.of("card_pinned"), 5)
            card = viewer.of("card_pinned")[0]
            assert card["card"]["title"] == "Hainan mangoes 2 kg"
            assert card["seq"] == welcome["seq"] + 1
            sale = await api_a.sale(token, room["room_id"], product["product_id"], quantity=20)
            assert await wait_for(lambda: viewer.of("sale_started"), 5)
            # The snapshot on node B agrees with what node A did.
            state = await Api(node_b.base, http).ok("GET", f"/api/rooms/{room['room_id']}/state")
            assert state["pinned"]["product_id"] == product["product_id"]
            assert state["sales"][0]["sale_id"] == sale["sale_id"]
            assert state["seq"] >= card["seq"] + 1
        finally:
            await viewer.stop()


async def test_buy_chat_like_over_the_data_channel(server: Running) -> None:
    async with open_shop(server, stock=10) as shop:
        api, host, rid, product = shop.api, shop.host, shop.rid, shop.product
        sale = await api.sale(host, rid, product["product_id"], quantity=3, per_buyer_limit=1)
        vid, vtoken = await api.viewer()
        buyer = await watch(server.base, rid, token=vtoken)
        other = await watch(server.base, rid)  # anonymous
        try:
            assert await wait_for(lambda: buyer.of("welcome") and other.of("welcome"),
                                  15)
            assert buyer.of("welcome")[0]["viewer_id"] == vid
            assert buyer.of("welcome")[0]["snapshot"]["sales"][0]["remaining"] == 3

            def send(viewer: Any, message: Any) -> None:
                data = message if isinstance(message, (bytes, str)) else msgpack.packb(message)
                viewer.channel.send(data)

            send(buyer, {"type": "buy", "sale_id": sale["sale_id"], "ref": 1,
                         "idempotency_key": "dc-buy-00001", "contact": CONTACT})
            assert await wait_for(lambda: buyer.of("buy_result"), 5), buyer.events
            result = buyer.of("buy_result")[0]
            assert result["ref"] == 1 and result["order"]["status"] == "confirmed"
            # Only the buyer hears about its order; everyone sees the stock fall.
            assert await wait_for(lambda: buyer.of("order_status"), 5)
            assert await wait_for(lambda: any(e["remaining"] == 2
                                              for e in other.of("sale_stock")), 5)
            assert not other.of("order_status")
            # Over the limit: an error on the channel, and the channel stays up.
            send(buyer, {"type": "buy", "sale_id": sale["sale_id"], "ref": 2,
                         "idempotency_key": "dc-buy-00002"})
            assert await wait_for(lambda: any(e.get("ref") == 2 for e in buyer.of("error")),
                                  5)
            assert next(e for e in buyer.of("error") if e["ref"] == 2)["code"] == "limit"

            send(buyer, {"type": "chat", "text": "  Are they sweet?  ", "name": "Wei", "ref": 3})
            send(buyer, {"type": "like", "count": 5, "ref": 4})
            assert await wait_for(lambda: other.of("chat") and other.of("likes"), 5)
            assert other.of("chat")[0]["message"]["text"] == "Are they sweet?"
            assert other.of("likes")[-1]["total"] == 5

            # Anonymous viewers can watch, not buy.
            send(other, {"type": "like", "ref": 9})
            assert await wait_for(lambda: other.of("error"), 5)
            assert other.of("error")[0]["code"] == "unauthorized"

            # Garbage of every kind gets an error back and never breaks the channel.
            bad: list[Any] = [b"\xc1", b"\x93\x01\x02\x03", "text frame",
                              msgpack.packb({"type": "teleport"}), msgpack.packb({"no": "type"}),
                              b"\x00" * 5000, msgpack.packb({"type": "chat", "text": "x" * 400}),
                              msgpack.packb({"type": "buy", "sale_id": 5})]
            errors_before = len(buyer.of("error"))
            for item in bad:
                send(buyer, item)
            assert await wait_for(lambda: len(buyer.of("error")) >= errors_before + len(bad),
                                  5)
            codes = {e["code"] for e in buyer.of("error")[errors_before:]}
            assert {"bad_message", "unknown_type", "too_large"} <= codes
            send(buyer, {"type": "ping", "ref": 7})
            assert await wait_for(lambda: buyer.of("pong"), 5)
            assert buyer.pc.connectionState == "connected"

            # The chat limit (5 at once, then one every 2 s) answers on the channel too. The
            # chat above spent one of the 5 and has been refilling since: 4 or 5 go through.
            for ref in range(20, 27):
                send(buyer, {"type": "chat", "text": f"burst {ref}", "ref": ref})
            assert await wait_for(lambda: any(e.get("ref") == 26 for e in buyer.events), 5)
            acks = [e["ref"] for e in buyer.of("chat_ack") if e["ref"] >= 20]
            limited = [e for e in buyer.of("error")
                       if isinstance(e.get("ref"), int) and e["ref"] >= 20]
            assert acks == list(range(20, 20 + len(acks))) and 4 <= len(acks) <= 5
            assert [e["ref"] for e in limited] == list(range(20 + len(acks), 27))
            assert all(e["code"] == "rate_limited" and 0 < e["retry_after"] <= 2.0
                       for e in limited)

            # The host moderates: deletes the message and mutes the viewer.
            mid = other.of("chat")[0]["message"]["message_id"]
            status, _ = await api.call("DELETE", f"/api/rooms/{rid}/chat/{mid}", host)
            assert status == 204
            await api.ok("POST", f"/api/rooms/{rid}/mutes", host, {"viewer_id": vid})
            assert await wait_for(lambda: other.of("chat_deleted"), 5)
            send(buyer, {"type": "chat", "text": "hello again", "ref": 11})
            assert await wait_for(
                lambda: any(e.get("ref") == 11 for e in buyer.of("error")), 5)
            state = await api.ok("GET", f"/api/rooms/{rid}/state")
            assert [m["text"] for m in state["chat"]] == [f"burst {r}" for r in acks]
            assert state["likes"] == 5

            # The host changes the price of the pinned card: every viewer sees the new one.
            await api.ok("POST", f"/api/rooms/{rid}/products", host,
                         {"product_id": product["product_id"]})
            await api.ok("PUT", f"/api/rooms/{rid}/pin", host,
                         {"product_id": product["product_id"]})
            await api.ok("PATCH", f"/api/products/{product['product_id']}", host,
                         {"price": 3500})
            assert await wait_for(lambda: any(e["card"]["price"] == 3500
                                              for e in other.of("card_pinned")), 5)

            # Sequence numbers only go up, one per event.
            seqs = [e["seq"] for e in other.events if "seq" in e and e["type"] != "welcome"]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        finally:
            await buyer.stop()
            await other.stop()


async def test_chat_rate_limit_over_http(server: Running) -> None:
    _, host = await server.new_host()
    room = await server.new_room(host)
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        _, viewer = await api.viewer()
        statuses = [(await api.call("POST", f"/api/rooms/{room['room_id']}/chat", viewer,
                                    {"text": f"message {i}"}))[0] for i in range(8)]
        assert statuses == [201] * 5 + [429] * 3
        status, _ = await api.call("POST", f"/api/rooms/{room['room_id']}/likes", viewer,
                                   {"count": 1000})
        assert status == 400
        await asyncio.sleep(0)

"""One message must never break a room: text that cannot be encoded is refused at the edge,
a stored item that cannot be read is left out of snapshots and welcomes, and the data
channel's free requests (snapshots, card clicks) are limited and counted honestly."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import msgpack

from helpers.clients import wait_for, watch
from helpers.rooms import open_shop
from helpers.servers import Running

FLOOD = 50
SURROGATE = '"hi \\ud800"'  # valid JSON, but no UTF-8 encoder accepts it


async def _raw(http: aiohttp.ClientSession, method: str, url: str, token: str | None,
               raw: str) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, url, data=raw.encode(), headers=headers) as resp:
        return resp.status, await resp.json()


async def test_lone_surrogates_are_refused_everywhere_and_nothing_is_stored(
        server: Running) -> None:
    async with open_shop(server) as shop:
        api, host, rid, product = shop.api, shop.host, shop.rid, shop.product
        http = api.http
        _, viewer = await api.viewer()
        b = server.base
        cases = [
            ("POST", f"{b}/api/rooms/{rid}/chat", viewer, '{"text": ' + SURROGATE + "}"),
            ("POST", f"{b}/api/rooms/{rid}/chat", viewer,
             '{"text": "hello", "name": ' + SURROGATE + "}"),
            ("POST", f"{b}/api/rooms", host, '{"title": ' + SURROGATE + "}"),
            ("PATCH", f"{b}/api/rooms/{rid}", host, '{"title": ' + SURROGATE + "}"),
            ("POST", f"{b}/api/products", host, '{"title": ' + SURROGATE
             + ', "price": 1, "currency": "CNY", "stock": 1}'),
            ("PATCH", f"{b}/api/products/{product['product_id']}", host,
             '{"description": ' + SURROGATE + "}"),
            ("POST", f"{b}/api/rooms/{rid}/chat", viewer, '{"text": "\\ud83d"}'),
            ("POST", f"{b}/api/rooms/{rid}/chat", viewer, '{' + SURROGATE + ': 1}'),
            ("POST", f"{b}/api/rooms/{rid}/chat", viewer, "[" * 8000 + "]" * 8000),
        ]
        for method, url, token, raw in cases:
            status, body = await _raw(http, method, url, token, raw)
            assert status == 400, (method, url, raw[:40], status, body)
            assert body["error"]["code"] == "bad_json" and body["error"]["message"]
        # Control characters in a title are refused too; a real emoji is fine.
        status, _ = await api.call("PATCH", f"/api/rooms/{rid}", host, {"title": "a\x00b"})
        assert status == 400
        await api.ok("POST", f"/api/rooms/{rid}/chat", viewer, {"text": "sweet 🥭", "name": "Wei"})
        state = await api.ok("GET", f"/api/rooms/{rid}/state")
        assert [m["text"] for m in state["chat"]] == ["sweet 🥭"]
        assert (await api.ok("GET", f"/api/rooms/{rid}", host))["title"] == "Mangoes"
        titles = [p["title"] for p in (await api.ok("GET", "/api/products", host))["products"]]
        assert titles == [product["title"]]


async def test_one_unreadable_stored_message_never_breaks_welcomes(server: Running) -> None:
    """A message stored by an older server (the lone surrogate kept as a JSON escape) or a
    half-written one is left out; snapshots over HTTP and welcomes on the channel work."""
    async with open_shop(server, title="Lychee 1 kg") as shop:
        api, host, rid, product = shop.api, shop.host, shop.rid, shop.product
        await api.ok("PUT", f"/api/rooms/{rid}/pin", host, {"product_id": product["product_id"]})
        _, viewer = await api.viewer()
        await api.ok("POST", f"/api/rooms/{rid}/chat", viewer, {"text": "first"})
        bad = json.dumps({"message_id": "m_bad", "viewer_id": "v_x", "name": "x",
                          "text": "hi \ud800", "ts": 1.0})
        await server.ctx.redis.rpush(f"room:{rid}:chat", bad, "{not json", '"a string"')
        await api.ok("POST", f"/api/rooms/{rid}/chat", viewer, {"text": "last"})
        state = await api.ok("GET", f"/api/rooms/{rid}/state")
        assert [m["text"] for m in state["chat"]] == ["first", "last"]
        assert state["pinned"]["title"] == "Lychee 1 kg"
        seen = await watch(server.base, rid)
        try:
            assert await wait_for(lambda: any(e.get("type") == "welcome" for e in seen.events),
                                  15), seen.events
            welcome = next(e for e in seen.events if e["type"] == "welcome")
            assert welcome["snapshot"]["pinned"]["title"] == "Lychee 1 kg"
            assert [m["text"] for m in welcome["snapshot"]["chat"]] == ["first", "last"]
            # The channel holds its messages to the same rules as HTTP bodies.
            seen.channel.send(msgpack.packb({"type": "like", "count": float("nan"), "ref": 7}))
            seen.channel.send(b"\xa3\xed\xa0\x80")  # a msgpack string holding a surrogate
            assert await wait_for(lambda: len(seen.of("error")) >= 2, 5), seen.events
            assert {e["code"] for e in seen.of("error")} == {"bad_message"}
        finally:
            await seen.stop()


async def test_snapshot_floods_are_refused_and_clicks_count_once_per_pin(
        server: Running) -> None:
    async with open_shop(server, title="Pinned") as shop:
        api, host, rid, pinned = shop.api, shop.host, shop.rid, shop.product
        other = await api.product(host, title="Other")
        await api.ok("PUT", f"/api/rooms/{rid}/pin", host, {"product_id": pinned["product_id"]})
        viewer = await watch(server.base, rid)  # anonymous
        try:
            assert await wait_for(lambda: viewer.of("welcome"), 15)
            commands_before = int((await server.ctx.redis.info("stats"))[
                "total_commands_processed"])
            for i in range(FLOOD):  # within the channel's inbox, so none is dropped unread
                viewer.channel.send(msgpack.packb({"type": "snapshot", "ref": i}))
            assert await wait_for(lambda: len([e for e in viewer.events
                                               if isinstance(e.get("ref"), int)]) >= FLOOD, 10)
            answered = [e for e in viewer.events if isinstance(e.get("ref"), int)]
            snapshots = [e for e in answered if e["type"] == "snapshot"]
            refused = [e for e in answered if e.get("code") == "rate_limited"]
            assert 1 <= len(snapshots) <= 5 and len(refused) == FLOOD - len(snapshots), (
                len(snapshots), len(refused))
            assert all(e["retry_after"] > 0 for e in refused)
            used = int((await server.ctx.redis.info("stats"))["total_commands_processed"]) - (
                commands_before)
            assert used < 150, used  # refusals cost Redis nothing (50 snapshots cost ~400)

            def click(pid: str, ref: str) -> None:
                viewer.channel.send(msgpack.packb({"type": "card_click", "product_id": pid,
                                                   "ref": ref}))

            async def ack(ref: str) -> dict[str, Any]:
                assert await wait_for(lambda: any(e.get("ref") == ref for e in viewer.events),
                                      5)
                return next(e for e in viewer.events if e.get("ref") == ref)

            click("p_nothing", "c1")
            assert (await ack("c1"))["counted"] is False
            click(other["product_id"], "c2")
            assert (await ack("c2"))["counted"] is False
            click(pinned["product_id"], "c3")
            assert (await ack("c3"))["counted"] is True
            click(pinned["product_id"], "c4")
            assert (await ack("c4"))["counted"] is False
            await api.ok("PUT", f"/api/rooms/{rid}/pin", host,
                         {"product_id": pinned["product_id"]})
            click(pinned["product_id"], "c5")
            assert (await ack("c5"))["counted"] is True  # a new pin, a new click
            for i in range(20):
                click(pinned["product_id"], f"f{i}")
            assert await wait_for(lambda: sum(1 for e in viewer.events
                                              if str(e.get("ref", "")).startswith("f")) == 20, 5)
            flood = [e for e in viewer.events if str(e.get("ref", "")).startswith("f")]
            assert sum(e.get("code") == "rate_limited" for e in flood) >= 10
            assert not any(e.get("counted") for e in flood)
            assert await server.ctx.redis.scard(f"room:{rid}:clickers") == 1
        finally:
            await viewer.stop()

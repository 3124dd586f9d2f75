"""Fresh identities are no way around limits and mutes: identities are minted at a budget per
client address, chat budgets hold per address, and a mute holds the muted viewer's
addresses and phone, over HTTP and over the data channel."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgpack
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from helpers.addressed import PROXIED, Client
from helpers.clients import wait_for
from helpers.servers import NETNS_ADDRESS, Running, in_netns, start_server
from helpers.shop import CONTACT, Api


async def test_identity_mints_are_limited_per_address(redis_url: str) -> None:
    env = {**PROXIED, "STALLCAST_COMMERCE_VIEWER_MINTS_PER_MINUTE": "5"}
    async with start_server(redis_url, env=env) as server, aiohttp.ClientSession() as http:
        school = Client(server.base, http, "203.0.113.7")
        for _ in range(5):
            await school.viewer()
        status, body, headers = await school.call("POST", "/api/viewers")
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert 1 <= int(headers["Retry-After"]) <= 12  # one identity back every 12 s
        # Hops left of the one the proxy saw are the client's own words: not believed.
        spoofed = Client(server.base, http, "198.51.100.1, 203.0.113.7")
        assert (await spoofed.call("POST", "/api/viewers"))[0] == 429
        # Everyone else still gets identities, and the server is fine.
        await Client(server.base, http, "198.51.100.9").viewer()
        await Client(server.base, http, "2001:db8:1:2::5").viewer()
        async with http.get(f"{server.base}/healthz") as resp:
            assert resp.status == 200
        # An IPv6 client holds its whole /64: another address in it shares the budget.
        for _ in range(4):
            await Client(server.base, http, "2001:db8:1:2::77").viewer()
        assert (await Client(server.base, http, "2001:db8:1:2::99").call(
            "POST", "/api/viewers"))[0] == 429

    # By default X-Forwarded-For is nobody's word: a client cannot pick its own budget.
    async with start_server(redis_url, env={
            "STALLCAST_COMMERCE_VIEWER_MINTS_PER_MINUTE": "5"}) as plain, \
            aiohttp.ClientSession() as http:
        statuses = []
        for i in range(7):  # whatever the header claims, the peer's own address counts
            status, _, _ = await Client(plain.base, http, f"203.0.113.{i}").call(
                "POST", "/api/viewers")
            statuses.append(status)
        assert statuses == [201] * 5 + [429] * 2
        if in_netns():  # a real non-loopback peer is limited by its own address
            conn = aiohttp.TCPConnector(local_addr=(NETNS_ADDRESS, 0))
            async with aiohttp.ClientSession(connector=conn) as direct:
                statuses = []
                for _ in range(7):
                    async with direct.post(f"{plain.base}/api/viewers") as resp:
                        statuses.append(resp.status)
                assert statuses == [201] * 5 + [429] * 2


async def _room_with_product(server: Running, api: Api, host: str) -> tuple[str, str]:
    room = await server.new_room(host)
    product = await api.product(host, stock=50, per_buyer_limit=5)
    await api.ok("POST", f"/api/rooms/{room['room_id']}/products", host,
                 {"product_id": product["product_id"]})
    return room["room_id"], product["product_id"]


async def test_a_muted_viewer_stays_muted_with_a_new_identity(redis_url: str) -> None:
    async with start_server(redis_url, env=PROXIED) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        _, host = await server.new_host()
        rid, pid = await _room_with_product(server, api, host)
        other_room = (await server.new_room(host, "Tea"))["room_id"]
        troll = Client(server.base, http, "203.0.113.7")
        troll_id, token = await troll.viewer()
        assert (await troll.chat(rid, token, "spam"))[0] == 201
        bystander = Client(server.base, http, "198.51.100.9")
        _, bystander_token = await bystander.viewer()

        await api.ok("POST", f"/api/rooms/{rid}/mutes", host, {"viewer_id": troll_id})
        status, body = await troll.chat(rid, token)
        assert status == 403 and body["error"]["code"] == "muted"
        # A new identity from the same address is muted in that room, not in another.
        _, fresh = await troll.viewer()
        status, body = await troll.chat(rid, fresh, "spam again")
        assert status == 403 and body["error"]["code"] == "muted"
        assert (await troll.chat(other_room, fresh, "elsewhere"))[0] == 201
        # Minted at the muted address, then moved to another network: still muted.
        _, moved = await troll.viewer()
        mobile = Client(server.base, http, "192.0.2.44")
        assert (await mobile.chat(rid, moved))[0] == 403
        # Someone else at another address is untouched.
        assert (await bystander.chat(rid, bystander_token))[0] == 201

        # The saved phone number binds too: a new identity on a new network that buys with
        # the same phone (written differently) is muted once its contact is known.
        buyer = Client(server.base, http, "198.51.100.20")
        buyer_id, buyer_token = await buyer.viewer()
        status, body, _ = await buyer.call("POST", f"/api/rooms/{rid}/buy", buyer_token, {
            "product_id": pid, "idempotency_key": "phone-bind-001", "contact": CONTACT})
        assert status == 201, body
        await api.ok("POST", f"/api/rooms/{rid}/mutes", host, {"viewer_id": buyer_id})
        elsewhere = Client(server.base, http, "198.51.100.21")
        _, again = await elsewhere.viewer()
        assert (await elsewhere.chat(rid, again))[0] == 201  # nothing known about it yet
        status, body, _ = await elsewhere.call("POST", f"/api/rooms/{rid}/buy", again, {
            "product_id": pid, "idempotency_key": "phone-bind-002",
            "contact": {**CONTACT, "phone": "+86 (138) 0000-0000"}})
        assert status == 201, body
        status, body = await elsewhere.chat(rid, again)
        assert status == 403 and body["error"]["code"] == "muted"
        # Mutes, limits and mint records keep no address or phone in the clear.
        stored = await _stored_values(server)
        assert "203.0.113" not in stored and "198.51.100" not in stored
        assert "13800000000" not in stored


async def _stored_values(server: Running) -> str:
    """Every key name and every string, set and sorted-set value in Redis (contacts, which
    are hashes, are the buyer's own data and hold the phone on purpose)."""
    redis = server.ctx.redis
    out = []
    async for key in redis.scan_iter(match="*"):
        kind = await redis.type(key)
        out.append(str(key))
        if kind == "string":
            out.append(str(await redis.get(key)))
        elif kind == "set":
            out.append(str(await redis.smembers(key)))
        elif kind == "zset":
            out.append(str(await redis.zrange(key, 0, -1)))
    return " ".join(out)


async def test_chat_budget_holds_across_fresh_identities(redis_url: str) -> None:
    # A minute's window: one unit back every 12 s per identity, every 4 s per address, far
    # longer than the bursts below take.
    env = {**PROXIED, "STALLCAST_COMMERCE_CHAT_WINDOW_S": "60"}
    async with start_server(redis_url, env=env) as server, aiohttp.ClientSession() as http:
        _, host = await server.new_host()
        rid = (await server.new_room(host))["room_id"]
        flood = Client(server.base, http, "203.0.113.7")
        # 5 per identity, 15 per address: six identities do not make 30.
        statuses = []
        for _ in range(6):
            _, token = await flood.viewer()
            for i in range(5):
                statuses.append((await flood.chat(rid, token, f"buy now {i}"))[0])
        assert statuses.count(201) == 15, statuses
        assert statuses[15:] == [429] * 15
        status, body, headers = await flood.call("POST", f"/api/rooms/{rid}/chat",
                                                 (await flood.viewer())[1], {"text": "more"})
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert 1 <= int(headers["Retry-After"]) <= 4
        # The identity's own budget still holds alone, and other addresses chat freely.
        calm = Client(server.base, http, "198.51.100.9")
        _, token = await calm.viewer()
        assert [(await calm.chat(rid, token))[0] for _ in range(6)] == [201] * 5 + [429]


class Watcher:
    """A WHEP viewer with a data channel, watching from one address with one identity."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.pc = RTCPeerConnection()
        self.events: list[dict[str, Any]] = []
        self.channel: Any = None
        self.location = ""

    def say(self, message: dict[str, Any]) -> None:
        self.channel.send(msgpack.packb(message))

    def replies(self, ref: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("ref") == ref]

    def welcomed(self) -> bool:
        return any(e["type"] == "welcome" for e in self.events)

    async def stop(self) -> None:
        if self.location:
            async with aiohttp.ClientSession() as http:
                await http.delete(self.base + self.location)
        await self.pc.close()


async def _watch(base: str, room_id: str, token: str, address: str) -> Watcher:
    watcher = Watcher(base)
    pc, events = watcher.pc, watcher.events
    pc.addTransceiver("video", direction="recvonly")
    watcher.channel = pc.createDataChannel("events")
    watcher.channel.on("message", lambda m: events.append(msgpack.unpackb(m)))
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}",
               "X-Forwarded-For": address}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/whep/{room_id}", data=pc.localDescription.sdp,
                             headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            answer, watcher.location = await resp.text(), resp.headers["Location"]
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return watcher


async def test_data_channel_chat_knows_the_address_it_watches_from(redis_url: str) -> None:
    if not in_netns():
        pytest.skip("opens WebRTC connections: run inside scripts/netns-run")
    async with start_server(redis_url, env=PROXIED) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        _, host = await server.new_host()
        rid = (await server.new_room(host))["room_id"]
        troll = Client(server.base, http, "203.0.113.7")
        troll_id, token = await troll.viewer()
        assert (await troll.chat(rid, token))[0] == 201
        await api.ok("POST", f"/api/rooms/{rid}/mutes", host, {"viewer_id": troll_id})
        # A new identity minted elsewhere, watching from the muted address.
        _, fresh = await Client(server.base, http, "198.51.100.30").viewer()
        # The same identity is refused where it watches from the muted address only.
        muted = await _watch(server.base, rid, fresh, "203.0.113.7")
        free = await _watch(server.base, rid, fresh, "198.51.100.30")
        try:
            assert await wait_for(lambda: muted.welcomed() and free.welcomed(), 15)
            muted.say({"type": "chat", "text": "hi", "ref": 1})
            free.say({"type": "chat", "text": "hi", "ref": 2})
            assert await wait_for(lambda: muted.replies(1) and free.replies(2), 5)
            assert muted.replies(1)[0].get("code") == "muted", muted.replies(1)
            assert free.replies(2)[0]["type"] == "chat_ack", free.replies(2)
        finally:
            await muted.stop()
            await free.stop()

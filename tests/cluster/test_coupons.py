"""Coupons against a real server and Redis: 500 viewers claiming at once never get more
claims than the quota, one each; a buy applies a claimed coupon once, above its minimum,
and the order records it; ended, expired and off-show coupons are refused; a cancelled
order gives the coupon back; claims also go over the data channel; merging identities
keeps one claim per coupon; every key lapses keep_days after its coupon (a cancel after
that makes none again), a room pushes at most max_pushes_per_day, and a viewer merged into
an account claims no more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgpack
import pytest
import redis.asyncio as aioredis

from helpers.clients import wait_for, watch
from helpers.rooms import Shop, open_shop
from helpers.servers import Running, start_server
from helpers.shop import Api, contact_for
from server.commerce.coupons import ACTIVE_CACHE_S
from server.platform.errors import RuleError

CLAIMERS = 500
QUOTA = 120


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def push(shop: Shop, **fields: Any) -> dict[str, Any]:
    body = {"kind": "amount", "value": 1000, "currency": "CNY", "quota": 50,
            "valid_hours": 2, **fields}
    return await shop.api.ok(  # type: ignore[no-any-return]
        "POST", f"/api/rooms/{shop.rid}/coupons", shop.host, body)


async def claim(api: Api, rid: str, cid: str, token: str) -> tuple[int, Any]:
    return await api.call("POST", f"/api/rooms/{rid}/coupons/{cid}/claim", token)


async def buy(shop: Shop, viewer: tuple[str, str], key: str, **fields: Any) -> tuple[int, Any]:
    vid, token = viewer
    return await shop.api.call("POST", f"/api/rooms/{shop.rid}/buy", token, {
        "product_id": shop.pid, "idempotency_key": key, "contact": contact_for(vid),
        **fields})


async def test_500_concurrent_claimers_never_exceed_the_quota(server: Running,
                                                              redis_url: str) -> None:
    raw = aioredis.Redis.from_url(redis_url)
    listener = raw.pubsub()
    connector = aiohttp.TCPConnector(limit=200)
    async with open_shop(server, in_room=True, connector=connector) as shop:
        await listener.subscribe(f"stallcast:room:{shop.rid}")
        coupon = await push(shop, quota=QUOTA)
        assert coupon["left"] == QUOTA and coupon["scope"] == "hours" and coupon["active"]
        viewers = await asyncio.gather(*(shop.api.viewer() for _ in range(CLAIMERS)))
        assert len({vid for vid, _ in viewers}) == CLAIMERS

        # Every viewer taps twice, all at once.
        taps = [token for _, token in viewers] * 2
        replies = await asyncio.gather(*(claim(shop.api, shop.rid, coupon["coupon_id"], t)
                                         for t in taps))
        firsts = [r for status, r in replies if status == 201]
        assert len(firsts) == QUOTA
        again = [r for status, r in replies if status == 200]
        assert all(r["already"] for r in again) and len(again) == QUOTA
        gone = [r for status, r in replies if status == 409]
        assert len(gone) == 2 * CLAIMERS - 2 * QUOTA
        assert {r["error"]["code"] for r in gone} == {"coupon_gone"}
        assert sorted(r["left"] for r in firsts) == list(range(QUOTA))

        listed = await shop.api.ok("GET", f"/api/rooms/{shop.rid}/coupons", shop.host)
        (mine,) = listed["coupons"]
        assert mine["claimed"] == QUOTA and mine["left"] == 0
        # One field per claim, besides the placeholder that holds the key's expiry.
        assert await server.ctx.redis.hlen(f"coupon:{coupon['coupon_id']}:claims") == QUOTA + 1

        # Claim counts reach viewers coalesced: a handful of events, the last saying none left.
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(5):
            while not events or events[-1]["left"] != 0:
                message = await listener.get_message(ignore_subscribe_messages=True,
                                                     timeout=1)
                if message is None:
                    continue
                event = msgpack.unpackb(message["data"].partition(b" ")[2])
                if event["type"] == "coupon_claimed":
                    events.append(event)
        assert len(events) < QUOTA // 4, len(events)
        assert events[-1]["claimed"] == QUOTA
        # The snapshot lists the coupon for late joiners.
        state = await shop.api.ok("GET", f"/api/rooms/{shop.rid}/state")
        assert [c["coupon_id"] for c in state["coupons"]] == [coupon["coupon_id"]]
    await listener.aclose()
    await raw.aclose()


async def test_a_buy_applies_a_claimed_coupon_once(server: Running) -> None:
    async with open_shop(server, in_room=True, price=3900, shipping_fee=500,
                         per_buyer_limit=10) as shop:
        coupon = await push(shop, value=1000, min_order=5000)
        cid = coupon["coupon_id"]
        buyer, stranger = await shop.api.viewer(), await shop.api.viewer()
        status, reply = await buy(shop, buyer, "cp-unclaimed", coupon_id=cid)
        assert status == 409 and reply["error"]["code"] == "coupon_unclaimed"
        assert (await claim(shop.api, shop.rid, cid, buyer[1]))[0] == 201

        status, reply = await buy(shop, buyer, "cp-under-min", coupon_id=cid)  # 3900 < 5000
        assert status == 409 and reply["error"]["code"] == "coupon_minimum"
        status, order = await buy(shop, buyer, "cp-applied", coupon_id=cid, quantity=2)
        assert status == 201, order
        assert order["coupon_id"] == cid and order["discount"] == 1000
        assert order["total"] == 2 * 3900 + 500 - 1000
        # A replay of the same key is the same order, not a second use.
        status, same = await buy(shop, buyer, "cp-applied", coupon_id=cid, quantity=2)
        assert status == 200 and same["order_id"] == order["order_id"]
        status, reply = await buy(shop, buyer, "cp-twice", coupon_id=cid, quantity=2)
        assert status == 409 and reply["error"]["code"] == "coupon_used"
        # The same person under a fresh identity, claiming again, cannot use it twice.
        fresh_vid, fresh = await shop.api.viewer()
        assert (await claim(shop.api, shop.rid, cid, fresh))[0] == 201
        status, reply = await shop.api.call("POST", f"/api/rooms/{shop.rid}/buy", fresh, {
            "product_id": shop.pid, "idempotency_key": "cp-same-person", "quantity": 2,
            "coupon_id": cid, "contact": contact_for(buyer[0])})
        assert status == 409 and reply["error"]["code"] == "coupon_used", reply
        assert (await buy(shop, stranger, "cp-stranger", coupon_id=cid, quantity=2))[0] == 409

        host_view = [o for o in await shop.api.orders(shop.host)
                     if o["order_id"] == order["order_id"]]
        assert host_view[0]["coupon_id"] == cid and host_view[0]["discount"] == 1000
        mine = await shop.api.ok("GET", f"/api/rooms/{shop.rid}/coupons/mine", buyer[1])
        assert [(c["coupon_id"], c["used"]) for c in mine["coupons"]] == [(cid, True)]
        # Without a coupon nothing is taken off.
        status, plain = await buy(shop, stranger, "cp-plain")
        assert status == 201 and plain["discount"] == 0 and plain["coupon_id"] == ""
        assert plain["total"] == 3900 + 500

        # Cancelled, the order gives the coupon back to its buyer.
        await shop.api.ok("POST", f"/api/orders/{order['order_id']}/cancel", shop.host, {})
        status, again = await buy(shop, buyer, "cp-after-cancel", coupon_id=cid, quantity=2)
        assert status == 201 and again["discount"] == 1000, again
        listed = await shop.api.ok("GET", f"/api/rooms/{shop.rid}/coupons", shop.host)
        assert listed["coupons"][0]["used"] == 1


async def test_percentages_round_to_the_minor_unit(server: Running) -> None:
    async with open_shop(server, in_room=True, price=333, currency="JPY") as shop:
        coupon = await push(shop, kind="percent", value=15, currency="")
        viewer = await shop.api.viewer()
        await claim(shop.api, shop.rid, coupon["coupon_id"], viewer[1])
        status, order = await buy(shop, viewer, "pct-jpy-1", coupon_id=coupon["coupon_id"])
        assert status == 201 and order["discount"] == 50 and order["total"] == 283  # 49.95
    async with open_shop(server, in_room=True, price=1999, per_buyer_limit=5) as shop:
        coupon = await push(shop, kind="percent", value=10, currency="")
        full = await push(shop, kind="percent", value=100, currency="")
        viewer, other = await shop.api.viewer(), await shop.api.viewer()
        await claim(shop.api, shop.rid, coupon["coupon_id"], viewer[1])
        status, order = await buy(shop, viewer, "pct-cny-1", coupon_id=coupon["coupon_id"],
                                  quantity=3)
        assert status == 201 and order["discount"] == 600  # 599.7
        await claim(shop.api, shop.rid, full["coupon_id"], other[1])
        status, order = await buy(shop, other, "pct-all-1", coupon_id=full["coupon_id"])
        assert status == 201 and order["discount"] == 1999 and order["total"] == 0


async def test_ended_expired_and_off_show_coupons_are_refused(server: Running,
                                                             redis: aioredis.Redis) -> None:
    async with open_shop(server, in_room=True, per_buyer_limit=10) as shop:
        api, rid = shop.api, shop.rid
        status, reply = await api.call("POST", f"/api/rooms/{rid}/coupons", shop.host, {
            "kind": "percent", "value": 10, "quota": 5})
        assert status == 409, reply  # "for this show" with no show live
        await redis.set(f"room:{rid}:session", "sess_coupons")  # as a live session has
        show = await push(shop, valid_hours=0, value=100)
        assert show["scope"] == "show"
        ended = await push(shop, value=200)
        expiring = await push(shop, value=300)
        viewer = await api.viewer()
        for c in (show, ended, expiring):
            assert (await claim(api, rid, c["coupon_id"], viewer[1]))[0] == 201
        late = await api.viewer()

        assert (await api.ok("POST", f"/api/rooms/{rid}/coupons/{ended['coupon_id']}/end",
                             shop.host))["active"] is False
        # The clock passes the coupon's end (its expires_at, as an hour going by would).
        await redis.hset(f"coupon:{expiring['coupon_id']}", "expires_at", "1")
        for n, c in enumerate((ended, expiring)):
            status, reply = await buy(shop, viewer, f"gone-key-{n}", coupon_id=c["coupon_id"])
            assert status == 409 and reply["error"]["code"] == "coupon_ended", reply
            status, reply = await claim(api, rid, c["coupon_id"], late[1])
            assert status == 409 and reply["error"]["code"] == "coupon_ended"
        await asyncio.sleep(ACTIVE_CACHE_S)
        state = await api.ok("GET", f"/api/rooms/{rid}/state")
        assert [c["coupon_id"] for c in state["coupons"]] == [show["coupon_id"]]

        await redis.delete(f"room:{rid}:session")  # the show ends
        status, reply = await buy(shop, viewer, "show-over", coupon_id=show["coupon_id"])
        assert status == 409 and reply["error"]["code"] == "coupon_ended"
        assert (await claim(api, rid, show["coupon_id"], late[1]))[0] == 409
        # Snapshots reuse a room's active list for ACTIVE_CACHE_S: gone from them after that.
        await asyncio.sleep(ACTIVE_CACHE_S)
        assert (await api.ok("GET", f"/api/rooms/{rid}/state"))["coupons"] == []


async def test_caps_and_bad_input(server: Running) -> None:
    async with open_shop(server, in_room=True) as shop, open_shop(server) as other:
        api, rid = shop.api, shop.rid
        for bad in ({"kind": "gift", "value": 1, "quota": 1},
                    {"kind": "percent", "value": 101, "quota": 1},
                    {"kind": "amount", "value": 100, "quota": 1, "valid_hours": 1},
                    {"kind": "amount", "value": 100, "currency": "CNY", "quota": 0,
                     "valid_hours": 1},
                    {"kind": "amount", "value": 100, "currency": "CNY", "quota": 10**9,
                     "valid_hours": 1},
                    {"kind": "percent", "value": 5, "quota": 5, "valid_hours": 9999},
                    {"kind": "percent", "value": 5, "quota": 5, "valid_hours": 1, "x": 1}):
            status, reply = await api.call("POST", f"/api/rooms/{rid}/coupons", shop.host, bad)
            assert status == 400, (bad, reply)
        status, _ = await api.call("POST", f"/api/rooms/{rid}/coupons", other.host, {
            "kind": "percent", "value": 5, "quota": 5, "valid_hours": 1})
        assert status == 403
        made = [await push(shop) for _ in range(server.config.coupons.max_active_per_room)]
        status, reply = await api.call("POST", f"/api/rooms/{rid}/coupons", shop.host, {
            "kind": "percent", "value": 5, "quota": 5, "valid_hours": 1})
        assert status == 429 and reply["error"]["code"] == "quota"
        await api.ok("POST", f"/api/rooms/{rid}/coupons/{made[0]['coupon_id']}/end", shop.host)
        await push(shop)  # one ended: room for one more
        viewer = await api.viewer()
        status, _ = await claim(api, other.rid, made[1]["coupon_id"], viewer[1])
        assert status == 404  # another room's coupon
        status, reply = await buy(shop, viewer, "bad-coupon-id", coupon_id="nope")
        assert status == 400
        status, _ = await claim(api, rid, made[1]["coupon_id"], "v_forged.sig")
        assert status == 401


async def test_claims_over_the_data_channel_and_merging(server: Running) -> None:
    async with open_shop(server, in_room=True) as shop:
        coupon = await push(shop, quota=1)
        cid = coupon["coupon_id"]
        vid, token = await shop.api.viewer()
        viewer = await watch(server.base, shop.rid, token=token)
        try:
            assert await wait_for(lambda: viewer.of("welcome"), 15)
            assert [c["coupon_id"] for c in viewer.of("welcome")[0]["snapshot"]["coupons"]] \
                == [cid]
            for ref in (1, 2):
                viewer.channel.send(msgpack.packb({"type": "claim_coupon", "coupon_id": cid,
                                                   "ref": ref}))
                assert await wait_for(lambda ref=ref: [e for e in viewer.events
                                                       if e.get("ref") == ref], 10)
            first, second = (next(e for e in viewer.events if e.get("ref") == r)
                             for r in (1, 2))
            assert first["type"] == "coupon_claim_result" and first["left"] == 0
            assert second["already"] is True
            assert await wait_for(lambda: viewer.of("coupon_claimed"), 5)
        finally:
            await viewer.stop()
        # Signing in elsewhere merges this identity into an account: the claim moves with it.
        account_vid, account = await shop.api.viewer()
        assert await server.ctx.commerce.coupons.merge(vid, account_vid) == 1
        mine = await shop.api.ok("GET", f"/api/rooms/{shop.rid}/coupons/mine", account)
        assert [c["coupon_id"] for c in mine["coupons"]] == [cid]
        assert (await shop.api.ok("GET", f"/api/rooms/{shop.rid}/coupons/mine",
                                  token))["coupons"] == []
        status, order = await buy(shop, (account_vid, account), "merged-buy", coupon_id=cid)
        assert status == 201 and order["discount"] == 1000


async def test_merging_two_claims_keeps_one(server: Running) -> None:
    async with open_shop(server, in_room=True) as shop:
        coupon = await push(shop, quota=5)
        cid = coupon["coupon_id"]
        (a, ta), (b, tb) = await shop.api.viewer(), await shop.api.viewer()
        await claim(shop.api, shop.rid, cid, ta)
        await claim(shop.api, shop.rid, cid, tb)
        assert (await buy(shop, (a, ta), "merge-used", coupon_id=cid))[0] == 201
        # a's claim is used, b's is not: the used one stands and b's slot goes back.
        assert await server.ctx.commerce.coupons.merge(a, b) == 1
        listed = await shop.api.ok("GET", f"/api/rooms/{shop.rid}/coupons", shop.host)
        assert listed["coupons"][0]["claimed"] == 1 and listed["coupons"][0]["left"] == 4
        status, reply = await buy(shop, (b, tb), "merge-again", coupon_id=cid)
        assert status == 409 and reply["error"]["code"] == "coupon_used"


async def test_a_buy_with_a_coupon_is_still_one_round_trip(server: Running,
                                                           redis: aioredis.Redis) -> None:
    """The coupon is checked, applied and marked used inside the buy script: a buy naming
    one is one EVALSHA, and nothing else the node sends names the buyer."""
    from test_buy_round_trips import buy_calls, per_attempt, sent, warm_up

    async with open_shop(server, in_room=True, per_buyer_limit=5) as shop:
        coupon = await push(shop, kind="percent", value=10, currency="")
        viewers = [await shop.api.viewer() for _ in range(4)]
        for _, token in viewers:
            await claim(shop.api, shop.rid, coupon["coupon_id"], token)
        await warm_up(shop.api, shop.rid, viewers[0][1])
        await redis.config_set("slowlog-log-slower-than", 0)
        await redis.config_set("slowlog-max-len", 100_000)
        try:
            await sent(redis)
            for n, viewer in enumerate(viewers):
                status, order = await buy(shop, viewer, f"one-trip-{n}",
                                          coupon_id=coupon["coupon_id"])
                assert status == 201 and order["discount"] == 390, order
                status, _ = await buy(shop, viewer, f"one-trip-again-{n}",
                                      coupon_id=coupon["coupon_id"])
                assert status == 409
            commands = await sent(redis)
        finally:
            await redis.config_set("slowlog-log-slower-than", 10_000)
        assert buy_calls(commands) == 2 * len(viewers)
        assert per_attempt(commands, [v for v, _ in viewers], shop.rid) == []


async def ttl_near(redis: aioredis.Redis, key: str, seconds: float) -> None:
    ttl = await redis.ttl(key)
    assert seconds - 5 <= ttl <= seconds + 5, (key, ttl, seconds)


async def test_coupon_keys_lapse_after_the_coupon(redis_url: str,
                                                  redis: aioredis.Redis) -> None:
    env = {"STALLCAST_COUPONS_KEEP_DAYS": "2", "STALLCAST_COUPONS_MAX_HOURS": "48"}
    async with start_server(redis_url, env) as server, \
            open_shop(server, in_room=True, per_buyer_limit=10) as shop:
        coupon = await push(shop, valid_hours=2)
        cid = coupon["coupon_id"]
        keys = [f"coupon:{cid}", f"coupon:{cid}:claims", f"coupon:{cid}:people"]
        lapse = 2 * 3600 + 2 * 86400
        for key in keys:
            await ttl_near(redis, key, lapse)
        await ttl_near(redis, f"room:{shop.rid}:coupons", 48 * 3600 + 2 * 86400)
        vid, token = await shop.api.viewer()
        assert (await claim(shop.api, shop.rid, cid, token))[0] == 201
        assert await redis.type(f"viewer:{vid}:coupons") == "zset"
        await ttl_near(redis, f"viewer:{vid}:coupons", lapse)
        status, order = await buy(shop, (vid, token), "ttl-key-1", coupon_id=cid)
        assert status == 201 and order["discount"] == 1000
        await shop.api.ok("POST", f"/api/orders/{order['order_id']}/cancel", shop.host, {})
        for key in keys:  # the buy and the cancel kept each key's expiry
            await ttl_near(redis, key, lapse)
        assert await redis.hget(keys[1], vid) == "claimed"

        # Bought again, then the coupon's keep passes: the order cancelled after that gives
        # its claim back to nothing, and makes no key without an expiry.
        status, late = await buy(shop, (vid, token), "ttl-key-2", coupon_id=cid)
        assert status == 201, late
        for key in keys:
            await redis.pexpire(key, 1)
        await asyncio.sleep(0.05)
        await shop.api.ok("POST", f"/api/orders/{late['order_id']}/cancel", shop.host, {})
        assert await redis.exists(*keys) == 0
        # Gone, the coupon is refused cleanly: by the buy, and by a claim.
        status, reply = await buy(shop, (vid, token), "ttl-key-3", coupon_id=cid)
        assert status == 409 and reply["error"]["code"] == "coupon_invalid", reply
        assert await redis.exists(*keys) == 0
        other = await shop.api.viewer()
        assert (await claim(shop.api, shop.rid, cid, other[1]))[0] == 404
        assert await redis.exists(*keys, f"viewer:{other[0]}:coupons") == 0


async def test_a_room_pushes_at_most_so_many_a_day(redis_url: str,
                                                   redis: aioredis.Redis) -> None:
    env = {"STALLCAST_COUPONS_MAX_PUSHES_PER_DAY": "3", "STALLCAST_COUPONS_KEEP_DAYS": "1"}
    async with start_server(redis_url, env) as server, open_shop(server, in_room=True) as shop:
        made = []
        for _ in range(3):
            made.append(await push(shop))
            await shop.api.ok(  # ended at once: only the day's count stops the next
                "POST", f"/api/rooms/{shop.rid}/coupons/{made[-1]['coupon_id']}/end",
                shop.host)
        url = f"{server.base}/api/rooms/{shop.rid}/coupons"
        body = {"kind": "percent", "value": 5, "quota": 5, "valid_hours": 1}
        async with shop.api.http.post(url, json=body, headers={
                "Authorization": f"Bearer {shop.host}"}) as resp:
            reply = await resp.json()
            assert resp.status == 429 and reply["error"]["code"] == "rate_limited", reply
            assert 86000 < int(resp.headers["Retry-After"]) <= 86400
        # A day goes by for the first push only: room for one more, and no more.
        listed = f"room:{shop.rid}:coupons"
        first = made[0]["created_at"]
        await redis.zadd(listed, {made[0]["coupon_id"]: first - 86401}, xx=True)
        await push(shop)
        assert (await shop.api.call("POST", url.removeprefix(server.base), shop.host,
                                    body))[0] == 429
        # Pushed longer ago than any coupon's keys live, an id leaves the room's list.
        longest = 168 * 3600 + 86400
        await redis.zadd(listed, {made[1]["coupon_id"]: first - longest - 10}, xx=True)
        await push(shop)
        assert await redis.zscore(listed, made[1]["coupon_id"]) is None
        assert await redis.zscore(listed, made[0]["coupon_id"]) is not None


async def test_a_merged_identity_claims_no_more(server: Running,
                                                redis: aioredis.Redis) -> None:
    """Another node may not know of the merge yet: the claim script itself refuses."""
    async with open_shop(server, in_room=True) as shop:
        coupon = await push(shop, quota=5)
        cid = coupon["coupon_id"]
        (old, old_token), (account, _) = await shop.api.viewer(), await shop.api.viewer()
        await redis.set(f"viewer:{old}:merged_into", account)  # as sign-in marks it
        with pytest.raises(RuleError) as refused:
            await server.ctx.commerce.coupons.claim(shop.rid, old, cid)
        assert refused.value.code == "merged"
        status, reply = await claim(shop.api, shop.rid, cid, old_token)
        assert status == 401 and reply["error"]["code"] == "merged", reply
        listed = await shop.api.ok("GET", f"/api/rooms/{shop.rid}/coupons", shop.host)
        assert listed["coupons"][0]["claimed"] == 0
        assert await redis.hget(f"coupon:{cid}:claims", old) is None

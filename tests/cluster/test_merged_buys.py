"""A merged identity buys nothing anywhere, at once: the buy scripts (ROOM_BUY, BUY) refuse
``viewer:{id}:merged_into`` themselves, so a node that has not yet heard of a merge made on
another node cannot take an order under the old id (it would miss the account). Prize
orders (BUY) carry the product's ship-by promise like a viewer's buy. Wrong sign-in codes
add up per number over a day, across codes, then lock the number."""

from __future__ import annotations

import logging
import time

import aiohttp
import msgpack
import pytest
from test_accounts import Client, code_for, logged_code

from helpers.addressed import PROXIED
from helpers.clients import wait_for, watch
from helpers.rooms import open_shop
from helpers.servers import start_server
from helpers.shop import contact_for
from server.commerce.delivery import overdue
from server.commerce.rules import Contact
from server.commerce.store import BuyRefused


@pytest.fixture(autouse=True)
def _sms_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stallcast")


async def test_a_buy_on_another_node_right_after_a_merge_is_refused(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    phone = "+8613900139031"
    async with start_server(redis_url, PROXIED) as node1, \
            start_server(redis_url, PROXIED) as node2, \
            open_shop(node1, in_room=True, per_buyer_limit=3) as shop:
        # Node 2 stops following merges: it stands for a node inside its poll window.
        poll = node2.ctx.accounts._poll
        assert poll is not None
        poll.cancel()
        here, there = Client(node1.base, shop.api.http), Client(node2.base, shop.api.http)
        va, ta = await here.viewer()
        vb, tb = await here.viewer()
        assert (await here.sign_in(ta, phone, await code_for(here, caplog, ta, phone)))[0] == 200
        watching = await watch(node2.base, shop.rid, token=tb)  # B's page, on node 2
        try:
            assert await wait_for(lambda: watching.of("welcome"), 15)
            status, body = await here.sign_in(tb, phone, await code_for(here, caplog, tb,
                                                                          phone))
            assert status == 200 and body["outcome"] == "merge" and body["viewer_id"] == va
            # Its data channel on node 2 buys nothing either: the script says merged.
            watching.channel.send(msgpack.packb({
                "type": "buy", "product_id": shop.pid, "quantity": 1, "ref": 7,
                "idempotency_key": "late-b-dc", "contact": contact_for(vb)}))
            assert await wait_for(lambda: [e for e in watching.events if e.get("ref") == 7],
                                  10)
            late = [e for e in watching.events if e.get("ref") == 7][0]
            assert late["type"] == "error" and late["code"] == "merged", late
        finally:
            await watching.stop()

        redis = node1.ctx.redis
        stock = await redis.hget(f"product:{shop.pid}", "stock")
        status, body, headers = await there.call(
            "POST", f"/api/rooms/{shop.rid}/buy", tb,
            {"product_id": shop.pid, "quantity": 1, "idempotency_key": "late-b-01",
             "contact": contact_for(vb)})
        assert node2.ctx.viewers.merged_into(vb) is None  # the script refused it, not memory
        assert status == 401, body
        merged = await here.call("GET", "/api/me", tb)  # node 1 knows: the auth helper's 401
        assert body == merged[1] and merged[0] == 401
        assert headers["WWW-Authenticate"] == merged[2]["WWW-Authenticate"]
        # Nothing was written for the old id.
        assert await redis.hget(f"product:{shop.pid}", "stock") == stock
        assert not await redis.exists(f"idem:{vb}:late-b-01", f"idem:{vb}:late-b-dc",
                                      f"buyer:{vb}:orders")
        assert await redis.hget(f"product:{shop.pid}:buyers", vb) is None
        assert await redis.zcard(f"room:{shop.rid}:orders") == 0
        # The account's own token buys through node 2.
        status, body, _ = await there.call(
            "POST", f"/api/rooms/{shop.rid}/buy", ta,
            {"product_id": shop.pid, "quantity": 1, "idempotency_key": "phone-a-01",
             "contact": contact_for(va)})
        assert status == 201 and body["buyer_id"] == va, body

        # Class buys and prize orders (BUY) refuse the old id the same way.
        product = await node2.ctx.commerce.store.products.get(shop.pid)
        assert product is not None
        with pytest.raises(BuyRefused) as refused:
            await node2.ctx.commerce.store.buy(
                buyer_id=vb, source=product, sale_id="", quantity=1, idem="prize-b",
                contact=Contact("", "", ""), room_id=shop.rid, confirm=False,
                reservation_ttl=60, now=time.time(), source_key=f"product:{shop.pid}")
        assert refused.value.code == "merged"
        assert not await redis.exists(f"idem:{vb}:prize-b", f"buyer:{vb}:orders")


async def test_prize_orders_carry_the_ship_by_promise(redis_url: str) -> None:
    async with start_server(redis_url) as server, \
            open_shop(server, in_room=True, ship_by_hours=48) as shop:
        store = server.ctx.commerce.store
        product = await store.products.get(shop.pid)
        assert product is not None
        vid, _ = await shop.api.viewer()
        now = time.time()
        # As an auction's winner's order is made (the lot's hash holds the stock).
        lot = "auction:a_test:lot"
        await server.ctx.redis.hset(lot, mapping={"stock": 1, "product_id": shop.pid,
                                                  "status": "active"})
        order, created, _ = await store.buy(
            buyer_id=vid, source=product, sale_id="", quantity=1, idem="auction-a_test-0",
            contact=Contact("", "", ""), room_id=shop.rid, confirm=False,
            reservation_ttl=600, now=now, source_key=lot, extra={"prize": "auction"})
        assert created and order.get("ship_by") == pytest.approx(now + 48 * 3600, abs=0.01)
        host_id = product["host_id"]
        for index in ("ship_by", f"host:{host_id}:ship_by"):
            assert await server.ctx.redis.zscore(index, order["order_id"]) == pytest.approx(
                now + 48 * 3600, abs=0.01)
        # Past its deadline unshipped, it counts as overdue for its host.
        late = await overdue(server.ctx.redis, host_id, now + 49 * 3600)
        assert late["orders"] == [order["order_id"]]


async def test_wrong_codes_add_up_across_codes_and_lock_the_number(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    env = {**PROXIED, "STALLCAST_ACCOUNTS_MAX_WRONG_PER_DAY": "7",
           "STALLCAST_ACCOUNTS_CODES_PER_PHONE": "10"}
    phone = "+8613900139032"
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        client = Client(server.base, http)
        _, token = await client.viewer()
        code = await code_for(client, caplog, token, phone)
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):  # the first code burns after 5 wrong tries
            status, body = await client.sign_in(token, phone, wrong)
            assert status == 400 and body["error"]["code"] == "wrong_code"
        code = await code_for(client, caplog, token, phone)
        wrong = "000000" if code != "000000" else "111111"
        status, body = await client.sign_in(token, phone, wrong)
        assert status == 400 and "1 tries left" in body["error"]["message"], body
        # The 7th wrong try today locks the number: no code checked, none sent.
        status, body, headers = await client.call(
            "POST", "/api/account/signin", token, {"phone": phone, "code": wrong})
        assert status == 429 and body["error"]["code"] == "rate_limited", body
        assert 86_000 <= int(headers["Retry-After"]) <= 86_400
        status, body, headers = await client.call(
            "POST", "/api/account/signin", token, {"phone": phone, "code": code})
        assert status == 429 and int(headers["Retry-After"]) > 86_000, body
        sent = logged_code(caplog, phone[-4:])
        status, body, headers = await client.ask_code(token, phone)
        assert status == 429 and "wrong codes" in body["error"]["message"], body
        assert logged_code(caplog, phone[-4:]) == sent and int(headers["Retry-After"]) > 1
        ttl = await server.ctx.redis.ttl(
            f"signin:{server.ctx.accounts._phone_id(phone)}:wrong")
        assert 86_000 <= ttl <= 86_400
        # Another number is not affected.
        other = "+8613900139033"
        status, body = await client.sign_in(
            token, other, await code_for(client, caplog, token, other))
        assert status == 200, body

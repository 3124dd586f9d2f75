"""Live auctions with real Redis and 200 concurrent bidders over HTTP: exactly one winner at
the highest valid bid, every accepted bid beat the one before by the increment, late bids
extend the end, the winner's order exists at that price, and after the winner's time limit
the host offers the lot to the runner-up."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp

from helpers.servers import Running, start_server
from helpers.shop import Api, contact_for

BIDDERS = 200
START, STEP = 1000, 50


async def _bidder(api: Api, room_id: str, aid: str, token: str, rounds: int) -> int:
    """Bid the next valid amount a few times, at random moments; the number accepted."""
    accepted = 0
    for _ in range(rounds):
        status, view = await api.call("GET", f"/api/rooms/{room_id}/auction")
        assert status == 200
        amount = view["auction"]["next_amount"] + random.choice((0, 0, STEP))
        status, body = await api.call("POST", f"/api/rooms/{room_id}/auctions/{aid}/bids",
                                      token, {"amount": amount})
        if status == 201:
            accepted += 1
        else:
            assert status in (400, 409, 429), (status, body)  # 429: a quick tapper's limit
            assert body["error"]["code"] in ("too_low", "conflict", "ended",
                                             "rate_limited"), body
        await asyncio.sleep(random.random() * 0.3)
    return accepted


async def test_two_hundred_bidders_one_winner(server: Running) -> None:
    _, host = await server.new_host()
    room = await server.new_room(host)
    room_id = room["room_id"]
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=BIDDERS)) as http:
        api = Api(server.base, http)
        product = await api.product(host, stock=3)
        pid = product["product_id"]
        viewers = await asyncio.gather(*(api.viewer() for _ in range(BIDDERS)))
        for vid, token in viewers[:3]:
            await api.ok("PUT", "/api/me", token, {"nickname": f"Nick {vid[-4:]}"})
        # Refused: not the room's host, bad fields.
        status, _ = await api.call("POST", f"/api/rooms/{room_id}/auctions", viewers[0][1],
                                   {"product_id": pid})
        assert status == 401
        status, body = await api.call("POST", f"/api/rooms/{room_id}/auctions", host, {
            "product_id": pid, "start_price": 0, "increment": STEP, "duration_s": 6})
        assert status == 400 and body["error"]["code"] == "invalid"
        auction = await api.ok("POST", f"/api/rooms/{room_id}/auctions", host, {
            "product_id": pid, "start_price": START, "increment": STEP, "duration_s": 5,
            "extend_s": 2, "confirm_s": 2})
        aid = auction["auction_id"]
        assert auction["status"] == "running" and auction["next_amount"] == START
        status, _ = await api.call("POST", f"/api/rooms/{room_id}/auctions", host, {
            "product_id": pid, "start_price": START, "increment": STEP, "duration_s": 6})
        assert status == 409  # one at a time
        assert (await api.ok("GET", f"/api/products/{pid}", host))["stock"] == 2
        # The first bid must reach the starting price; the highest cannot outbid itself.
        first = viewers[0][1]
        status, body = await api.call("POST", f"/api/rooms/{room_id}/auctions/{aid}/bids",
                                      first, {"amount": START - 1})
        assert status == 400 and body["error"]["code"] == "too_low"
        await api.ok("POST", f"/api/rooms/{room_id}/auctions/{aid}/bids", first,
                     {"amount": START})
        status, body = await api.call("POST", f"/api/rooms/{room_id}/auctions/{aid}/bids",
                                      first, {"amount": START + 5 * STEP})
        assert status == 409 and body["error"]["code"] == "conflict"
        for bad in ({"amount": "9"}, {"amount": 1.5}, {}, {"amount": 10**12}):
            status, _ = await api.call("POST", f"/api/rooms/{room_id}/auctions/{aid}/bids",
                                       viewers[1][1], bad)
            assert status == 400, bad
        started = time.time()
        counts = await asyncio.gather(*(
            _bidder(api, room_id, aid, token, 6) for _, token in viewers))
        # Snipers: 50 bid together in the last second; each accepted one extends the end.
        view = (await api.ok("GET", f"/api/rooms/{room_id}/auction"))["auction"]
        await asyncio.sleep(max(0.0, view["ends_at"] - view["now"] - 1.0))
        counts += await asyncio.gather(*(
            _bidder(api, room_id, aid, token, 1) for _, token in viewers[100:150]))
        # Late bids keep extending; then wait for the close.
        while True:
            view = (await api.ok("GET", f"/api/rooms/{room_id}/auction"))["auction"]
            if view["status"] != "running" and view.get("winner_name"):
                break
            assert time.time() - started < 30
            await asyncio.sleep(0.2)
        assert sum(counts) >= 30  # each accepted bid raced 199 others
        bids: list[dict[str, Any]] = (await api.ok(
            "GET", f"/api/rooms/{room_id}/auctions/{aid}/bids", host))["bids"]
        assert len(bids) == sum(counts) + 1 == view["bid_count"]
        assert bids[0]["amount"] == START
        for before, after in zip(bids, bids[1:], strict=False):
            assert after["amount"] >= before["amount"] + STEP
            assert after["bidder_id"] != before["bidder_id"]
            assert after["at"] < before["ends_at"]  # no bid after the end
        top = bids[-1]
        assert any(b["extended"] for b in bids) and view["extensions"] >= 1
        for b in bids:  # a bid in the last 2 s ended the auction 2 s after it
            if b["extended"]:
                assert abs(b["ends_at"] - (b["at"] + 2)) < 0.01
        host_view = await api.ok("GET", f"/api/rooms/{room_id}/auctions/{aid}", host)
        assert host_view["status"] == "closed"
        assert host_view["winner_amount"] == top["amount"] == host_view["top_amount"]
        assert host_view["offered_to"] == top["bidder_id"]
        assert "top_bidder" not in view and "offered_to" not in view  # ids stay private
        # Exactly one order, the winner's, at the winning price, reserved.
        orders = [o for o in await api.orders(host) if o.get("prize") == "auction"]
        assert len(orders) == 1
        order = orders[0]
        assert order["buyer_id"] == top["bidder_id"] and order["unit_price"] == top["amount"]
        assert order["status"] == "reserved" and order["prize_id"] == aid
        winner_token = dict(viewers)[top["bidder_id"]]
        mine = await api.ok("GET", f"/api/rooms/{room_id}/auction", winner_token)
        assert mine["you"]["order"]["order_id"] == order["order_id"]
        # Bids after the end are refused; the runner-up waits for the winner's limit.
        status, body = await api.call("POST", f"/api/rooms/{room_id}/auctions/{aid}/bids",
                                      viewers[5][1], {"amount": top["amount"] + STEP})
        assert status == 409 and body["error"]["code"] == "ended"
        status, body = await api.call("POST", f"/api/rooms/{room_id}/auctions/{aid}/offer",
                                      host)
        assert status == 409, body
        # The winner lets it lapse: the reservation expires, the host offers it on.
        runner_id = host_view["leaders"][1]["bidder_id"]
        runner_amount = host_view["leaders"][1]["amount"]
        assert runner_id != top["bidder_id"] and runner_amount < top["amount"]
        deadline = time.time() + 10
        while True:
            status, body = await api.call(
                "POST", f"/api/rooms/{room_id}/auctions/{aid}/offer", host)
            if status == 200:
                break
            assert status == 409 and time.time() < deadline, body
            await asyncio.sleep(0.3)
        assert body["offer_rank"] == 1 and body["offered_to"] == runner_id
        lapsed = await api.ok("GET", f"/api/me/orders/{order['order_id']}", winner_token)
        assert lapsed["status"] == "cancelled"
        runner_token = dict(viewers)[runner_id]
        second = await api.ok("GET", f"/api/me/orders/{body['order_id']}", runner_token)
        assert second["buyer_id"] == runner_id and second["unit_price"] == runner_amount
        assert second["status"] == "reserved" and second["prize_id"] == aid
        # Only the winner may accept; it does so with a contact, before its limit (cash on
        # delivery: its yes confirms it; a transfer is test_transfer_prize_waits_for_payment's).
        status, _ = await api.call("POST", f"/api/me/orders/{second['order_id']}/accept",
                                   winner_token, {"contact": contact_for(runner_id)})
        assert status == 404
        accepted = await api.ok("POST", f"/api/me/orders/{second['order_id']}/accept",
                                runner_token, {"contact": contact_for(runner_id)})
        assert accepted["status"] == "confirmed"
        assert accepted["address"] == contact_for(runner_id)["address"]
        status, _ = await api.call("POST", f"/api/rooms/{room_id}/auctions/{aid}/offer", host)
        assert status == 409  # the runner-up's order stands
        # The lot came out of the product's stock once.
        assert (await api.ok("GET", f"/api/products/{pid}", host))["stock"] == 2


async def test_unsold_auction_returns_its_unit(server: Running) -> None:
    _, host = await server.new_host()
    room_id = (await server.new_room(host))["room_id"]
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        pid = (await api.product(host, stock=1))["product_id"]
        auction = await api.ok("POST", f"/api/rooms/{room_id}/auctions", host, {
            "product_id": pid, "start_price": 500, "increment": 10, "duration_s": 60})
        assert (await api.ok("GET", f"/api/products/{pid}", host))["stock"] == 0
        await api.ok("POST", f"/api/rooms/{room_id}/auctions/{auction['auction_id']}/end", host)
        for _ in range(40):
            state = await api.ok("GET", f"/api/rooms/{room_id}/state")
            if state["auction"]["status"] == "unsold":
                break
            await asyncio.sleep(0.1)
        assert state["auction"]["status"] == "unsold"
        assert (await api.ok("GET", f"/api/products/{pid}", host))["stock"] == 1


async def test_two_nodes_close_once_and_survive_a_restart(redis_url: str) -> None:
    """Bids reach either node; the node that started the auction stops before the end; the
    other closes it, and every node running the closing step at once makes one order."""
    async with start_server(redis_url) as a, start_server(redis_url) as b, \
            aiohttp.ClientSession() as http:
        node_a, node_b = Api(a.base, http), Api(b.base, http)
        _, host = await a.new_host()
        room_id = (await a.new_room(host))["room_id"]
        pid = (await node_a.product(host, stock=1))["product_id"]
        aid = (await node_a.ok("POST", f"/api/rooms/{room_id}/auctions", host, {
            "product_id": pid, "start_price": 100, "increment": 10, "duration_s": 5,
            "extend_s": 0}))["auction_id"]
        people = [await node_a.viewer() for _ in range(6)]
        amount = 100
        for n, (_, token) in enumerate(people):
            api = node_a if n % 2 else node_b
            await api.ok("POST", f"/api/rooms/{room_id}/auctions/{aid}/bids", token,
                         {"amount": amount})
            amount += 10
        # Node a goes away (its loops stop with it); node b and two fresh closers remain.
        await a.app.shutdown()
        await a.app.cleanup()
        view = (await node_b.ok("GET", f"/api/rooms/{room_id}/auction"))["auction"]
        await asyncio.sleep(max(0.0, view["ends_at"] - view["now"]))
        async with start_server(redis_url) as c:
            closers = [b.ctx.auctions, c.ctx.auctions] * 5
            await asyncio.gather(*(x.settle_due() for x in closers))
            for _ in range(30):
                done = await node_b.ok("GET", f"/api/rooms/{room_id}/auctions/{aid}", host)
                if done["order_id"]:
                    break
                await asyncio.sleep(0.1)
            assert done["status"] == "closed" and done["winner_amount"] == amount - 10
            assert done["offered_to"] == people[-1][0]
            orders = [o for o in await node_b.orders(host) if o.get("prize_id") == aid]
            assert [o["order_id"] for o in orders] == [done["order_id"]]
            assert orders[0]["unit_price"] == amount - 10


async def test_a_closer_that_died_is_replaced(server: Running) -> None:
    """A node closes the auction and dies before making the winner's order: once its lease
    runs out, another pass makes the order, once, however often it runs."""
    _, host = await server.new_host()
    room_id = (await server.new_room(host))["room_id"]
    auctions = server.ctx.auctions
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        pid = (await api.product(host, stock=1))["product_id"]
        aid = (await api.ok("POST", f"/api/rooms/{room_id}/auctions", host, {
            "product_id": pid, "start_price": 100, "increment": 10, "duration_s": 60,
            "extend_s": 0}))["auction_id"]
        vid, token = await api.viewer()
        await api.ok("POST", f"/api/rooms/{room_id}/auctions/{aid}/bids", token, {"amount": 150})
        # The end comes; "a node" runs CLOSE with an hour's lease and dies right after.
        redis = server.ctx.redis
        await redis.hset(f"auction:{aid}", "ends_at", "0")
        code, to, amount, rank = await auctions._close(
            keys=[f"auction:{aid}", f"auction:{aid}:lot", f"product:{pid}", "auctions:due"],
            args=[aid, 3600])
        assert (code, to, int(amount), int(rank)) == ("settle", vid, 150, 0)
        await asyncio.sleep(1)  # every node's loop ran meanwhile: the lease holds them off
        assert (await api.ok("GET", f"/api/rooms/{room_id}/auctions/{aid}", host))[
            "order_id"] == ""
        await redis.zadd("auctions:due", {aid: 0})  # the lease ran out
        for _ in range(30):
            done = await api.ok("GET", f"/api/rooms/{room_id}/auctions/{aid}", host)
            if done["order_id"]:
                break
            await asyncio.sleep(0.1)
        await asyncio.gather(*(auctions.settle_due() for _ in range(5)))
        orders = [o for o in await api.orders(host) if o.get("prize_id") == aid]
        assert [o["order_id"] for o in orders] == [done["order_id"]]
        assert orders[0]["buyer_id"] == vid and orders[0]["unit_price"] == 150


async def _closed_order(api: Api, host: str, room_id: str, aid: str) -> dict[str, Any]:
    await api.ok("POST", f"/api/rooms/{room_id}/auctions/{aid}/end", host)
    for _ in range(50):
        done = await api.ok("GET", f"/api/rooms/{room_id}/auctions/{aid}", host)
        if done["order_id"]:
            return dict(done)
        await asyncio.sleep(0.1)
    raise AssertionError("the auction made no order")


async def test_transfer_prize_waits_for_payment(redis_url: str) -> None:
    """Paid by transfer, the winner's yes writes its address and the order stays reserved
    (with how to pay) until the host confirms the money; a bidder merged into an account is
    refused further bids, and the lot it won goes to the account. HTTP bids are limited
    per viewer (429 with Retry-After)."""
    env = {"STALLCAST_COMMERCE_PAYMENT_PROVIDER": "manual"}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        _, host = await server.new_host()
        room_id = (await server.new_room(host))["room_id"]
        pid = (await api.product(host, stock=2))["product_id"]
        aid = (await api.ok("POST", f"/api/rooms/{room_id}/auctions", host, {
            "product_id": pid, "start_price": 100, "increment": 10, "duration_s": 60,
            "extend_s": 0, "confirm_s": 300}))["auction_id"]
        bids = f"/api/rooms/{room_id}/auctions/{aid}/bids"
        (old, old_token), (account, account_token), (_, other) = [
            await api.viewer() for _ in range(3)]
        # A flood from one viewer: 5 at once pass the limit, then 429.
        answers = [await api.call("POST", bids, other, {"amount": 1}) for _ in range(7)]
        assert [s for s, _ in answers[:5]] == [400] * 5
        assert answers[5][0] == 429 and answers[5][1]["error"]["code"] == "rate_limited"
        async with http.post(server.base + bids, json={"amount": 1},
                             headers={"Authorization": f"Bearer {other}"}) as resp:
            assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
        await api.ok("POST", bids, old_token, {"amount": 150})
        # The bidder signs in on another phone: its old id is merged into the account's.
        await server.ctx.redis.set(f"viewer:{old}:merged_into", account)
        status, body = await api.call("POST", bids, old_token, {"amount": 500})
        assert status == 401 and body["error"]["code"] == "merged", body
        done = await _closed_order(api, host, room_id, aid)
        order = await api.ok("GET", f"/api/me/orders/{done['order_id']}", account_token)
        assert order["buyer_id"] == account and order["unit_price"] == 150
        mine = await api.ok("GET", f"/api/rooms/{room_id}/auction", account_token)
        assert mine["you"]["order"]["order_id"] == order["order_id"]
        assert mine["you"]["order"]["payment"]["method"] == "transfer"
        accepted = await api.ok("POST", f"/api/me/orders/{order['order_id']}/accept",
                                account_token, {"contact": contact_for(account)})
        assert accepted["status"] == "reserved"
        assert accepted["address"] == contact_for(account)["address"]
        assert accepted["payment"]["reference"] == order["order_id"]
        assert accepted["payment"]["pay_before"] == order["expires_at"]  # the limit runs on
        status, _ = await api.call("POST", f"/api/rooms/{room_id}/auctions/{aid}/offer", host)
        assert status == 409  # the winner's order still stands
        confirmed = await api.ok("POST", f"/api/orders/{order['order_id']}/confirm", host)
        assert confirmed["status"] == "confirmed"
        assert confirmed["address"] == contact_for(account)["address"]
        status, _ = await api.call("POST", f"/api/me/orders/{order['order_id']}/accept",
                                   account_token, {"contact": contact_for(account)})
        assert status == 409  # answered once

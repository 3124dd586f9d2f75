"""Flash sales, orders and their rules against a real Redis through the HTTP API."""

from __future__ import annotations

import asyncio
import csv
import io
import random
from collections import Counter

import aiohttp

from helpers.rooms import open_shop
from helpers.servers import Running, start_server
from helpers.shop import CONTACT, Api, contact_for


async def test_two_thousand_buys_never_oversell(server: Running) -> None:
    _, host = await server.new_host()
    room = await server.new_room(host)
    rid = room["room_id"]
    conn = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=conn) as http:
        api = Api(server.base, http)
        product = await api.product(host, stock=150)
        sale = await api.sale(host, rid, product["product_id"], quantity=100, per_buyer_limit=2)
        assert (await api.ok("GET", f"/api/products/{product['product_id']}", host))[
            "stock"] == 50  # the sale's 100 left the product's stock
        buyers = [await api.viewer() for _ in range(500)]
        attempts = [(buyers[i % 500], f"k-{i:06d}-{random.random():.6f}") for i in range(2000)]

        async def buy(viewer: tuple[str, str], key: str) -> tuple[int, dict]:
            return await api.call("POST", f"/api/rooms/{rid}/buy", viewer[1], {
                "sale_id": sale["sale_id"], "quantity": 1, "idempotency_key": key,
                "contact": contact_for(viewer[0])})

        results = await asyncio.gather(*(buy(v, k) for v, k in attempts))
        created = [(attempts[i], body) for i, (status, body) in enumerate(results)
                   if status == 201]
        refused = Counter(body["error"]["code"] for status, body in results if status == 409)
        assert len(created) == 100, refused
        assert set(refused) <= {"sold_out", "limit", "insufficient"}
        per_buyer = Counter(a[0][0] for a, _ in created)
        assert max(per_buyer.values()) <= 2

        # Retrying any acknowledged buy with the same key answers with the first order.
        retries = await asyncio.gather(*(buy(a[0], a[1]) for a, _ in created))
        for (_, first), (status, again) in zip(created, retries, strict=True):
            assert status == 200 and again["order_id"] == first["order_id"]
            assert again["created"] is False

        sale_now = await api.ok("GET", f"/api/rooms/{rid}/state")
        assert all(s["remaining"] == 0 for s in sale_now["sales"])
        orders = await api.orders(host)
        assert len(orders) == 100 and {o["status"] for o in orders} == {"confirmed"}

        # A buyer sees only its own orders, and cannot read another's.
        (vid, vtok), _ = created[0][0]
        mine = (await api.ok("GET", "/api/me/orders", vtok))["orders"]
        assert mine and all(o["buyer_id"] == vid for o in mine)
        other = next(b for b in buyers if b[0] != vid)
        status, _ = await api.call("GET", f"/api/me/orders/{mine[0]['order_id']}", other[1])
        assert status == 404


async def test_order_lifecycle_csv_and_host_isolation(server: Running) -> None:
    async with open_shop(server, in_room=True, stock=3, per_buyer_limit=3) as shop:
        api, host, rid, pid = shop.api, shop.host, shop.rid, shop.pid
        http = api.http
        _, other_host = await server.new_host("Other")
        _, viewer = await api.viewer()
        status, body = await api.call("POST", f"/api/rooms/{rid}/buy", viewer, {
            "product_id": pid, "quantity": 2, "idempotency_key": "first-buy-001"})
        assert status == 400 and body["error"]["code"] == "contact_required"
        order = await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
            "product_id": pid, "quantity": 2, "idempotency_key": "first-buy-002",
            "contact": CONTACT})
        assert order["status"] == "confirmed" and order["payment"]["method"] == "cash_on_delivery"
        # The contact is remembered: the next buy needs none.
        status, body = await api.call("POST", f"/api/rooms/{rid}/buy", viewer, {
            "product_id": pid, "quantity": 2, "idempotency_key": "second-buy-01"})
        assert status == 409 and body["error"]["code"] == "insufficient"
        oid = order["order_id"]
        for token, status_code in [(other_host, 403), (viewer, 401), (None, 401)]:
            status, _ = await api.call("POST", f"/api/orders/{oid}/ship", token,
                                       {"tracking_number": "SF123456"})
            assert status == status_code
            status, _ = await api.call("PATCH", f"/api/products/{pid}", token, {"price": 1})
            assert status == status_code
        status, body = await api.call("POST", f"/api/orders/{oid}/deliver", host)
        assert status == 409  # confirmed cannot jump to delivered
        status, body = await api.call("POST", f"/api/orders/{oid}/ship", host,
                                      {"tracking_number": "no spaces allowed"})
        assert status == 400
        shipped = await api.ok("POST", f"/api/orders/{oid}/ship", host,
                               {"tracking_number": "SF1234567890"})
        assert shipped["status"] == "shipped" and shipped["tracking_number"] == "SF1234567890"
        status, _ = await api.call("POST", f"/api/orders/{oid}/cancel", host)
        assert status == 409
        mine = await api.ok("GET", f"/api/me/orders/{oid}", viewer)
        assert mine["status"] == "shipped"

        second = await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
            "product_id": pid, "quantity": 1, "idempotency_key": "third-buy-001"})
        cancelled = await api.ok("POST", f"/api/orders/{second['order_id']}/cancel", host)
        assert cancelled["status"] == "cancelled"
        assert (await api.ok("GET", f"/api/products/{pid}", host))["stock"] == 1

        async with http.get(f"{server.base}/api/orders.csv",
                            headers={"Authorization": f"Bearer {host}"}) as resp:
            assert resp.status == 200 and resp.content_type == "text/csv"
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
        assert {r["order_id"] for r in rows} == {oid, second["order_id"]}
        row = next(r for r in rows if r["order_id"] == oid)
        assert row["tracking_number"] == "SF1234567890" and row["total"] == "78.00"
        assert row["address"] == CONTACT["address"]
        status, _ = await api.call("GET", "/api/orders?status=lost", host)
        assert status == 400
        assert (await api.ok("GET", "/api/orders", other_host))["orders"] == []


async def test_expired_reservations_return_their_stock(redis_url: str) -> None:
    env = {"STALLCAST_COMMERCE_PAYMENT_PROVIDER": "manual",
           "STALLCAST_COMMERCE_RESERVATION_TTL_S": "1"}
    async with start_server(redis_url, env) as running:
        async with open_shop(running, stock=10) as shop:
            api, host, rid, product = shop.api, shop.host, shop.rid, shop.product
            sale = await api.sale(host, rid, product["product_id"], quantity=3, per_buyer_limit=3)
            _, viewer = await api.viewer()
            held = await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
                "sale_id": sale["sale_id"], "quantity": 2, "idempotency_key": "reserve-0001",
                "contact": CONTACT})
            assert held["status"] == "reserved" and held["payment"]["method"] == "transfer"
            paid = await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
                "sale_id": sale["sale_id"], "quantity": 1, "idempotency_key": "reserve-0002"})
            await api.ok("POST", f"/api/orders/{paid['order_id']}/confirm", host)
            state = await api.ok("GET", f"/api/rooms/{rid}/state")
            assert state["sales"][0]["remaining"] == 0
            await asyncio.sleep(2.0)
            state = await api.ok("GET", f"/api/rooms/{rid}/state")
            assert state["sales"][0]["remaining"] == 2  # the unpaid 2 came back; the paid 1 not
            expired = await api.ok("GET", f"/api/me/orders/{held['order_id']}", viewer)
            assert expired["status"] == "cancelled"
            assert expired["cancel_reason"] == "reservation expired"
            confirmed = await api.ok("GET", f"/api/me/orders/{paid['order_id']}", viewer)
            assert confirmed["status"] == "confirmed"
            # Ending the sale returns what is left to the product.
            await api.ok("POST", f"/api/sales/{sale['sale_id']}/end", host)
            assert (await api.ok("GET", f"/api/products/{product['product_id']}", host))[
                "stock"] == 9


async def test_sale_window_and_validation(server: Running) -> None:
    async with open_shop(server, stock=5) as shop:
        api, host, rid, product = shop.api, shop.host, shop.rid, shop.product
        status, body = await api.call("POST", f"/api/rooms/{rid}/sales", host, {
            "product_id": product["product_id"], "price": 1, "quantity": 6, "duration": 60})
        assert status == 409 and body["error"]["code"] == "insufficient"
        later = await api.sale(host, rid, product["product_id"], quantity=2, start_in=1,
                               duration=5)
        assert later["status"] == "scheduled"
        _, viewer = await api.viewer()
        buy = {"sale_id": later["sale_id"], "idempotency_key": "too-early-01", "contact": CONTACT}
        status, body = await api.call("POST", f"/api/rooms/{rid}/buy", viewer, buy)
        assert status == 409 and body["error"]["code"] == "not_started"
        await asyncio.sleep(1.3)
        buy["idempotency_key"] = "in-time-0001"
        assert (await api.call("POST", f"/api/rooms/{rid}/buy", viewer, buy))[0] == 201
        status, _ = await api.call("POST", f"/api/rooms/{rid}/buy", "v_x.bad", buy)
        assert status == 401
        status, _ = await api.call("POST", "/api/rooms/r_none/buy", viewer, buy)
        assert status == 404
        for bad in [{"quantity": 0}, {"quantity": "2"}, {"idempotency_key": "x"},
                    {"sale_id": None, "product_id": None}]:
            status, _ = await api.call("POST", f"/api/rooms/{rid}/buy", viewer, {**buy, **bad})
            assert status == 400, bad
        status, body = await api.call("POST", f"/api/rooms/{rid}/buy", viewer, {
            **buy, "sale_id": "s_unknown", "idempotency_key": "unknown-sale"})
        assert status == 404

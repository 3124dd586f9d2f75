"""Products with variants, shipping fees and archiving, through the HTTP API on a real
Redis: each variant sells from its own stock and never oversells, a parent is never
bought itself, an archived product leaves the room and sells nothing until restored."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import aiohttp

from helpers.servers import Running
from helpers.shop import CONTACT, Api, contact_for

BOXES = [{"label": "2 kg box", "price": 3900, "stock": 5},
         {"label": "5 kg box", "price": 8900, "stock": 3, "per_buyer_limit": 1}]


async def _mangoes(api: Api, host: str, **extra: Any) -> dict[str, Any]:
    body = {"title": "Alphonso mangoes", "currency": "CNY", "shipping_fee": 800,
            "per_buyer_limit": 4, "variants": BOXES, **extra}
    return await api.ok("POST", "/api/products", host, body)  # type: ignore[no-any-return]


async def _shop(server: Running, http: aiohttp.ClientSession) -> tuple[
        Api, str, str, dict[str, Any]]:
    _, host = await server.new_host()
    rid = (await server.new_room(host))["room_id"]
    api = Api(server.base, http)
    product = await _mangoes(api, host)
    await api.ok("POST", f"/api/rooms/{rid}/products", host,
                 {"product_id": product["product_id"]})
    return api, host, rid, product


async def _buy(api: Api, rid: str, viewer: str, key: str, **what: Any) -> tuple[int, Any]:
    return await api.call("POST", f"/api/rooms/{rid}/buy", viewer, {
        "quantity": 1, "idempotency_key": key, "contact": CONTACT, **what})


async def test_variants_sell_from_their_own_stock_with_the_shipping_fee(
        server: Running) -> None:
    events: list[dict[str, Any]] = []

    async def seen(room_id: str, event: dict[str, Any]) -> None:
        events.append(event)

    server.ctx.bus.observers.append(seen)
    async with aiohttp.ClientSession() as http:
        api, host, rid, product = await _shop(server, http)
        small, large = product["variants"]
        assert [small["label"], large["label"]] == ["2 kg box", "5 kg box"]
        assert (product["stock"], product["price"], product["shipping_fee"]) == (8, 3900, 800)
        assert large["per_buyer_limit"] == 1 and small["per_buyer_limit"] == 4
        variant = await api.ok("GET", f"/api/products/{small['product_id']}", host)
        assert variant["parent_id"] == product["product_id"]
        assert variant["variant_label"] == "2 kg box" and variant["variants"] == []

        state = await api.ok("GET", f"/api/rooms/{rid}/state")
        (card,) = state["products"]
        assert card["variants"] == product["variants"] and card["stock"] == 8
        assert card["shipping_fee"] == 800 and card["thumb"] == ""
        assert state["payment"] == {"provider": "cod",
                                    "reservation_ttl_s": server.config.commerce.reservation_ttl_s}

        _, viewer = await api.viewer()
        status, body = await _buy(api, rid, viewer, "parent-0001",
                                  product_id=product["product_id"])
        assert status == 400 and body["error"]["code"] == "choose_variant"

        order = await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
            "product_id": small["product_id"], "quantity": 2, "idempotency_key": "small-0001",
            "contact": CONTACT})
        assert order["unit_price"] == 3900 and order["shipping_fee"] == 800
        assert order["total"] == 2 * 3900 + 800 == order["payment"]["amount"]
        assert order["product_title"] == "Alphonso mangoes (2 kg box)"
        after = await api.ok("GET", f"/api/products/{product['product_id']}", host)
        assert [v["stock"] for v in after["variants"]] == [3, 3] and after["stock"] == 6

        # Viewers hear of the variant's new stock (coalesced, like a sale's).
        for _ in range(100):
            told = [e for e in events if e["type"] == "product_stock"
                    and e["product_id"] == small["product_id"]]
            if told and told[-1]["stock"] == 3:
                break
            await asyncio.sleep(0.05)
        assert told[-1] == {**told[-1], "stock": 3, "parent_id": product["product_id"]}

        # A variant's own edit: price, and stock only if it did not move meanwhile.
        status, body = await api.call("PATCH", f"/api/products/{small['product_id']}", host,
                                      {"stock": 10, "expected_stock": 5})
        assert status == 409 and body["error"]["code"] == "conflict"
        edited = await api.ok("PATCH", f"/api/products/{small['product_id']}", host,
                              {"price": 4200, "stock": 10, "expected_stock": 3,
                               "label": "2 kg"})
        assert (edited["price"], edited["stock"], edited["variant_label"]) == (4200, 10, "2 kg")
        status, body = await api.call("PATCH", f"/api/products/{small['product_id']}", host,
                                      {"title": "Other"})
        assert status == 400
        # The parent's shared fields reach its variants; its price and stock are theirs.
        status, _ = await api.call("PATCH", f"/api/products/{product['product_id']}", host,
                                   {"stock": 99})
        assert status == 400
        await api.ok("PATCH", f"/api/products/{product['product_id']}", host,
                     {"title": "Ripe mangoes", "shipping_fee": 500})
        again = await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
            "product_id": small["product_id"], "idempotency_key": "small-0002"})
        assert again["product_title"] == "Ripe mangoes (2 kg)"
        assert again["total"] == 4200 + 500

        async with http.get(f"{server.base}/api/orders.csv",
                            headers={"Authorization": f"Bearer {host}"}) as resp:
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
        by_total = sorted((r["total"], r["shipping_fee"]) for r in rows)
        assert by_total == [("47.00", "5.00"), ("86.00", "8.00")]


async def test_the_last_units_of_a_variant_go_to_exactly_that_many_buyers(
        server: Running) -> None:
    conn = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=conn) as http:
        api, host, rid, product = await _shop(server, http)
        small, large = product["variants"]
        buyers = [await api.viewer() for _ in range(40)]

        async def buy(i: int) -> tuple[int, Any]:
            vid, token = buyers[i]
            return await api.call("POST", f"/api/rooms/{rid}/buy", token, {
                "product_id": large["product_id"], "idempotency_key": f"last-{i:04d}",
                "contact": contact_for(vid)})

        results = await asyncio.gather(*(buy(i) for i in range(40)))
        assert sum(1 for status, _ in results if status == 201) == 3
        assert {b["error"]["code"] for s, b in results if s != 201} <= {"sold_out",
                                                                         "insufficient"}
        after = await api.ok("GET", f"/api/products/{product['product_id']}", host)
        assert [v["stock"] for v in after["variants"]] == [5, 0]  # the other untouched


async def test_flash_sale_on_a_variant_then_archive_and_restore(server: Running) -> None:
    async with aiohttp.ClientSession() as http:
        api, host, rid, product = await _shop(server, http)
        small, _ = product["variants"]
        status, body = await api.call("POST", f"/api/rooms/{rid}/sales", host, {
            "product_id": product["product_id"], "price": 2900, "quantity": 2,
            "duration": 300})
        assert status == 400 and body["error"]["code"] == "choose_variant"
        sale = await api.sale(host, rid, small["product_id"], quantity=2, per_buyer_limit=2)
        assert sale["shipping_fee"] == 800 and sale["title"] == "Alphonso mangoes (2 kg box)"
        _, viewer = await api.viewer()
        order = await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
            "sale_id": sale["sale_id"], "idempotency_key": "sale-00001", "contact": CONTACT})
        assert order["unit_price"] == 2900 and order["total"] == 2900 + 800
        left = await api.ok("GET", f"/api/products/{small['product_id']}", host)
        assert left["stock"] == 3  # two went into the sale

        await api.ok("PUT", f"/api/rooms/{rid}/pin", host, {"product_id": small["product_id"]})
        state = await api.ok("GET", f"/api/rooms/{rid}/state")
        assert state["pinned"]["product_id"] == product["product_id"]  # the parent's card

        archived = await api.ok("POST", f"/api/products/{product['product_id']}/archive", host)
        assert archived["status"] == "archived"
        state = await api.ok("GET", f"/api/rooms/{rid}/state")
        assert state["pinned"] is None and state["products"] == [] and state["sales"] == []
        # The sale ended: its unsold unit went back to the variant.
        left = await api.ok("GET", f"/api/products/{small['product_id']}", host)
        assert left["stock"] == 4 and left["status"] == "archived"
        for what in ({"product_id": small["product_id"]}, {"sale_id": sale["sale_id"]}):
            status, body = await _buy(api, rid, viewer, f"arch-{len(str(what)):05d}", **what)
            assert status == 409 and body["error"]["code"] in ("archived", "ended"), body
        status, body = await api.call("PUT", f"/api/rooms/{rid}/pin", host,
                                      {"product_id": product["product_id"]})
        assert status == 409 and body["error"]["code"] == "archived"
        listed = await api.ok("GET", "/api/products", host)
        assert product["product_id"] not in [p["product_id"] for p in listed["products"]]
        shelf = await api.ok("GET", "/api/products?status=archived", host)
        assert [p["product_id"] for p in shelf["products"]] == [product["product_id"]]
        status, _ = await api.call("POST", f"/api/products/{small['product_id']}/archive", host)
        assert status == 400  # a variant goes with its product

        restored = await api.ok("POST", f"/api/products/{product['product_id']}/restore", host)
        assert restored["status"] == "active"
        assert {v["product_id"] for v in restored["variants"]} == {
            v["product_id"] for v in product["variants"]}
        state = await api.ok("GET", f"/api/rooms/{rid}/state")
        assert [c["product_id"] for c in state["products"]] == [product["product_id"]]
        again = await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
            "product_id": small["product_id"], "idempotency_key": "back-00001"})
        assert again["status"] == "confirmed"

        # Deleting the product deletes its variants.
        await api.ok("DELETE", f"/api/products/{product['product_id']}", host)
        status, _ = await api.call("GET", f"/api/products/{small['product_id']}", host)
        assert status == 404


async def test_variant_input_is_checked(server: Running) -> None:
    async with aiohttp.ClientSession() as http:
        _, host = await server.new_host()
        api = Api(server.base, http)
        base = {"title": "Mangoes", "currency": "CNY"}
        for variants in ([BOXES[0]], [BOXES[0]] * 2, [BOXES[0]] * 11, "2 kg",
                         [{**BOXES[0], "colour": "red"}, BOXES[1]],
                         [{**BOXES[0], "price": -1}, BOXES[1]],
                         [{**BOXES[0], "label": "\ud800"}, BOXES[1]]):
            status, body = await api.call("POST", "/api/products", host,
                                          {**base, "variants": variants})
            assert status == 400, (variants, body)
        for fee in (-1, 10**9, 1.5, "800", True):
            status, _ = await api.call("POST", "/api/products", host, {
                **base, "price": 100, "stock": 1, "shipping_fee": fee})
            assert status == 400, fee

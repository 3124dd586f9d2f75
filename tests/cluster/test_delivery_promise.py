"""The delivery promise against a real server and Redis: a product's ship_by_hours gives each
order its ship-by deadline (direct buys, flash sales, variants, after an edit), and orders
past it that are not shipped are counted in the host's and the operator's reports; shipping
(a tracking number) or cancelling takes an order out of the count."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.rooms import Shop, open_shop
from helpers.servers import Running
from helpers.shop import contact_for

HOUR = 3600


async def buy(shop: Shop, key: str, **fields: Any) -> dict[str, Any]:
    vid, token = await shop.api.viewer()
    body = {"product_id": shop.pid, "idempotency_key": key, "contact": contact_for(vid),
            **fields}
    return await shop.api.ok(  # type: ignore[no-any-return]
        "POST", f"/api/rooms/{shop.rid}/buy", token, body)


async def pass_deadline(server: Running, order: dict[str, Any], host_id: str) -> None:
    """The clock passes the order's ship-by time (as 72 hours going by would)."""
    redis = server.ctx.redis
    past = order["ship_by"] - 73 * HOUR
    await redis.hset(f"order:{order['order_id']}", "ship_by", repr(past))
    for index in ("ship_by", f"host:{host_id}:ship_by"):
        await redis.zadd(index, {order["order_id"]: past})


async def delivery(shop: Shop, token: str) -> dict[str, Any]:
    return (await shop.api.ok("GET", "/api/ops/reports", token))[  # type: ignore[no-any-return]
        "delivery"]


async def test_orders_record_their_ship_by(server: Running) -> None:
    async with open_shop(server, in_room=True, ship_by_hours=72) as shop:
        assert shop.product["ship_by_hours"] == 72
        order = await buy(shop, "promise-direct")
        assert order["ship_by"] == pytest.approx(order["created_at"] + 72 * HOUR, abs=1)
        sale = await shop.api.sale(shop.host, shop.rid, shop.pid)
        vid, token = await shop.api.viewer()
        on_sale = await shop.api.ok("POST", f"/api/rooms/{shop.rid}/buy", token, {
            "sale_id": sale["sale_id"], "idempotency_key": "promise-sale",
            "contact": contact_for(vid)})
        assert on_sale["ship_by"] == pytest.approx(on_sale["created_at"] + 72 * HOUR, abs=1)
        await shop.api.ok("PATCH", f"/api/products/{shop.pid}", shop.host, {"ship_by_hours": 24})
        later = await buy(shop, "promise-after-edit")
        assert later["ship_by"] == pytest.approx(later["created_at"] + 24 * HOUR, abs=1)
        listed = {o["order_id"]: o for o in await shop.api.orders(shop.host)}
        assert listed[order["order_id"]]["ship_by"] == order["ship_by"]
        for bad in (-1, 10**6, "72", 1.5):
            status, _ = await shop.api.call("PATCH", f"/api/products/{shop.pid}", shop.host,
                                            {"ship_by_hours": bad})
            assert status == 400, bad
    async with open_shop(server, in_room=True) as plain:
        assert "ship_by" not in await buy(plain, "no-promise")
    async with open_shop(server, ship_by_hours=48, variants=[
            {"label": "2 kg", "price": 3900, "stock": 5},
            {"label": "5 kg", "price": 8900, "stock": 5}]) as boxes:
        await boxes.api.ok("POST", f"/api/rooms/{boxes.rid}/products", boxes.host,
                           {"product_id": boxes.pid})
        variant = boxes.product["variants"][1]["product_id"]
        order = await buy(boxes, "promise-variant", product_id=variant)
        assert order["ship_by"] == pytest.approx(order["created_at"] + 48 * HOUR, abs=1)


async def test_overdue_orders_are_counted_for_host_and_operator(server: Running) -> None:
    operator = await server.new_operator()
    async with open_shop(server, in_room=True, ship_by_hours=72) as shop, \
            open_shop(server, in_room=True, ship_by_hours=72) as other:
        host_id = (await server.ctx.store.host_for_token(shop.host)).host_id  # type: ignore
        other_id = (await server.ctx.store.host_for_token(other.host)).host_id  # type: ignore
        late, shipped, cancelled, due = [await buy(shop, f"overdue-{n}-key") for n in range(4)]
        elsewhere = await buy(other, "overdue-other")
        assert (await delivery(shop, shop.host))["overdue"] == 0  # nothing is due yet
        for order in (late, shipped, cancelled):
            await pass_deadline(server, order, host_id)
        await pass_deadline(server, elsewhere, other_id)
        mine = await delivery(shop, shop.host)
        assert mine["overdue"] == 3 and mine["complete"] is True
        assert set(mine["orders"]) == {late["order_id"], shipped["order_id"],
                                       cancelled["order_id"]}
        assert "by_host" not in mine

        await shop.api.ok("POST", f"/api/orders/{shipped['order_id']}/ship", shop.host,
                          {"tracking_number": "SF1234567890"})
        await shop.api.ok("POST", f"/api/orders/{cancelled['order_id']}/cancel", shop.host, {})
        mine = await delivery(shop, shop.host)
        assert mine["orders"] == [late["order_id"]] and mine["overdue"] == 1
        everyone = await delivery(shop, operator)
        assert everyone["overdue"] == 2
        assert everyone["by_host"] == {host_id: 1, other_id: 1}
        assert (await delivery(other, other.host))["orders"] == [elsewhere["order_id"]]
        # Orders that left the promise are dropped from the index as the report finds them.
        assert not await server.ctx.redis.zscore("ship_by", shipped["order_id"])
        assert await server.ctx.redis.zscore("ship_by", due["order_id"])

        _, viewer = await shop.api.viewer()
        status, _ = await shop.api.call("GET", "/api/ops/reports", viewer)
        assert status == 403

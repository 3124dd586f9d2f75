"""A host's order list pages through a room's orders without gaps or repeats, even while new
orders arrive, and never shows another host's room."""

from __future__ import annotations

import asyncio
import csv
import io

import aiohttp

from helpers.servers import Running
from helpers.shop import CONTACT, Api


async def _buy_many(api: Api, rid: str, pid: str, viewer: str, n: int, tag: str) -> list[str]:
    async def one(i: int) -> str:
        order = await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
            "product_id": pid, "quantity": 1, "idempotency_key": f"{tag}-{i:06d}",
            "contact": CONTACT})
        return str(order["order_id"])

    ids: list[str] = []
    for start in range(0, n, 50):  # 50 at a time: many orders share a timestamp's neighbourhood
        ids += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 50))))
    return ids


async def test_orders_page_by_room_without_gaps(server: Running) -> None:
    _, host = await server.new_host()
    _, stranger = await server.new_host("Stranger")
    busy, quiet = await server.new_room(host, "Mangoes"), await server.new_room(host, "Tea")
    foreign = await server.new_room(stranger, "Not yours")
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        product = await api.product(host, stock=10_000, per_buyer_limit=10_000)
        pid = product["product_id"]
        for room in (busy, quiet):
            await api.ok("POST", f"/api/rooms/{room['room_id']}/products", host,
                         {"product_id": pid})
        _, viewer = await api.viewer()
        rid = busy["room_id"]
        bought = await _buy_many(api, rid, pid, viewer, 230, "busy")
        elsewhere = await _buy_many(api, quiet["room_id"], pid, viewer, 7, "quiet")

        first = await api.ok("GET", f"/api/orders?room_id={rid}&limit=100", host)
        assert len(first["orders"]) == 100 and first["total"] == 230 and first["next"]
        # New orders arrive while the host reads on: the next pages neither skip nor repeat.
        late = await _buy_many(api, rid, pid, viewer, 5, "late")
        seen = [o["order_id"] for o in first["orders"]]
        cursor = first["next"]
        while cursor:
            page = await api.ok("GET", f"/api/orders?room_id={rid}&limit=100&after={cursor}",
                                host)
            seen += [o["order_id"] for o in page["orders"]]
            cursor = page["next"]
        assert len(seen) == len(set(seen)) == 230 and set(seen) == set(bought)
        newest = await api.ok("GET", f"/api/orders?room_id={rid}&limit=5", host)
        assert {o["order_id"] for o in newest["orders"]} == set(late)
        assert newest["total"] == 235
        stamps = [o["created_at"] for o in first["orders"]]
        assert stamps == sorted(stamps, reverse=True)

        # The host's whole list holds both rooms; the CSV holds every order of a room.
        everything = await api.ok("GET", "/api/orders?limit=500", host)
        assert everything["total"] == 242 and everything["next"] is None
        assert {o["order_id"] for o in everything["orders"]} >= set(elsewhere)
        async with http.get(f"{server.base}/api/orders.csv?room_id={rid}",
                            headers={"Authorization": f"Bearer {host}"}) as resp:
            assert resp.status == 200
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
        assert len(rows) == 235

        # Filters within a page, and every wrong question answered plainly.
        shipped = bought[0]
        await api.ok("POST", f"/api/orders/{shipped}/ship", host, {"tracking_number": "SF1234"})
        page = await api.ok("GET", f"/api/orders?room_id={rid}&limit=500&status=shipped", host)
        assert [o["order_id"] for o in page["orders"]] == [shipped]
        for query, token, status in [
            (f"room_id={foreign['room_id']}", host, 403),
            ("room_id=r_nosuchroom", host, 404),
            (f"room_id={rid}", stranger, 403),
            ("limit=0", host, 400), ("limit=501", host, 400), ("limit=ten", host, 400),
            ("after=o_notanorder", host, 400), ("status=lost", host, 400),
            ("", None, 401),
        ]:
            code, body = await api.call("GET", f"/api/orders?{query}", token)
            assert code == status, (query, code, body)
        code, _ = await api.call("GET", f"/api/orders.csv?room_id={foreign['room_id']}", host)
        assert code == 403

        # A deleted room's orders still ship: its host can list and export them, nobody else.
        await api.ok("DELETE", f"/api/rooms/{quiet['room_id']}", host)
        gone = await api.ok("GET", f"/api/orders?room_id={quiet['room_id']}", host)
        assert {o["order_id"] for o in gone["orders"]} == set(elsewhere)
        code, _ = await api.call("GET", f"/api/orders?room_id={quiet['room_id']}", stranger)
        assert code == 403
        async with http.get(f"{server.base}/api/orders.csv?room_id={quiet['room_id']}"
                            "&status=confirmed",
                            headers={"Authorization": f"Bearer {host}", "Origin": "https://x.y"}
                            ) as resp:
            # A streamed response carries the CORS policy too: orders are private, so an
            # origin that is not configured is not allowed, and caches are told it depends.
            assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
            assert "Origin" in resp.headers["Vary"]
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
        assert sorted(r["order_id"] for r in rows) == sorted(elsewhere)

"""Money and stock under hostile input: slow edits racing buys, numbers JSON should not carry,
free identities buying past a per-person limit, classes that unlock before they are paid."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from helpers.rooms import open_shop
from helpers.servers import Running
from helpers.shop import Api, contact_for


class SlowRequest:
    """An HTTP/1.1 request whose headers go out now and whose body goes out later, as a
    client on a bad link (or an attacker) would send it."""

    def __init__(self, base: str, method: str, path: str, token: str, body: bytes) -> None:
        self.url = urlsplit(base)
        self.head = (f"{method} {path} HTTP/1.1\r\nHost: {self.url.netloc}\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        self.body = body

    async def start(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.url.hostname,
                                                                 self.url.port)
        self.writer.write(self.head)
        await self.writer.drain()
        await asyncio.sleep(0.3)  # the server has the headers and is waiting for the body

    async def finish(self) -> tuple[int, Any]:
        self.writer.write(self.body)
        await self.writer.drain()
        raw = await asyncio.wait_for(self.reader.read(), 10)
        self.writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body) if body else None


def strict_json(text: str) -> Any:
    """Parse as a browser's JSON.parse would: NaN and Infinity are errors."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} in JSON")
    return json.loads(text, parse_constant=refuse)


async def _buy(api: Api, rid: str, viewer: tuple[str, str], n: int, **target: Any) -> tuple[
        int, Any]:
    return await api.call("POST", f"/api/rooms/{rid}/buy", viewer[1], {
        **target, "quantity": 1, "idempotency_key": f"race-{viewer[0]}-{n}",
        "contact": contact_for(viewer[0])})


async def test_slow_product_edit_never_puts_sold_stock_back(server: Running) -> None:
    async with open_shop(server, in_room=True, stock=5, per_buyer_limit=5) as shop:
        api, host, rid, pid = shop.api, shop.host, shop.rid, shop.pid
        edit = SlowRequest(server.base, "PATCH", f"/api/products/{pid}", host,
                           json.dumps({"title": "Alphonso mangoes, 2 kg box"}).encode())
        await edit.start()
        viewers = [await api.viewer() for _ in range(5)]
        results = [await _buy(api, rid, v, 0, product_id=pid) for v in viewers]
        assert [s for s, _ in results] == [201] * 5
        status, body = await edit.finish()
        assert status == 200, body
        assert body["title"] == "Alphonso mangoes, 2 kg box" and body["stock"] == 0
        now = await api.ok("GET", f"/api/products/{pid}", host)
        assert now["stock"] == 0
        late = [await api.viewer() for _ in range(5)]
        assert {s for s, _ in [await _buy(api, rid, v, 1, product_id=pid) for v in late]} == {
            409}
        assert len(await api.orders(host)) == 5

        # A stock change names the figure it replaces: sold units meanwhile make it a 409.
        status, body = await api.call("PATCH", f"/api/products/{pid}", host,
                                      {"stock": 20, "expected_stock": 5})
        assert status == 409 and body["error"]["code"] == "conflict", body
        assert (await api.ok("PATCH", f"/api/products/{pid}", host,
                             {"stock": 20, "expected_stock": 0}))["stock"] == 20
        # Fields never named keep what they are; unknown fields and empty edits are refused.
        assert (await api.ok("PATCH", f"/api/products/{pid}", host, {"price": 4100}))[
            "title"] == "Alphonso mangoes, 2 kg box"
        for bad in ({}, {"stok": 3}, {"expected_stock": 3}, {"stock": -1}):
            status, _ = await api.call("PATCH", f"/api/products/{pid}", host, bad)
            assert status == 400, bad


async def test_slow_edit_during_sale_creation_leaves_units_in_one_place(
        server: Running) -> None:
    async with open_shop(server, stock=100) as shop:
        api, host, rid, pid = shop.api, shop.host, shop.rid, shop.pid
        edit = SlowRequest(server.base, "PATCH", f"/api/products/{pid}", host,
                           json.dumps({"description": "Picked this morning"}).encode())
        await edit.start()
        sale = await api.sale(host, rid, pid, quantity=100)
        status, body = await edit.finish()
        assert status == 200, body
        product_now = await api.ok("GET", f"/api/products/{pid}", host)
        assert product_now["stock"] == 0 and sale["remaining"] == 100
        assert product_now["description"] == "Picked this morning"


async def test_numbers_json_does_not_allow_are_refused_before_anything_moves(
        server: Running) -> None:
    async with open_shop(server, stock=100) as shop:
        api, host, rid, pid = shop.api, shop.host, shop.rid, shop.pid
        http = api.http
        head = {"Authorization": f"Bearer {host}", "Content-Type": "application/json"}
        base = f'"product_id": "{pid}", "price": 100, "quantity": 50, "duration": 60'
        for starts in ("NaN", "Infinity", "-Infinity", "1e400", "1e300", "9" * 5000):
            raw = "{" + base + f', "starts_at": {starts}' + "}"
            async with http.post(f"{server.base}/api/rooms/{rid}/sales", data=raw,
                                 headers=head) as resp:
                assert resp.status == 400, (starts[:10], resp.status, await resp.text())
                assert (await resp.json())["error"]["code"] in ("bad_json", "invalid")
        for raw in ('{"title": NaN}', '{"price": Infinity}', "[" * 8000 + "]" * 8000,
                    '{"a":' * 40 + "1" + "}" * 40):
            async with http.patch(f"{server.base}/api/products/{pid}", data=raw,
                                  headers=head) as resp:
                assert resp.status == 400, (raw[:20], resp.status, await resp.text())
        assert (await api.ok("GET", f"/api/products/{pid}", host))["stock"] == 100
        assert (await api.ok("GET", f"/api/rooms/{rid}/sales", host))["sales"] == []
        async with http.get(f"{server.base}/api/rooms/{rid}/state") as resp:
            state = strict_json(await resp.text())
        assert state["sales"] == []
        # A real sale still opens, and the state is strict JSON with it in.
        await api.sale(host, rid, pid, quantity=10, start_in=30)
        async with http.get(f"{server.base}/api/rooms/{rid}/state") as resp:
            assert len(strict_json(await resp.text())["sales"]) == 1
        assert (await api.ok("GET", "/healthz"))["status"] == "ok"


async def test_a_limit_holds_per_person_not_per_free_identity(server: Running) -> None:
    async with open_shop(server, stock=10) as shop:
        api, host, rid, product = shop.api, shop.host, shop.rid, shop.product
        sale = await api.sale(host, rid, product["product_id"], quantity=10, per_buyer_limit=1)
        same_person = [
            {"name": "Wang", "phone": "+86 138 0000 0000", "address": "8 Binhai Road, Haikou"},
            {"name": "W.", "phone": "138-0000-0000", "address": "8 binhai road haikou"},
            {"name": "Wang Lei", "phone": "(0)13800000000", "address": "８ Binhai Rd., Haikou"},
            {"name": "Wang", "phone": "+86 139 1111 2222", "address": "8, BINHAI ROAD, HAIKOU"},
            {"name": "Wang", "phone": "+86 138 0000 0000", "address": "Room 2, 9 Jiefang St"},
        ]
        placed = []
        for i in range(10):
            viewer = await api.viewer()  # a fresh identity every time, as a troll would
            status, body = await api.call("POST", f"/api/rooms/{rid}/buy", viewer[1], {
                "sale_id": sale["sale_id"], "quantity": 1, "idempotency_key": f"person-{i:04d}",
                "contact": same_person[i % len(same_person)]})
            if status == 201:
                placed.append(body)
            else:
                assert status == 409 and body["error"]["code"] == "limit", body
        assert len(placed) == 1
        # Someone else still buys; cancelling gives the person their unit of budget back.
        other = await api.viewer()
        status, _ = await api.call("POST", f"/api/rooms/{rid}/buy", other[1], {
            "sale_id": sale["sale_id"], "idempotency_key": "person-other",
            "contact": contact_for(other[0])})
        assert status == 201
        await api.ok("POST", f"/api/orders/{placed[0]['order_id']}/cancel", host)
        again = await api.viewer()
        status, _ = await api.call("POST", f"/api/rooms/{rid}/buy", again[1], {
            "sale_id": sale["sale_id"], "idempotency_key": "person-again",
            "contact": same_person[1]})
        assert status == 201

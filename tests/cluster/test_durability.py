"""An acknowledged order survives kill -9 of the server and of Redis at any moment."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp

from helpers.procs import ServeProcess, host_create, kill_private_redis, wait_healthy
from helpers.shop import Api, contact_for


async def test_acknowledged_orders_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    token = host_create(data, "Mango farm")
    node = ServeProcess(data)
    acked: list[str] = []
    try:
        await wait_healthy(node.base)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as http:
            api = Api(node.base, http)
            room = await api.ok("POST", "/api/rooms", token, {"title": "Mangoes"})
            rid = room["room_id"]
            product = await api.product(token, stock=500)
            sale = await api.sale(token, rid, product["product_id"], quantity=400,
                                  per_buyer_limit=5)
            viewers = [await api.viewer() for _ in range(100)]
            killed = asyncio.Event()

            async def buy(i: int) -> None:
                try:
                    status, body = await api.call("POST", f"/api/rooms/{rid}/buy",
                                                  viewers[i % 100][1], {
                                                      "sale_id": sale["sale_id"],
                                                      "idempotency_key": f"crash-{i:05d}",
                                                      "contact": contact_for(
                                                          viewers[i % 100][0])})
                except aiohttp.ClientError:
                    return  # the server died under this request: never acknowledged
                if status == 201:
                    acked.append(body["order_id"])
                    if len(acked) >= 120 and not killed.is_set():
                        killed.set()
                        # Both die mid-stream, with other buys still in flight.
                        redis_pid = int((data / "redis.pid").read_text())
                        os.kill(redis_pid, signal.SIGKILL)
                        node.kill()

            await asyncio.gather(*(buy(i) for i in range(400)))
        assert killed.is_set() and len(acked) >= 120
    finally:
        node.stop()

    restarted = ServeProcess(data)
    try:
        await wait_healthy(restarted.base)
        async with aiohttp.ClientSession() as http:
            api = Api(restarted.base, http)
            orders = await api.orders(token)
            found = {o["order_id"] for o in orders}
            missing = set(acked) - found
            assert not missing, f"{len(missing)} acknowledged orders lost"
            state = await api.ok("GET", f"/api/rooms/{rid}/state")
            # No stock was created or destroyed by the crash.
            assert state["sales"][0]["remaining"] + len(orders) == 400
    finally:
        restarted.stop()


async def test_serve_restarts_its_redis_after_kill_9(tmp_path: Path) -> None:
    """Only Redis dies: the server notices, starts it again from its AOF, reconnects and
    re-subscribes by itself; buys meanwhile answer 503 (never 500) and nothing acknowledged
    is lost; a viewer's data channel hears the room's events again."""
    from helpers.clients import wait_for, watch

    data = tmp_path / "data"
    data.mkdir()
    token = host_create(data, "Mango farm")
    node = ServeProcess(data)
    try:
        await wait_healthy(node.base)
        async with aiohttp.ClientSession() as http:
            api = Api(node.base, http)
            room = await api.ok("POST", "/api/rooms", token, {"title": "Mangoes"})
            rid = room["room_id"]
            product = await api.product(token, stock=500, per_buyer_limit=500)
            await api.ok("POST", f"/api/rooms/{rid}/products", token,
                         {"product_id": product["product_id"]})
            vid, vtoken = await api.viewer()
            viewer = await watch(node.base, rid)
            try:
                assert await wait_for(lambda: any(e.get("type") == "welcome"
                                                  for e in viewer.events), 15)
                acked: list[str] = []
                statuses: list[int] = []

                async def buy(i: int) -> None:
                    status, body = await api.call("POST", f"/api/rooms/{rid}/buy", vtoken, {
                        "product_id": product["product_id"], "idempotency_key": f"rs-{i:05d}",
                        "contact": contact_for(vid)})
                    statuses.append(status)
                    if status == 201:
                        acked.append(body["order_id"])

                for i in range(20):
                    await buy(i)
                os.kill(int((data / "redis.pid").read_text()), signal.SIGKILL)
                for i in range(20, 40):  # while Redis is away, and as it comes back
                    await buy(i)
                    await asyncio.sleep(0.05)
                await wait_healthy(node.base, timeout=15)
                for i in range(40, 60):
                    await buy(i)
                assert set(statuses) <= {201, 503}, statuses
                assert statuses[-20:] == [201] * 20, statuses
                orders = {o["order_id"] for o in await api.orders(token)}
                assert set(acked) <= orders and len(orders) == len(acked)
                stock = (await api.ok("GET", f"/api/products/{product['product_id']}",
                                      token))["stock"]
                assert stock + len(orders) == 500
                # The event bus subscribed again: a pin reaches the viewer's channel.
                await api.ok("PUT", f"/api/rooms/{rid}/pin", token,
                             {"product_id": product["product_id"]})
                assert await wait_for(lambda: any(e.get("type") == "card_pinned"
                                                  for e in viewer.events), 10)
            finally:
                await viewer.stop()
    finally:
        node.stop()
        kill_private_redis(data)

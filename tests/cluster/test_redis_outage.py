"""A Redis the server did not start (``redis.url``) goes away and comes back: live media
keeps flowing the whole time, buys answer 503 with Retry-After meanwhile (never 500), and
the server reconnects by itself."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from helpers.clients import publish, wait_for, watch
from helpers.servers import start_server
from helpers.shop import Api, contact_for
from server.platform.redis_server import PrivateRedis


async def test_live_media_outlasts_an_external_redis_outage() -> None:
    with tempfile.TemporaryDirectory(prefix="sc-ext-") as tmp:
        external = PrivateRedis(Path(tmp), appendfsync="always")
        await external.start()
        try:
            async with start_server(external.url) as server, aiohttp.ClientSession() as http:
                api = Api(server.base, http)
                _, token = await server.new_host()
                room = await server.new_room(token)
                rid = room["room_id"]
                product = await api.product(token, stock=50, per_buyer_limit=50)
                await api.ok("POST", f"/api/rooms/{rid}/products", token,
                             {"product_id": product["product_id"]})
                vid, vtoken = await api.viewer()
                pub = await publish(server.base, rid, room["stream_key"])
                viewer = await watch(server.base, rid)
                try:
                    assert await wait_for(lambda: len(viewer.video_frames) > 10, 20)

                    async def buy(i: int) -> tuple[int, dict[str, str]]:
                        async with http.post(f"{server.base}/api/rooms/{rid}/buy", json={
                                "product_id": product["product_id"],
                                "idempotency_key": f"outage-{i:04d}",
                                "contact": contact_for(vid)},
                                headers={"Authorization": f"Bearer {vtoken}"}) as resp:
                            return resp.status, dict(resp.headers)

                    assert (await buy(0))[0] == 201
                    external.stop()  # Redis is away
                    away_at = time.time()
                    statuses = []
                    for i in range(1, 6):
                        status, headers = await buy(i)
                        statuses.append(status)
                        assert status == 503 and int(headers["Retry-After"]) > 0, status
                        await asyncio.sleep(0.4)
                    async with http.get(f"{server.base}/healthz") as resp:
                        assert resp.status == 503
                    # The picture never stopped while Redis was away.
                    during = [t for t in viewer.video_frames if t > away_at]
                    assert len(during) > 20, len(during)
                    gaps = [b - a for a, b in zip(during, during[1:], strict=False)]
                    assert max(gaps) < 1.0, max(gaps)
                    await external.start()  # back, from its AOF
                    deadline = time.time() + 15
                    while (await buy(100))[0] != 201:
                        assert time.time() < deadline, "the server never reconnected"
                        await asyncio.sleep(0.3)
                    async with http.get(f"{server.base}/healthz") as resp:
                        assert resp.status == 200
                    orders = await api.orders(token)
                    assert len(orders) == 2  # the one before and the one after
                finally:
                    await viewer.stop()
                    await pub.stop()
        finally:
            external.stop()

"""A server that dies mid-broadcast (kill -9: no goodbye, the recording never closed) still
turns what it recorded into a class: another node, or the same one restarted, takes over
the orphaned session once the dead node's heartbeat has run out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from procs import (
    ServeProcess,
    broadcast,
    host_create,
    kill_private_redis,
    private_redis,
    wait_healthy,
)
from shop_helpers import Api


async def test_a_crash_mid_broadcast_still_becomes_a_class(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    token = host_create(data, "Tea house")
    node = ServeProcess(data)
    redis = private_redis(data)
    try:
        await wait_healthy(node.base)
        _, pub = await broadcast(node.base, token, "H264")
        async with aiohttp.ClientSession() as http:
            api = Api(node.base, http)
            await asyncio.sleep(8)
            sessions = (await api.ok("GET", "/api/sessions", token))["sessions"]
            assert len(sessions) == 1 and sessions[0]["status"] == "live"
            sid = sessions[0]["session_id"]
            dead = await redis.hget(f"session:{sid}", "node")
            assert dead and await redis.exists(f"node:{dead}:alive")
        node.kill()  # mid-broadcast
        killed_at = time.time()
        await pub.pc.close()
    finally:
        node.stop()
    try:
        assert await redis.hget(f"session:{sid}", "status") == "live"
        await redis.delete(f"node:{dead}:alive")  # as if its heartbeat's TTL had run out
        restarted = ServeProcess(data)
        try:
            await wait_healthy(restarted.base)
            async with aiohttp.ClientSession() as http:
                api = Api(restarted.base, http)
                detail: dict[str, object] = {}
                deadline = time.time() + 60
                while time.time() < deadline and detail.get("status") != "ready":
                    detail = await api.ok("GET", f"/api/sessions/{sid}", token)
                    await asyncio.sleep(0.3)
                assert detail["status"] == "ready", detail
                # What reached the disk before the kill is the class: ~8 s, a second or so
                # lost at most, and the session ends where the recording does.
                duration = float(detail["duration"])  # type: ignore[arg-type]
                assert 6.5 < duration < 9.5, detail
                ended = float(detail["ended_at"])  # type: ignore[arg-type]
                assert killed_at - 3 < ended <= killed_at + 1, (ended, killed_at)
                assert await redis.exists(f"report:{sid}")
                assert await redis.zcard("sessions:live") == 0
                cls = await api.ok("POST", f"/api/sessions/{sid}/class", token,
                                   {"price": 990, "preview_seconds": 3})
                assert cls["status"] == "ready"
        finally:
            restarted.stop()
    finally:
        await redis.aclose()
        kill_private_redis(data)

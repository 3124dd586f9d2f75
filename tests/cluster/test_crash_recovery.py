"""Sessions outlive their node: a server that dies mid-broadcast (kill -9: no goodbye, the
recording never closed) still turns what it recorded into a class, and a host whose
reconnect lands on another node carries on the same session there."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from test_recording import decode_hls

from helpers.clients import publish
from helpers.procs import (
    ServeProcess,
    broadcast,
    broadcasting_node,
    host_create,
    kill_private_redis,
    serving,
    wait_healthy,
)
from helpers.shop import Api


async def test_a_crash_mid_broadcast_still_becomes_a_class(tmp_path: Path) -> None:
    data, token, node, redis, pub = await broadcasting_node(tmp_path, "Tea house", "H264")
    try:
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


async def test_a_host_back_on_another_node_carries_the_session_on(tmp_path: Path,
                                                                 redis_url: str) -> None:
    """Behind a load balancer the host's reconnect may land on another node: that node
    records the next part of the same session, and the class is one video."""
    token = host_create(tmp_path / "a", "Tea house", redis_url)
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    async with serving(tmp_path / "a", redis_url) as node_a, \
            serving(tmp_path / "b", redis_url) as node_b, aiohttp.ClientSession() as http:
        api = Api(node_a.base, http)
        room, first = await broadcast(node_a.base, token, "H264")
        rid = room["room_id"]
        try:
            await asyncio.sleep(5)
            sid = str(await redis.get(f"room:{rid}:session"))
            node_a_id = await redis.hget(f"session:{sid}", "node")
            await first.pc.close()  # the host's network drops on node A: no DELETE
            deadline = time.time() + 10
            while time.time() < deadline and not await redis.hget(f"session:{sid}",
                                                                  "host_left_at"):
                await asyncio.sleep(0.1)
            back = await publish(node_b.base, rid, room["stream_key"], codec="H264")
            await asyncio.sleep(5)
            assert await redis.hget(f"session:{sid}", "node") not in (None, "", node_a_id)
            assert [p.rsplit("/", 1)[-1] for p in await redis.lrange(
                f"session:{sid}:parts", 0, -1)] == [f"{sid}.part1.mkv"]
            await back.stop()
            detail: dict[str, Any] = {}
            deadline = time.time() + 60
            while time.time() < deadline and detail.get("status") != "ready":
                detail = await api.ok("GET", f"/api/sessions/{sid}", token)
                await asyncio.sleep(0.3)
        finally:
            await redis.aclose()
        sessions = (await api.ok("GET", "/api/sessions", token))["sessions"]
    assert [s["session_id"] for s in sessions] == [sid] and detail["status"] == "ready"
    hls = decode_hls(str(tmp_path / "b" / "vod" / sid / "index.m3u8")) \
        if (tmp_path / "b" / "vod" / sid).exists() else \
        decode_hls(str(tmp_path / "a" / "vod" / sid / "index.m3u8"))
    assert hls["last_video"] > 9.5, hls  # ~5 s on A, the reconnect, ~5 s on B
    assert abs(hls["last_audio"] - hls["last_video"]) < 0.3, hls

"""Chat and like limits hold across window edges, across nodes, and say when to retry."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import redis.asyncio as aioredis

from helpers.servers import Running
from helpers.shop import Api
from server.platform.ratelimit import RateLimiter


async def test_burst_is_capped_wherever_it_starts(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        # 5 a minute: one unit comes back every 12 s, far longer than this test runs.
        limiter = RateLimiter(client, "rl:test", limit=5, period_s=60)
        # A fixed "5 per bucket" lets 8 quick messages through when they straddle a
        # bucket edge; start bursts at several points of the second.
        for i in range(4):
            verdicts = [await limiter.take(f"viewer-{i}") for _ in range(8)]
            assert [v.allowed for v in verdicts] == [True] * 5 + [False] * 3
            assert all(10.0 < v.retry_after <= 12.0 for v in verdicts[5:])
            await asyncio.sleep(0.3)
        # Two limiters on the same Redis (two nodes) share one budget.
        other = RateLimiter(client, "rl:test", limit=5, period_s=60)
        assert not (await other.take("viewer-0")).allowed
    finally:
        await client.aclose()


async def test_refills_one_unit_per_interval_and_weighs_costs(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        limiter = RateLimiter(client, "rl:test", limit=4, period_s=4)  # one back each second
        assert all([(await limiter.take("v")).allowed for _ in range(4)])
        refused = await limiter.take("v")
        assert not refused.allowed and 0 < refused.retry_after <= 1.0
        await asyncio.sleep(refused.retry_after + 0.05)
        assert (await limiter.take("v")).allowed
        # Weighted: likes come in batches; a batch costs its size.
        likes = RateLimiter(client, "rl:likes", limit=100, period_s=100)
        assert (await likes.take("v", 60)).allowed
        assert not (await likes.take("v", 41)).allowed
        assert (await likes.take("v", 40)).allowed       # refusing the 41 cost nothing
        assert not (await likes.take("w", 101)).allowed  # more than a whole period's worth
        # Keys expire once their budget is whole again: nothing piles up in Redis.
        ttl = await client.pttl("rl:test:v")
        assert 0 < ttl <= 4100
    finally:
        await client.aclose()


async def test_http_chat_limit_answers_429_with_retry_after(server: Running) -> None:
    _, host = await server.new_host()
    room = await server.new_room(host)
    path = f"/api/rooms/{room['room_id']}/chat"
    async with aiohttp.ClientSession() as http:
        _, viewer = await Api(server.base, http).viewer()
        headers = {"Authorization": f"Bearer {viewer}"}
        started = time.monotonic()
        statuses = []
        for i in range(7):
            async with http.post(server.base + path, json={"text": f"hi {i}"},
                                 headers=headers) as resp:
                statuses.append(resp.status)
                retry_after = resp.headers.get("Retry-After")
                body = await resp.json()
        assert statuses == [201] * 5 + [429] * 2, (statuses, time.monotonic() - started)
        assert body["error"]["code"] == "rate_limited"
        assert retry_after is not None and 1 <= int(retry_after) <= 2  # whole seconds, rounded up

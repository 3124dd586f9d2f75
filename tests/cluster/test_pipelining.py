"""BatchedScript: buys in flight share pipelines, and each is still one EVALSHA."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from server.platform.pipelining import BatchedScript

COUNT = """
local n = redis.call('INCR', KEYS[1])
if ARGV[1] == 'fail' then return redis.error_reply('ERR asked to fail') end
return {n, ARGV[1]}
"""


async def _commands(client: aioredis.Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def test_calls_in_flight_share_pipelines_and_stay_one_evalsha_each(
        redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        script = BatchedScript(client, COUNT)
        await script(["warm"], ["x"])  # loads the script (alone: EVALSHA, then NOSCRIPT fix)
        await client.config_resetstat()
        replies = await asyncio.gather(*(script(["n"], [str(i)]) for i in range(300)))
        # Every call got its own reply, in its own order, and the counter moved once each.
        assert sorted(int(r[0]) for r in replies) == list(range(1, 301))
        assert [r[1] for r in replies] == [str(i) for i in range(300)]
        calls = await _commands(client)
        assert calls.get("evalsha") == 300
        assert not {"eval", "script|load", "script|exists", "multi"} & set(calls)
        clients = await client.client_list()
        # 300 calls made in one loop turn went out as 3 pipelines (128 + 128 + 44), not on
        # 300 connections.
        assert len(clients) <= 5
    finally:
        await client.aclose()


async def test_an_error_reply_fails_only_its_own_call(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        script = BatchedScript(client, COUNT)
        results = await asyncio.gather(script(["e"], ["a"]), script(["e"], ["fail"]),
                                       script(["e"], ["b"]), return_exceptions=True)
        assert [r[1] for r in results if isinstance(r, list)] == ["a", "b"]
        assert isinstance(results[1], ResponseError)
        assert "asked to fail" in str(results[1])
    finally:
        await client.aclose()


async def test_flushed_scripts_are_loaded_again(redis_url: str) -> None:
    """Redis restarted from its AOF (or SCRIPT FLUSH): the first batch after it finds
    NOSCRIPT, loads the script once and sends only those calls again."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        script = BatchedScript(client, COUNT)
        await asyncio.gather(*(script(["f"], ["x"]) for _ in range(10)))
        await client.script_flush()
        replies = await asyncio.gather(*(script(["f"], [str(i)]) for i in range(10)))
        assert sorted(int(r[0]) for r in replies) == list(range(11, 21))
        assert await client.get("f") == "20"  # nothing ran twice
    finally:
        await client.aclose()


async def test_a_lost_connection_fails_every_call_of_its_batch() -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1", decode_responses=True)
    try:
        script = BatchedScript(client, COUNT)
        results = await asyncio.gather(*(script(["x"], ["y"]) for _ in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, (RedisConnectionError, OSError)) for r in results)
    finally:
        await client.aclose()


async def test_a_call_made_alone_is_sent_at_once(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        script = BatchedScript(client, COUNT)
        await script(["a"], ["z"])
        await client.config_resetstat()
        assert (await asyncio.wait_for(script(["a"], ["z"]), 2))[1] == "z"
        assert (await _commands(client)).get("evalsha") == 1
    finally:
        await client.aclose()

"""One Lua script called by many coroutines at once, sent as shared pipelines.

In a flash sale dozens of buys are in flight on a node at once, each one EVALSHA. Sent one
by one, every call takes a connection from the pool, arms its own timeout, writes its own
packet and wakes up for its own reply: about 85 µs of redis-py work per call, more than a
third of a buy's CPU on the server. Calls made while the loop runs one batch of ready
callbacks are sent together instead (one connection, one write, the replies read in
order): each is still exactly one EVALSHA and one trip to Redis, about 25 µs of client
work. Nothing waits for a batch to fill; a call made alone is sent on the next loop turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

Arg = str | int | float
MAX_BATCH = 128  # calls per pipeline: one reply buffer stays small


class BatchedScript:
    """``await script(keys, args)`` like redis-py's Script, sharing pipelines."""

    def __init__(self, redis: aioredis.Redis, source: str) -> None:
        self.redis = redis
        self.source = source
        self.script = redis.register_script(source)  # its sha, and the call used alone
        self._pending: list[tuple[Sequence[Arg], Sequence[Arg], asyncio.Future[Any]]] = []
        self._flushing = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def sha(self) -> str:
        return str(self.script.sha)

    async def __call__(self, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flushing = False
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_BATCH):
            task = asyncio.ensure_future(self._send(pending[start:start + MAX_BATCH]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self,
                    batch: list[tuple[Sequence[Arg], Sequence[Arg], asyncio.Future[Any]]],
                    ) -> None:
        try:
            replies = await self._execute(batch)
            missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if missing:  # Redis restarted or its scripts were flushed: load, send those again
                await self.redis.script_load(self.source)
                again = await self._execute([batch[i] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        except BaseException as exc:  # the connection failed: every call in it did
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(
            self, batch: list[tuple[Sequence[Arg], Sequence[Arg], asyncio.Future[Any]]],
    ) -> list[Any]:
        if len(batch) == 1:  # alone: the plain call is cheaper than a pipeline
            keys, args, _ = batch[0]
            try:
                return [await self.redis.evalsha(self.sha, len(keys), *keys, *args)]
            except NoScriptError as exc:
                return [exc]
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(self.sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))

    async def close(self) -> None:
        """Wait for the calls already sent (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

"""Chat and likes: limits per viewer, moderation by the host, likes summed before broadcast."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import redis.asyncio as aioredis

from .commerce.rules import RuleError, chat_text, like_count
from .events import EventBus
from .ratelimit import RateLimiter

HISTORY = 50
LIKES_PER_SECOND = 100


class ChatLimited(RuleError):
    def __init__(self, message: str, code: str, retry_after: float = 0.0) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Chat:
    def __init__(self, redis: aioredis.Redis, bus: EventBus, messages_per_window: int = 5,
                 window: int = 10, likes_interval: float = 0.5) -> None:
        self.redis = redis
        self.bus = bus
        self.per_window = messages_per_window
        self.window = window
        self._chat_limit = RateLimiter(redis, "rl:chat", messages_per_window, window)
        self._like_limit = RateLimiter(redis, "rl:like", LIKES_PER_SECOND, 1.0)
        self.likes_interval = likes_interval
        self._likes_pending: set[str] = set()
        self.counters: Any = None  # server/counters.py, when metrics are on
        self._tasks: set[asyncio.Task[None]] = set()

    async def _allow(self, room_id: str, viewer_id: str) -> None:
        if await self.redis.sismember(f"room:{room_id}:muted", viewer_id):
            raise ChatLimited("you have been muted in this room", code="muted")
        verdict = await self._chat_limit.take(viewer_id)
        if not verdict.allowed:
            raise ChatLimited(f"at most {self.per_window} messages per {self.window} s",
                              code="rate_limited", retry_after=verdict.retry_after)

    async def send(self, room_id: str, viewer_id: str, name: str, text: Any) -> dict[str, Any]:
        clean = chat_text(text)
        await self._allow(room_id, viewer_id)
        message = {"message_id": "m_" + secrets.token_hex(6), "viewer_id": viewer_id,
                   "name": name[:40], "text": clean, "ts": time.time()}
        key = f"room:{room_id}:chat"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(message))
            pipe.ltrim(key, -HISTORY, -1)
            await pipe.execute()
        await self.bus.publish(room_id, {"type": "chat", "message": message})
        if self.counters is not None:
            await self.counters.add(room_id, "chat_messages")
        return message

    async def history(self, room_id: str) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(f"room:{room_id}:chat", 0, -1)
        deleted = await self.redis.smembers(f"room:{room_id}:chat_deleted")
        out = []
        for item in raw:
            msg = json.loads(item)
            if msg["message_id"] not in deleted:
                out.append(msg)
        return out

    async def delete(self, room_id: str, message_id: str) -> None:
        await self.redis.sadd(f"room:{room_id}:chat_deleted", message_id)
        await self.bus.publish(room_id, {"type": "chat_deleted", "message_id": message_id})

    async def mute(self, room_id: str, viewer_id: str) -> None:
        await self.redis.sadd(f"room:{room_id}:muted", viewer_id)
        await self.bus.publish(room_id, {"type": "viewer_muted", "viewer_id": viewer_id})

    async def like(self, room_id: str, viewer_id: str, count: Any) -> int:
        n = like_count(count)
        verdict = await self._like_limit.take(viewer_id, n)
        if not verdict.allowed:
            raise ChatLimited(f"at most {LIKES_PER_SECOND} likes a second", code="rate_limited",
                              retry_after=verdict.retry_after)
        total = int(await self.redis.incrby(f"room:{room_id}:likes", n))
        if self.counters is not None:
            await self.counters.add(room_id, "likes", n)
        if room_id not in self._likes_pending:
            self._likes_pending.add(room_id)
            task = asyncio.create_task(self._flush_likes(room_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return total

    async def _flush_likes(self, room_id: str) -> None:
        await asyncio.sleep(self.likes_interval)
        self._likes_pending.discard(room_id)
        total = int(await self.redis.get(f"room:{room_id}:likes") or 0)
        await self.bus.publish(room_id, {"type": "likes", "total": total})

    async def likes(self, room_id: str) -> int:
        return int(await self.redis.get(f"room:{room_id}:likes") or 0)

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

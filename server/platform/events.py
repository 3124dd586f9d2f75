"""Room events over Redis pub/sub: every node publishes and every node delivers to its viewers.

Each event gets a per-room sequence number in the same Lua call that publishes it, so all
nodes see one order and a client that sees a gap knows to fetch a snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import redis.asyncio as aioredis


def announce(seq_key: str, chan: str, payload: str) -> str:
    """The Lua that gives a room event the room's next sequence number and publishes it as
    ``<seq> <payload>`` (what ``_dispatch`` reads), returning the seq: for a script that
    writes a change and announces it in the same call. Arguments are Lua expressions."""
    return (f"local seq = redis.call('INCR', {seq_key})\n"
            f"redis.call('PUBLISH', {chan}, seq .. ' ' .. {payload})\n"
            "return seq\n")


# Atomically give a room event the next sequence number and publish it.
# KEYS: room sequence counter;  ARGV: channel, msgpack payload (without seq)
PUBLISH = announce("KEYS[1]", "ARGV[1]", "ARGV[2]")


log = logging.getLogger("stallcast.events")


async def _close(pubsub: Any) -> None:
    await pubsub.aclose()  # redis-py leaves PubSub.aclose unannotated

CHANNEL_PREFIX = "stallcast:room:"
Deliver = Callable[[str, dict[str, Any]], Awaitable[None] | None]


def channel(room_id: str) -> str:
    return f"{CHANNEL_PREFIX}{room_id}"


class EventBus:
    """Publishes room events and feeds events from every node to ``deliver(room_id, event)``."""

    def __init__(self, redis: aioredis.Redis, deliver: Deliver) -> None:
        self.redis = redis
        self.deliver = deliver
        self._publish = redis.register_script(PUBLISH)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        # Called with (room_id, event) after each publish, e.g. to keep a session timeline.
        self.observers: list[Callable[[str, dict[str, Any]], Awaitable[None]]] = []
        self.on_latency: Callable[[float], None] | None = None

    @staticmethod
    def prepare(room_id: str, event: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """The event as published (room and time added) and its payload, for a script that
        writes a change and publishes it in one call (the PUBLISH body, then ``observe``)."""
        event = {**event, "room_id": room_id, "ts": time.time()}
        return event, msgpack.packb(event)

    async def observe(self, room_id: str, event: dict[str, Any]) -> None:
        for observe in self.observers:
            await observe(room_id, event)

    async def publish(self, room_id: str, event: dict[str, Any]) -> int:
        event, payload = self.prepare(room_id, event)
        if "to" in event:
            # Meant for one viewer: it takes no room sequence number, so other viewers see
            # no gap (and fetch no snapshot) on every order.
            await self.redis.publish(channel(room_id), b"0 " + payload)
            seq = 0
        else:
            seq = await self._publish(keys=[f"room:{room_id}:seq"],
                                      args=[channel(room_id), payload])
        await self.observe(room_id, event)
        return int(seq)

    async def current_seq(self, room_id: str) -> int:
        return int(await self.redis.get(f"room:{room_id}:seq") or 0)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        await self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                await _close(pubsub)
                raise
            except Exception as exc:  # Redis restarted or the connection dropped
                log.warning("event subscription lost, retrying", extra={"reason": str(exc)})
                await _close(pubsub)
                await asyncio.sleep(0.5)

    async def _dispatch(self, chan: Any, data: Any) -> None:
        raw = data.encode("latin-1") if isinstance(data, str) else data
        seq_text, _, payload = raw.partition(b" ")
        try:
            event = msgpack.unpackb(payload)
            if int(seq_text):
                event["seq"] = int(seq_text)
        except (ValueError, msgpack.UnpackException) as exc:
            log.warning("dropping malformed event", extra={"reason": str(exc)})
            return
        name = chan.decode() if isinstance(chan, bytes) else str(chan)
        room_id = name[len(CHANNEL_PREFIX):]
        lag = time.time() - float(event.get("ts", time.time()))
        if self.on_latency is not None:
            self.on_latency(max(0.0, lag))
        result = self.deliver(room_id, event)
        if asyncio.iscoroutine(result):
            await result

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

"""One server process in a cluster: room events go through Redis, and the node holds the
claim on each room whose host publishes to it, so a second host elsewhere gets 409."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from aiohttp import web

from .context import AppContext

LIVE_TTL = 30  # seconds a node's claim on a live room lasts without renewal

_RELEASE = ("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end")


class Node:
    """Glue between the media plane and the cluster: room events go through Redis, and the
    node keeps its claim on the rooms whose host publishes here."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.node_id = "n_" + secrets.token_hex(4)
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def announce(self, room_id: str, event: dict[str, Any]) -> None:
        self.spawn(self._announce(room_id, event))

    async def _announce(self, room_id: str, event: dict[str, Any]) -> None:
        redis = self.context.redis
        if event.get("type") == "host_left":
            await redis.eval(_RELEASE, 1, f"room:{room_id}:live", self.node_id)
        await self.context.bus.publish(room_id, event)

    async def claim_room(self, room_id: str) -> bool:
        """Claim the room's single publisher slot for this node (409 for everyone else)."""
        key = f"room:{room_id}:live"
        if await self.context.redis.set(key, self.node_id, nx=True, ex=LIVE_TTL):
            return True
        return await self.context.redis.get(key) == self.node_id and not (
            self.context.sfu.routers.get(room_id) and self.context.sfu.routers[room_id].live)

    async def release_room(self, room_id: str) -> None:
        await self.context.redis.eval(_RELEASE, 1, f"room:{room_id}:live", self.node_id)

    async def keep_claims(self) -> None:
        while True:
            await asyncio.sleep(LIVE_TTL / 3)
            for room_id, router in list(self.context.sfu.routers.items()):
                if router.live:
                    await self.context.redis.set(f"room:{room_id}:live", self.node_id,
                                                 ex=LIVE_TTL)

    def deliver(self, room_id: str, event: dict[str, Any]) -> None:
        router = self.context.sfu.routers.get(room_id)
        if router is not None:
            router.broadcast(event, to=event.pop("to", None))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


NODE = web.AppKey("stallcast_node", Node)



"""One server process in a cluster: room events go through Redis, and the node holds the
claim on each room whose host publishes to it, so a second publisher elsewhere gets 409
(``already_live``) unless it takes over: then the node holding the claim ends its publisher
(told over the bus when it is another node) and the new one continues the session."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from media.tasks import TaskSet
from server.live.audience import AudienceCounter
from server.live.context import AppContext
from server.vod.sessions import node_alive_key

log = logging.getLogger("stallcast.node")


_RELEASE = ("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end")
TAKEOVER_WAIT_S = 5.0  # how long a new publisher waits for another node to let the room go
TAKEOVER = "takeover"  # a bus message to the node holding a room: end your publisher


async def room_is_live(context: AppContext, room_id: str) -> bool:
    """Whether the room's host publishes now: to this node's router, or to another node
    (which holds the room's claim)."""
    router = context.sfu.routers.get(room_id)
    return bool(router and router.live) or bool(
        await context.redis.exists(f"room:{room_id}:live"))


class Node:
    """Glue between the media plane and the cluster: room events go through Redis, and the
    node keeps its claim on the rooms whose host publishes here."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.node_id = "n_" + secrets.token_hex(4)
        # Seconds its heartbeat and room claims last unrenewed (renewed every third of it).
        self.live_ttl = context.config.cluster.live_ttl_s
        self._tasks = TaskSet()
        self._announcements: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._announcer: asyncio.Future[None] | None = None
        # Told of host_live/host_left on this node before the room hears of it.
        self.observers: list[Callable[[str, dict[str, Any]], Awaitable[None]]] = []
        self.audience = AudienceCounter(context.redis, context.bus, context.sfu, self.node_id)

    def spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    def announce(self, room_id: str, event: dict[str, Any]) -> None:
        """Called by the media plane; handled in order, one at a time, off its call stack."""
        if self._announcer is None:
            self._announcer = asyncio.ensure_future(self._announce_loop())
        self._announcements.put_nowait((room_id, event))

    async def _announce_loop(self) -> None:
        while True:
            room_id, event = await self._announcements.get()
            try:
                await self._announce(room_id, event)
            except Exception:
                log.exception("announcement failed", extra={"room_id": room_id})

    async def _announce(self, room_id: str, event: dict[str, Any]) -> None:
        for observe in self.observers:
            try:
                await observe(room_id, event)
            except Exception:
                log.exception("room observer failed", extra={"room_id": room_id})
        redis = self.context.redis
        router = self.context.sfu.routers.get(room_id)
        live_here = bool(router and router.live)
        kind = event.get("type")
        # A publisher that took over (or came back) may be live again by now: its claim stays.
        if kind == "host_left" and not live_here:
            await redis.eval(_RELEASE, 1, f"room:{room_id}:live", self.node_id)
        elif kind == "host_live" and live_here:
            await redis.set(f"room:{room_id}:live", self.node_id, ex=self.live_ttl)
        await self.context.bus.publish(room_id, event)

    async def claim_room(self, room_id: str) -> bool:
        """Claim the room's single publisher slot for this node (409 for everyone else)."""
        key = f"room:{room_id}:live"
        if await self.context.redis.set(key, self.node_id, nx=True, ex=self.live_ttl):
            return True
        return await self.context.redis.get(key) == self.node_id and not (
            self.context.sfu.routers.get(room_id) and self.context.sfu.routers[room_id].live)

    async def take_over(self, room_id: str) -> None:
        """End the room's live publisher, here or on the node holding the room (told over
        the bus), and wait at most TAKEOVER_WAIT_S for that node to let the room go. The
        publisher leaves as if it dropped (``host_left`` reason "takeover"), so the next one
        continues its session, as a host back within the rejoin grace does."""
        if await self._end_publisher(room_id):
            return
        key = f"room:{room_id}:live"
        owner = await self.context.redis.get(key)
        if not owner or owner == self.node_id:
            return
        await self.context.bus.publish(room_id, {"type": TAKEOVER, "to": f"node:{owner!s}"})
        deadline = time.monotonic() + TAKEOVER_WAIT_S
        while await self.context.redis.exists(key) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def _end_publisher(self, room_id: str) -> bool:
        router = self.context.sfu.routers.get(room_id)
        if router is None or router.producer is None:
            return False
        log.info("publisher taken over", extra={"room_id": room_id})
        await self.context.sfu.end_session(router.producer.session_id, reason="takeover")
        return True

    async def release_room(self, room_id: str) -> None:
        await self.context.redis.eval(_RELEASE, 1, f"room:{room_id}:live", self.node_id)

    async def keep_claims(self) -> None:
        """Say this node is alive (its live sessions are looked after, see
        SessionStore.orphans) and keep its claim on the rooms whose host publishes here."""
        redis = self.context.redis
        self.spawn(self.audience.run())  # the node's other standing duty: audience counts
        while True:
            try:
                await redis.set(node_alive_key(self.node_id), "1", ex=self.live_ttl)
                for room_id, router in list(self.context.sfu.routers.items()):
                    if router.live:
                        await redis.set(f"room:{room_id}:live", self.node_id, ex=self.live_ttl)
            except Exception as exc:  # Redis restarting: try again next round
                log.warning("could not renew node claims", extra={"reason": str(exc)})
            await asyncio.sleep(self.live_ttl / 3)

    def deliver(self, room_id: str, event: dict[str, Any]) -> None:
        if event.get("type") == TAKEOVER:  # for a node, not for viewers
            if event.get("to") == f"node:{self.node_id}":
                self.spawn(self._end_publisher(room_id))
            return
        router = self.context.sfu.routers.get(room_id)
        if router is not None:
            router.broadcast(event, to=event.pop("to", None))

    async def close(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
            await asyncio.gather(self._announcer, return_exceptions=True)
        await self._tasks.close()
        try:  # a clean stop: nothing of ours is left for other nodes to take over
            await self.context.redis.delete(node_alive_key(self.node_id))
        except Exception as exc:
            log.warning("could not clear the node's alive key", extra={"reason": str(exc)})


NODE = web.AppKey("stallcast_node", Node)



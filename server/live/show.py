"""A room's show as viewers know it: live, away (the host dropped and may come back), ended
(the host ended it, or stayed away past the rejoin grace) or idle (never live). Kept in Redis
(``room:{id}:show``) by the node that carries the session, so every node and every late
joiner's snapshot says the same; the node's own claim decides live against away, so a node
that died mid-show reads as away until the orphan reaper ends its session."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from server.live.audience import audience_total
from server.live.context import AppContext
from server.live.node import room_is_live
from server.ops.reports import latest_figures
from server.platform.events import EventBus

STATES = ("live", "away", "ended", "idle")

# KEYS: the room's show.  ARGV: session id. A new session starts a new show (no old replay).
LIVE = """
if redis.call('HGET', KEYS[1], 'session_id') ~= ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'state', 'live', 'session_id', ARGV[1])
redis.call('HDEL', KEYS[1], 'ended_at')
"""

# End the show only if it is still this session's (a new one may have started since).
# KEYS: the room's show.  ARGV: session id, ended at.  Returns the replay url or false.
END = """
if redis.call('HGET', KEYS[1], 'session_id') ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'state', 'ended', 'ended_at', ARGV[2])
return redis.call('HGET', KEYS[1], 'replay_url') or ''
"""

# A replay for the room's show: noted only if the show is that session's.
# KEYS: the room's show.  ARGV: session id, url.  Returns 1 if noted.
REPLAY = """
if redis.call('HGET', KEYS[1], 'session_id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'replay_url', ARGV[2])
return 1
"""


def show_key(room_id: str) -> str:
    return f"room:{room_id}:show"


class ShowStore:
    """Needs a client made with ``decode_responses=True``."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._live = redis.register_script(LIVE)
        self._end = redis.register_script(END)
        self._replay = redis.register_script(REPLAY)

    async def live(self, room_id: str, session_id: str) -> None:
        """The host publishes in ``session_id`` (a new session, or one it came back to)."""
        await self._live(keys=[show_key(room_id)], args=[session_id])

    async def away(self, room_id: str, session_id: str) -> None:
        if await self.redis.hget(show_key(room_id), "session_id") == session_id:
            await self.redis.hset(show_key(room_id), "state", "away")

    async def ended(self, room_id: str, session_id: str,
                    ended_at: float | None = None) -> dict[str, Any] | None:
        """Note the end; returns the ``show_ended`` event to announce, or None when the
        room's show is another session's by now."""
        at = time.time() if ended_at is None else ended_at
        url = await self._end(keys=[show_key(room_id)], args=[session_id, at])
        if url is None:
            return None
        return {"type": "show_ended", "room_id": room_id, "session_id": session_id,
                "replay_url": str(url) or None}

    async def replay_ready(self, bus: EventBus, room_id: str, session_id: str,
                           class_id: str) -> bool:
        """A class was made from the room's show: tell its viewers where the replay is."""
        url = f"/classes/{class_id}"
        if not await self._replay(keys=[show_key(room_id)], args=[session_id, url]):
            return False
        await bus.publish(room_id, {"type": "replay_ready", "session_id": session_id,
                                    "class_id": class_id, "url": url})
        return True


async def read_show(redis: aioredis.Redis, room_id: str, live: bool) -> dict[str, Any]:
    """The snapshot's ``show``; ``live`` (the room's claim, see node.room_is_live) wins
    over what is stored: a host publishing is live, a stored "live" without one away."""
    raw = await redis.hgetall(show_key(room_id))
    state = raw.get("state", "idle")
    if state not in STATES:
        state = "idle"
    if live:
        state = "live"
    elif state == "live":
        state = "away"
    ended_at = raw.get("ended_at")
    return {"state": state, "session_id": raw.get("session_id") or None,
            "ended_at": float(ended_at) if ended_at and state == "ended" else None,
            "replay_url": raw.get("replay_url") or None}


async def live_session(app: AppContext, room_id: str) -> dict[str, Any] | None:
    """The room's live session as a host's second device sees it (null when not live):
    what the sampler last measured (every metrics.interval_s, any node) and, on the node
    the host publishes to, the router's own codec and picture size."""
    show = await read_show(app.redis, room_id, await room_is_live(app, room_id))
    sid = show["session_id"]
    if show["state"] != "live" or sid is None:
        return None
    session = await app.sessions.get(sid) or {}
    figures = await latest_figures(app.redis, sid) or {}
    router = app.sfu.routers.get(room_id)
    width, height = router.resolution if router and router.resolution else (
        int(figures.get("width") or 0), int(figures.get("height") or 0))
    return {"session_id": sid, "started_at": session.get("started_at"),
            "codec": (router.video_codec if router else None) or session.get("codec"),
            "width": width, "height": height, "fps": figures.get("fps"),
            "bitrate_bps": figures.get("ingest_bps"),
            "viewers": await audience_total(app.redis, room_id)}


async def announce_replay(app: AppContext, room_id: str, session_id: str,
                          class_id: str) -> bool:
    """A class was made from ``session_id``: if it is the room's show, viewers hear of it."""
    return await ShowStore(app.redis).replay_ready(app.bus, room_id, session_id, class_id)

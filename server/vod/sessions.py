"""Recorded sessions, their commerce timelines, the packaging job queue and classes."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import redis.asyncio as aioredis

from server.platform.batch import hashes
from server.vod.records import (
    Class,
    Job,
    Packaged,
    Session,
    decode_class,
    decode_job,
    decode_session,
)

JOBS = "jobs:package"
LIVE_SESSIONS = "sessions:live"  # sid -> start time, while the session is live


def node_alive_key(node_id: str) -> str:
    """Set with a TTL by every running node (server/live/node.py): its sessions are looked after."""
    return f"node:{node_id}:alive"


# Close a session, only on the node that owns it: a node whose session another node took
# over (its host came back there) leaves it alone.
# KEYS: session hash, room's session key, live index, job hash, job queue.
# ARGV: sid, this node, new status, ended_at, package (1/0), now.
FINISH = """
local owner = redis.call('HGET', KEYS[1], 'node') or ''
if owner ~= '' and owner ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'ended_at', ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[4], 'status', 'queued', 'heartbeat', 0, 'attempts', 0)
  redis.call('ZADD', KEYS[5], tonumber(ARGV[6]), ARGV[1])
end
return 1
"""

# A host whose connection dropped came back on another node: that node carries on the
# room's session (a new recording part) if it is live, its host away, and its codec the same.
# KEYS: room's session key.  ARGV: this node, the codec the host now sends.
# Returns {sid, part number} or false.
ADOPT = """
local sid = redis.call('GET', KEYS[1])
if not sid then return false end
local key = 'session:' .. sid
if redis.call('HGET', key, 'status') ~= 'live' then return false end
if not redis.call('HGET', key, 'host_left_at') then return false end
if (redis.call('HGET', key, 'node') or '') == ARGV[1] then return false end
if redis.call('HGET', key, 'codec') ~= ARGV[2] then return false end
redis.call('HSET', key, 'node', ARGV[1])
redis.call('HDEL', key, 'host_left_at')
return {sid, redis.call('HINCRBY', key, 'parts', 1)}
"""

# Take over a live session whose node died, so exactly one node finishes it.
# KEYS: session hash.  ARGV: the dead node as last seen, this node.
RECLAIM = """
if redis.call('HGET', KEYS[1], 'status') ~= 'live' then return 0 end
if (redis.call('HGET', KEYS[1], 'node') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'node', ARGV[2])
return 1
"""
TIMELINE_TYPES = {"card_pinned", "card_unpinned", "sale_started", "sale_stock",
                  "sale_sold_out", "sale_ended"}

# Claim the first packaging job that is queued, or running on a node that stopped beating.
# KEYS: jobs zset;  ARGV: now, stale seconds, node id
CLAIM = """
local ids = redis.call('ZRANGE', KEYS[1], 0, 50)
for _, id in ipairs(ids) do
  local key = 'job:' .. id
  local status = redis.call('HGET', key, 'status')
  local beat = tonumber(redis.call('HGET', key, 'heartbeat') or '0')
  if status == 'queued' or (status == 'running' and beat < tonumber(ARGV[1]) - tonumber(ARGV[2]))
  then
    redis.call('HSET', key, 'status', 'running', 'node', ARGV[3], 'heartbeat', ARGV[1])
    redis.call('HINCRBY', key, 'attempts', 1)
    return id
  end
end
return false
"""

# Make a session's one class. KEYS: the session's class pointer, class hash, classes zset.
# ARGV: class id, created_at, then class fields.  Returns the existing class id, or false.
CREATE_CLASS = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1])
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return false
"""


class SessionStore:
    """Needs a client made with ``decode_responses=True``."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._claim = redis.register_script(CLAIM)
        self._reclaim = redis.register_script(RECLAIM)
        self._finish = redis.register_script(FINISH)
        self._adopt = redis.register_script(ADOPT)
        self._create_class = redis.register_script(CREATE_CLASS)

    # -- sessions ---------------------------------------------------------------------------
    async def start(self, room_id: str, host_id: str, title: str, file: str,
                    codec: str, node: str = "") -> Session:
        sid = "sess_" + secrets.token_hex(6)
        now = time.time()
        fields: dict[str, str | float] = {
            "session_id": sid, "room_id": room_id, "host_id": host_id, "title": title,
            "started_at": now, "status": "live", "file": file, "codec": codec,
            "progress": 0.0, "node": node}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"session:{sid}", mapping=fields)  # type: ignore[arg-type]
            pipe.zadd(f"host:{host_id}:sessions", {sid: now})
            pipe.set(f"room:{room_id}:session", sid)
            pipe.zadd(LIVE_SESSIONS, {sid: now})
            await pipe.execute()
        return decode_session(fields)

    async def get(self, sid: str) -> Session | None:
        if len(sid) > 64:
            return None
        raw = await self.redis.hgetall(f"session:{sid}")
        return decode_session(raw) if raw else None

    async def update(self, sid: str, **fields: Any) -> None:
        await self.redis.hset(f"session:{sid}", mapping={k: str(v) for k, v in fields.items()})

    async def get_many(self, ids: list[str]) -> list[Session | None]:
        """Sessions by id in one round trip, None where one is missing."""
        return [decode_session(r) if r else None
                for r in await hashes(self.redis, "session:", ids)]

    async def of_host(self, host_id: str) -> list[Session]:
        ids = await self.redis.zrevrange(f"host:{host_id}:sessions", 0, 200)
        return [s for s in await self.get_many([str(i) for i in ids]) if s]

    async def active(self, room_id: str) -> str | None:
        sid = await self.redis.get(f"room:{room_id}:session")
        return str(sid) if sid else None

    async def finish(self, sid: str, room_id: str, package: bool,
                     ended_at: float | None = None, node: str = "") -> bool:
        """The session is over: queue its recording for packaging, if it has one. False
        (and nothing done) if another node owns the session now."""
        now = time.time()
        ended_at = now if ended_at is None else ended_at
        done = await self._finish(
            keys=[f"session:{sid}", f"room:{room_id}:session", LIVE_SESSIONS, f"job:{sid}",
                  JOBS],
            args=[sid, node, "packaging" if package else "ended", ended_at,
                  "1" if package else "0", now])
        return bool(done)

    async def adopt(self, room_id: str, node: str, codec: str) -> tuple[str, int] | None:
        """Carry on the room's session here (see ADOPT); returns (session id, part)."""
        found = await self._adopt(keys=[f"room:{room_id}:session"], args=[node, codec])
        return (str(found[0]), int(found[1])) if found else None

    async def owner(self, sid: str) -> str:
        """The node that carries the session ("" for one from before nodes were noted)."""
        return str(await self.redis.hget(f"session:{sid}", "node") or "")

    async def forget_host_left(self, sid: str) -> None:
        await self.redis.hdel(f"session:{sid}", "host_left_at")

    async def add_part(self, sid: str, path: str) -> None:
        await self.redis.rpush(f"session:{sid}:parts", path)

    async def parts(self, sid: str) -> list[str]:
        """Recording files after the first (``file``), in order."""
        return [str(p) for p in await self.redis.lrange(f"session:{sid}:parts", 0, -1)]

    async def live_ids(self, limit: int = 1000) -> list[str]:
        """The sessions live now, on every node, oldest first: the one index of them."""
        return [str(i) for i in await self.redis.zrange(LIVE_SESSIONS, 0, limit - 1)]

    async def orphans(self, me: str) -> list[Session]:
        """Live sessions whose node stopped (crashed, killed, lost power) without ending
        them; each is taken over for this node, so exactly one node finishes it."""
        ids = await self.live_ids()
        sessions = await self.get_many(ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for s in sessions:
                pipe.exists(node_alive_key(str(s.get("node", "")) if s else ""))
            alive = await pipe.execute()
        out = []
        for sid, session, up in zip(ids, sessions, alive, strict=True):
            if session is None or session.get("status") != "live":
                await self.redis.zrem(LIVE_SESSIONS, sid)  # finished meanwhile, or gone
            elif not up and session.get("node", "") != me and await self._reclaim(
                    keys=[f"session:{sid}"], args=[session.get("node", ""), me]):
                out.append(session)
        return out

    # -- timeline ---------------------------------------------------------------------------
    async def note(self, room_id: str, event: dict[str, Any]) -> None:
        """Keep a commerce event on the timeline of the room's recording, if any."""
        if event.get("type") not in TIMELINE_TYPES:
            return
        sid = await self.active(room_id)
        if sid:
            await self.redis.rpush(f"session:{sid}:timeline", json.dumps(event))

    async def timeline(self, session: Session) -> list[dict[str, Any]]:
        """Events with ``at``: seconds from the start of the packaged video."""
        raw = await self.redis.lrange(f"session:{session['session_id']}:timeline", 0, -1)
        zero = session["started_at"] + session.get("offset_ms", 0) / 1000
        out = []
        for item in raw:
            event = json.loads(item)
            event["at"] = round(max(0.0, event.pop("ts") - zero), 3)
            event.pop("room_id", None)
            out.append(event)
        return out

    # -- packaging jobs ---------------------------------------------------------------------
    async def claim_job(self, node_id: str, stale_after: float) -> str | None:
        sid = await self._claim(keys=[JOBS], args=[time.time(), stale_after, node_id])
        return str(sid) if sid else None

    async def beat(self, sid: str, progress: float) -> None:
        await self.redis.hset(f"job:{sid}", mapping={"heartbeat": time.time(),
                                                     "progress": progress})
        await self.redis.hset(f"session:{sid}", "progress", progress)

    async def job_done(self, sid: str, result: Packaged) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"session:{sid}", mapping={
                "status": "ready", "progress": 1.0, "duration": result["duration"],
                "offset_ms": result["offset_ms"], "transcoded": str(result["transcoded"])})
            pipe.hset(f"job:{sid}", "status", "done")
            pipe.zrem(JOBS, sid)
            await pipe.execute()

    async def job_failed(self, sid: str, error: str, give_up: bool) -> None:
        await self.redis.hset(f"job:{sid}", mapping={"status": "failed" if give_up else "queued",
                                                     "error": error[:500]})
        if give_up:
            await self.redis.zrem(JOBS, sid)
            await self.update(sid, status="failed", error=error[:500])

    async def job(self, sid: str) -> Job | None:
        raw = await self.redis.hgetall(f"job:{sid}")
        return decode_job(raw) if raw else None

    # -- classes ----------------------------------------------------------------------------
    async def create_class(self, session: Session,
                           fields: dict[str, Any]) -> tuple[Class, bool]:
        """Make the session's class, once: a second call returns the first class and False,
        so a double tap or two hosts' tabs never sell one recording as two classes."""
        cid = "c_" + secrets.token_hex(6)
        data = {**fields, "class_id": cid, "product_id": cid, "session_id": session["session_id"],
                "host_id": session["host_id"], "room_id": session["room_id"],
                "created_at": time.time(), "stock": 10**9, "per_buyer_limit": 1,
                "status": "active"}
        flat = [str(x) for kv in data.items() for x in kv]
        existing = await self._create_class(
            keys=[f"session:{session['session_id']}:class", f"class:{cid}", "classes"],
            args=[cid, data["created_at"], *flat])
        if existing:
            cls = await self.get_class(str(existing))
            if cls is not None:
                return cls, False
        return decode_class(data), True

    async def get_class(self, cid: str) -> Class | None:
        if len(cid) > 64:
            return None
        raw = await self.redis.hgetall(f"class:{cid}")
        return decode_class(raw) if raw else None

    async def classes(self) -> list[Class]:
        ids = await self.redis.zrevrange("classes", 0, 500)
        return [decode_class(r) for r in await hashes(self.redis, "class:", ids)
                if r]

    async def grant(self, viewer_id: str, cid: str) -> None:
        await self.redis.sadd(f"viewer:{viewer_id}:classes", cid)

    async def revoke(self, viewer_id: str, cid: str) -> None:
        await self.redis.srem(f"viewer:{viewer_id}:classes", cid)

    async def entitled(self, viewer_id: str | None, cid: str) -> bool:
        if viewer_id is None:
            return False
        return bool(await self.redis.sismember(f"viewer:{viewer_id}:classes", cid))

    async def save_position(self, viewer_id: str, cid: str, seconds: float) -> None:
        await self.redis.hset(f"viewer:{viewer_id}:positions", cid, round(seconds, 1))

    async def position(self, viewer_id: str | None, cid: str) -> float:
        if viewer_id is None:
            return 0.0
        value = await self.redis.hget(f"viewer:{viewer_id}:positions", cid)
        return float(value) if value else 0.0

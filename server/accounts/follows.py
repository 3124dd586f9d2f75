"""Who follows which host, and who asked to be reminded of which scheduled show: the two
lists a host's going live is told to. Both sides of each relation are kept (the viewer's,
to list and merge; the host's or show's, to walk in batches), written together in Lua so
they never disagree and a cap cannot be raced past.

Redis: ``viewer:{v}:follows`` zset host id -> since, ``host:{h}:followers`` zset viewer id
-> since, ``viewer:{v}:asks`` set of show ids, ``show:{id}:askers`` set of viewer ids."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from server.platform.errors import RuleError

ASKS_PER_VIEWER = 200  # "remind me" taps one viewer keeps at once
ASKERS_PER_SHOW = 200_000
START: tuple[str, str] = ("", "")  # a walk of a host's followers begins here

# KEYS: viewer's follows, host's followers, host hash. ARGV: host id, viewer id, now, cap.
# -> 1 followed, 0 already did, -1 no such host, -2 over the cap.
_FOLLOW = """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return -2 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"""

# The next batch of a host's followers after the one walked last, in the zset's own order
# (followed at, then id): by rank from where the last one stands. If it has left meanwhile
# (unfollowed, merged) or followed again, it is put back where it stood for the ZRANK and
# then taken out (or moved back) in the same script, so an unfollow during a walk never
# shifts anyone past the cursor, ties of "followed at" included.
# KEYS: host's followers. ARGV: last one's score, its id ("" to start), count.
# -> id, score, id, score, ... (scores as Redis writes them, to pass back exactly)
_AFTER = """
local first = 0
if ARGV[2] ~= '' then
  local now = redis.call('ZSCORE', KEYS[1], ARGV[2])
  if now and tonumber(now) == tonumber(ARGV[1]) then
    first = redis.call('ZRANK', KEYS[1], ARGV[2]) + 1
  else
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
    first = redis.call('ZRANK', KEYS[1], ARGV[2])
    if now then
      redis.call('ZADD', KEYS[1], now, ARGV[2])
      if tonumber(now) < tonumber(ARGV[1]) then first = first + 1 end
    else
      redis.call('ZREM', KEYS[1], ARGV[2])
    end
  end
end
return redis.call('ZRANGE', KEYS[1], first, first + tonumber(ARGV[3]) - 1, 'WITHSCORES')
"""

# KEYS: viewer's asks, show's askers, show hash. ARGV: show id, viewer id, cap, show cap.
_ASK = """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -2 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[4]) then return -2 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""

# Everything ``from`` follows or asked about becomes ``to``'s, within ``to``'s caps; the
# host and show sides are rewritten with it. KEYS: from's follows, to's follows, from's
# asks, to's asks. ARGV: from id, to id, follow cap, ask cap. -> items moved.
_MERGE = """
local moved = 0
local follows = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #follows, 2 do
  local host, since = follows[i], follows[i + 1]
  local followers = 'host:' .. host .. ':followers'
  redis.call('ZREM', followers, ARGV[1])
  if redis.call('ZSCORE', KEYS[2], host) then
    redis.call('ZADD', followers, 'NX', since, ARGV[2])
  elseif redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[2], since, host)
    redis.call('ZADD', followers, 'NX', since, ARGV[2])
    moved = moved + 1
  end
end
for _, show in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local askers = 'show:' .. show .. ':askers'
  redis.call('SREM', askers, ARGV[1])
  if redis.call('SISMEMBER', KEYS[4], show) == 1 then
    redis.call('SADD', askers, ARGV[2])
  elseif redis.call('SCARD', KEYS[4]) < tonumber(ARGV[4]) then
    redis.call('SADD', KEYS[4], show)
    redis.call('SADD', askers, ARGV[2])
    moved = moved + 1
  end
end
redis.call('DEL', KEYS[1], KEYS[3])
return moved
"""


class Follows:
    def __init__(self, redis: aioredis.Redis, follows_per_viewer: int) -> None:
        self.redis = redis
        self.cap = follows_per_viewer
        self._follow = redis.register_script(_FOLLOW)
        self._ask = redis.register_script(_ASK)
        self._merge = redis.register_script(_MERGE)
        self._after = redis.register_script(_AFTER)

    async def follow(self, viewer_id: str, host_id: str) -> bool:
        """True when newly followed. RuleError not_found (no such host), limit (cap)."""
        done = int(await self._follow(
            keys=[f"viewer:{viewer_id}:follows", f"host:{host_id}:followers",
                  f"host:{host_id}"], args=[host_id, viewer_id, time.time(), self.cap]))
        if done == -1:
            raise RuleError("no such host", code="not_found")
        if done == -2:
            raise RuleError(f"at most {self.cap} hosts followed at once", code="limit")
        return done == 1

    async def unfollow(self, viewer_id: str, host_id: str) -> bool:
        return await self._unpair("zrem", f"viewer:{viewer_id}:follows", host_id,
                                  f"host:{host_id}:followers", viewer_id)

    async def _unpair(self, command: str, mine: str, theirs_id: str, theirs: str,
                      viewer_id: str) -> bool:
        """Both sides of a follow (ZREM) or an ask (SREM) go in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            getattr(pipe, command)(mine, theirs_id)
            getattr(pipe, command)(theirs, viewer_id)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def following(self, viewer_id: str) -> list[tuple[str, float]]:
        """(host id, since) of every host the viewer follows, newest first."""
        found: list[Any] = await self.redis.zrevrange(f"viewer:{viewer_id}:follows", 0, -1,
                                                      withscores=True)
        return [(str(h), float(s)) for h, s in found]

    async def follows(self, viewer_id: str, host_id: str) -> bool:
        return await self.redis.zscore(f"viewer:{viewer_id}:follows", host_id) is not None

    async def followers_count(self, host_ids: list[str]) -> dict[str, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for host_id in host_ids:
                pipe.zcard(f"host:{host_id}:followers")
            counts = await pipe.execute()
        return {h: int(n) for h, n in zip(host_ids, counts, strict=True)}

    async def followers(self, host_id: str, after: tuple[str, str],
                        count: int) -> tuple[tuple[str, str], list[str]]:
        """One batch of the host's followers, oldest first, after the cursor ``after``
        (START, then the one the last batch returned): (next cursor, viewer ids, [] at the
        end). Whoever follows throughout a walk is in it, however many leave meanwhile."""
        flat = [str(x) for x in await self._after(keys=[f"host:{host_id}:followers"],
                                                  args=[after[0], after[1], count])]
        if not flat:
            return after, []
        return (flat[-1], flat[-2]), flat[0::2]

    async def ask(self, viewer_id: str, show_id: str) -> bool:
        """"Remind me" on a show; True when new. RuleError not_found, limit."""
        done = int(await self._ask(
            keys=[f"viewer:{viewer_id}:asks", f"show:{show_id}:askers", f"show:{show_id}"],
            args=[show_id, viewer_id, ASKS_PER_VIEWER, ASKERS_PER_SHOW]))
        if done == -1:
            raise RuleError("no such show", code="not_found")
        if done == -2:
            raise RuleError("too many reminders asked for", code="limit")
        return done == 1

    async def unask(self, viewer_id: str, show_id: str) -> bool:
        return await self._unpair("srem", f"viewer:{viewer_id}:asks", show_id,
                                  f"show:{show_id}:askers", viewer_id)

    async def asked(self, viewer_id: str, show_id: str) -> bool:
        return bool(await self.redis.sismember(f"viewer:{viewer_id}:asks", show_id))

    async def askers(self, show_id: str, cursor: int, count: int) -> tuple[int, list[str]]:
        """One SSCAN step over the show's askers: (next cursor, 0 at the end; viewer ids)."""
        nxt, found = await self.redis.sscan(f"show:{show_id}:askers", cursor, count=count)
        return int(nxt), [str(v) for v in found]

    async def forget_show(self, show_id: str) -> None:
        """A removed show: its askers' lists no longer name it."""
        cursor = 0
        while True:
            cursor, viewers = await self.askers(show_id, cursor, 500)
            async with self.redis.pipeline(transaction=False) as pipe:
                for viewer_id in viewers:
                    pipe.srem(f"viewer:{viewer_id}:asks", show_id)
                await pipe.execute()
            if cursor == 0:
                break
        await self.redis.delete(f"show:{show_id}:askers")

    async def merge(self, from_id: str, to_id: str) -> int:
        """A signed-in viewer's merge hook: ``from_id``'s follows and asks become
        ``to_id``'s, in one script; returns how many moved."""
        if from_id == to_id:
            return 0
        return int(await self._merge(
            keys=[f"viewer:{from_id}:follows", f"viewer:{to_id}:follows",
                  f"viewer:{from_id}:asks", f"viewer:{to_id}:asks"],
            args=[from_id, to_id, self.cap, ASKS_PER_VIEWER]))

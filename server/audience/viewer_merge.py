"""A viewer's name, chat addresses and mutes follow it into the account it signed in to
(server/live/merging.py): signing in on a new phone keeps the nickname, and is no way out
of a host's mute."""

from __future__ import annotations

import redis.asyncio as aioredis

from server.audience.chat import ADDRESSES_KEPT, KEEP_S, NICKNAME_KEEP_S
from server.audience.viewers import nickname_key

# KEYS: 1/2 from's/to's nickname, 3/4 from's/to's chat addresses, 5/6 from's/to's
# muted_in (rooms).  ARGV: 1 from id, 2 to id, 3 nickname keep s, 4 addresses keep s,
# 5 addresses kept.  The account keeps its own nickname if it has one. In each room from is
# muted in, to is muted too, bound to what from's mute bound; room keys are built here from
# muted_in. Returns how many things moved.
MERGE_VIEWER = """
local moved = 0
local name = redis.call('GET', KEYS[1])
if name then
  if redis.call('SET', KEYS[2], name, 'NX', 'EX', ARGV[3]) then moved = moved + 1 end
  redis.call('DEL', KEYS[1])
end
for _, tag in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('SCARD', KEYS[4]) < tonumber(ARGV[5]) then
    moved = moved + redis.call('SADD', KEYS[4], tag)
    redis.call('EXPIRE', KEYS[4], ARGV[4])
  end
end
local now = tonumber(redis.call('TIME')[1])
for _, room in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  local prefix = 'room:' .. room
  if redis.call('SISMEMBER', prefix .. ':muted', ARGV[1]) == 1 then
    redis.call('SADD', prefix .. ':muted', ARGV[2])
    local bound = redis.call('HGET', prefix .. ':mute_records', ARGV[1]) or ''
    local own = redis.call('HGET', prefix .. ':mute_records', ARGV[2])
    if own then bound = own .. ' ' .. bound end
    redis.call('HSET', prefix .. ':mute_records', ARGV[2], bound)
    redis.call('ZADD', prefix .. ':mutes', 'NX', now, ARGV[2])
    redis.call('SADD', KEYS[6], room)
    moved = moved + 1
  end
end
return moved
"""


class ViewerMerge:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._merge = redis.register_script(MERGE_VIEWER)

    async def merge(self, from_id: str, to_id: str) -> int:
        return int(await self._merge(
            keys=[nickname_key(from_id), nickname_key(to_id), f"viewer:{from_id}:addresses",
                  f"viewer:{to_id}:addresses", f"viewer:{from_id}:muted_in",
                  f"viewer:{to_id}:muted_in"],
            args=[from_id, to_id, NICKNAME_KEEP_S, KEEP_S, ADDRESSES_KEPT]))

"""How many watch a room, across the cluster: each node notes its own viewers of the room in
``room:{id}:audience`` (node -> "count expires_at") every couple of seconds, and whichever
node sees the total change announces it (``audience`` {viewers}), so each change is said
once, at most one announcement per node every INTERVAL_S. A node that stops noting (it
died) drops out of the total when its entry expires."""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis

from media.sfu import Sfu
from server.platform.events import EventBus

log = logging.getLogger("stallcast.audience")

INTERVAL_S = 2.0
ENTRY_TTL_S = 30  # a node's count lasts this long unrenewed
RENEW_S = 10.0  # an unchanged count is noted again this often
PUBLISHED = "_published"

# KEYS: the room's audience hash.  ARGV: node id, its viewers, entry ttl s.
# Returns {total, 1 if the total differs from the last one announced (and is now it)}.
NOTE = """
local now = tonumber(redis.call('TIME')[1])
local ttl = tonumber(ARGV[3])
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (now + ttl))
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local total = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= '_published' then
    local n, till = string.match(all[i + 1], '^(%d+) (%d+)$')
    if n and tonumber(till) > now then total = total + tonumber(n)
    else redis.call('HDEL', KEYS[1], all[i]) end
  end
end
local changed = 0
if tostring(total) ~= (redis.call('HGET', KEYS[1], '_published') or '0') then
  redis.call('HSET', KEYS[1], '_published', total)
  changed = 1
end
redis.call('EXPIRE', KEYS[1], ttl * 2)
return {total, changed}
"""


def audience_key(room_id: str) -> str:
    return f"room:{room_id}:audience"


async def audience_total(redis: aioredis.Redis, room_id: str) -> int:
    """Viewers of the room on every node, as last noted (at most INTERVAL_S old)."""
    raw = await redis.hgetall(audience_key(room_id))
    now = time.time()
    total = 0
    for field, value in raw.items():
        if str(field) == PUBLISHED:
            continue
        count, _, till = str(value).partition(" ")
        if count.isdigit() and till.isdigit() and int(till) > now:
            total += int(count)
    return total


class AudienceCounter:
    """This node's share of every room's audience, noted and announced."""

    def __init__(self, redis: aioredis.Redis, bus: EventBus, sfu: Sfu, node_id: str) -> None:
        self.redis = redis
        self.bus = bus
        self.sfu = sfu
        self.node_id = node_id
        self._note = redis.register_script(NOTE)
        self._noted: dict[str, tuple[int, float]] = {}  # room -> (count, when noted)

    async def tick(self) -> None:
        now = time.monotonic()
        counts = {rid: router.audience for rid, router in list(self.sfu.routers.items())}
        for room_id in set(self._noted) - set(counts):
            counts[room_id] = 0  # the room's router is gone from this node
        for room_id, count in counts.items():
            last = self._noted.get(room_id)
            if (last is None and not count) or (
                    last is not None and last[0] == count and now - last[1] < RENEW_S):
                continue
            total, changed = await self._note(keys=[audience_key(room_id)],
                                              args=[self.node_id, count, ENTRY_TTL_S])
            if count:
                self._noted[room_id] = (count, now)
            else:
                self._noted.pop(room_id, None)
            if int(changed):
                await self.bus.publish(room_id, {"type": "audience", "viewers": int(total)})

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # Redis restarting: the next tick catches up
                log.warning("audience not noted", extra={"reason": str(exc)})
            await asyncio.sleep(INTERVAL_S)

"""Bought classes follow a viewer into the account it signed in to: a class bought on one
phone plays on the next one after signing in (server/live/merging.py)."""

from __future__ import annotations

import redis.asyncio as aioredis

# KEYS: 1 from's classes set, 2 to's classes set, 3 from's positions, 4 to's positions.
# Returns how many entitlements and positions moved. A position the account already has
# for a class stays (it was watched there last).
MERGE_CLASSES = """
local moved = redis.call('SCARD', KEYS[1])
if moved > 0 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
  redis.call('DEL', KEYS[1])
end
local positions = redis.call('HGETALL', KEYS[3])
for i = 1, #positions, 2 do
  moved = moved + redis.call('HSETNX', KEYS[4], positions[i], positions[i + 1])
end
redis.call('DEL', KEYS[3])
return moved
"""


class ClassMerge:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._merge = redis.register_script(MERGE_CLASSES)

    async def merge(self, from_id: str, to_id: str) -> int:
        return int(await self._merge(keys=[f"viewer:{from_id}:classes",
                                           f"viewer:{to_id}:classes",
                                           f"viewer:{from_id}:positions",
                                           f"viewer:{to_id}:positions"]))

"""A buyer's orders follow it into the account it signed in to (server/live/merging.py).

Orders are records: nothing is copied, each order's ``buyer_id`` is rewritten and its id
moves to the account's index, so the host's order lists stay as they were. The per-buyer
counts of each source move too (a limit of 2 stays 2 for the person, not 2 per device),
idempotency keys follow (a retried buy replays its order), and the saved contact is taken
when the account has none.
"""

from __future__ import annotations

import redis.asyncio as aioredis

BATCH = 200  # orders per script call: a long history moves in several short steps

# KEYS: 1 from's orders zset, 2 to's orders zset, 3 from's contact, 4 to's contact.
# ARGV: 1 from id, 2 to id, 3 batch size. Keys of each order (``order:{oid}``), its
# source's ``:buyers`` and ``idem:`` are built here from the order, as CANCEL does.
# Returns how many orders moved (less than the batch: done).
MERGE_ORDERS = """
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
local sources = {}
for i = 1, #ids, 2 do
  local oid = ids[i]
  local okey = 'order:' .. oid
  local o = redis.call('HMGET', okey, 'buyer_id', 'source', 'idempotency_key')
  if o[1] == ARGV[1] then
    redis.call('HSET', okey, 'buyer_id', ARGV[2])
    if o[2] and o[2] ~= '' then sources[o[2]] = true end
    if o[3] and o[3] ~= '' then
      local from_idem = 'idem:' .. ARGV[1] .. ':' .. o[3]
      local first = redis.call('GET', from_idem)
      if first then
        redis.call('SET', 'idem:' .. ARGV[2] .. ':' .. o[3], first, 'NX')
        redis.call('DEL', from_idem)
      end
    end
  end
  redis.call('ZADD', KEYS[2], ids[i + 1], oid)
  redis.call('ZREM', KEYS[1], oid)
end
for src in pairs(sources) do
  local counts = src .. ':buyers'
  local n = redis.call('HGET', counts, ARGV[1])
  if n then
    redis.call('HINCRBY', counts, ARGV[2], tonumber(n))
    redis.call('HDEL', counts, ARGV[1])
  end
end
local contact = redis.call('HGETALL', KEYS[3])
if #contact > 0 then
  if redis.call('EXISTS', KEYS[4]) == 0 then redis.call('HSET', KEYS[4], unpack(contact)) end
  redis.call('DEL', KEYS[3])
end
return #ids / 2
"""


class BuyerMerge:
    """The commerce hook: orders, per-buyer counts, idempotency keys, the saved contact."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._merge = redis.register_script(MERGE_ORDERS)

    async def merge(self, from_id: str, to_id: str) -> int:
        moved = 0
        while True:
            n = int(await self._merge(
                keys=[f"buyer:{from_id}:orders", f"buyer:{to_id}:orders",
                      f"viewer:{from_id}:contact", f"viewer:{to_id}:contact"],
                args=[from_id, to_id, BATCH]))
            moved += n
            if n < BATCH:
                return moved

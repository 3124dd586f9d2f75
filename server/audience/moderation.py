"""The host's hold on a room's chat: mutes and unmutes, a pinned message, a keyword filter.

A mute binds the identity, its saved phone and its addresses (a fresh identity is free, so a
mute of the identity alone would hold nobody); what it bound is written down per viewer, so
an unmute lifts exactly that, and leaves alone what another muted viewer still holds.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from server.audience.rules import filter_words, folded
from server.audience.viewers import nickname_key
from server.platform import wire
from server.platform.errors import RuleError
from server.platform.events import EventBus

ADDRESS_MUTE_S = 86400  # addresses change hands (NAT, mobile carriers): a mute holds one a day
MUTES_LISTED = 500

# KEYS: 1 room's muted set, 2 room's muted addresses, 3 viewer's mint address, 4 viewer's
# contact, 5 viewer's chat addresses, 6 room's mute records (hash: viewer -> what its mute
# bound, "p:<phone hash>" and "a:<tag>" separated by spaces), 7 room's mutes (zset: viewer ->
# muted at), 8 viewer's muted_in (rooms it is muted in, for an account merge).  ARGV: 1
# viewer id, 2 salt, 3 seconds an address stays muted, 4 room id.
# Returns how many things the mute now holds (the identity, a phone, addresses).
MUTE = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[8], ARGV[4])
local items = {}
local phone = redis.call('HGET', KEYS[4], 'phone')
if phone then
  local digits = string.gsub(phone, '%D', '')
  if digits ~= '' then
    local hashed = 'p:' .. redis.sha1hex(ARGV[2] .. digits)
    redis.call('SADD', KEYS[1], hashed)
    table.insert(items, hashed)
  end
end
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local tags = redis.call('SMEMBERS', KEYS[5])
local origin = redis.call('GET', KEYS[3])
if origin then table.insert(tags, origin) end
for _, tag in ipairs(tags) do
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), tag)
  table.insert(items, 'a:' .. tag)
end
local bound = 1 + #items
local before = redis.call('HGET', KEYS[6], ARGV[1])
if before then
  for item in string.gmatch(before, '%S+') do table.insert(items, item) end
end
redis.call('HSET', KEYS[6], ARGV[1], table.concat(items, ' '))
redis.call('ZADD', KEYS[7], now, ARGV[1])
return bound
"""

# KEYS and ARGV as MUTE's (ARGV 3 unused). Lifts the identity and everything its mute bound, plus
# its phone and addresses as they are now (a mute from before records were kept), except
# what another muted viewer's record still holds. Returns 1 if the viewer was muted.
UNMUTE = """
local was = redis.call('SREM', KEYS[1], ARGV[1])
local items = {}
local record = redis.call('HGET', KEYS[6], ARGV[1])
if record then
  was = 1
  for item in string.gmatch(record, '%S+') do table.insert(items, item) end
end
redis.call('SREM', KEYS[8], ARGV[4])
if was == 0 then return 0 end
local phone = redis.call('HGET', KEYS[4], 'phone')
if phone then
  local digits = string.gsub(phone, '%D', '')
  if digits ~= '' then table.insert(items, 'p:' .. redis.sha1hex(ARGV[2] .. digits)) end
end
for _, tag in ipairs(redis.call('SMEMBERS', KEYS[5])) do table.insert(items, 'a:' .. tag) end
local origin = redis.call('GET', KEYS[3])
if origin then table.insert(items, 'a:' .. origin) end
redis.call('HDEL', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
local held = {}
for _, other in ipairs(redis.call('HVALS', KEYS[6])) do
  for item in string.gmatch(other, '%S+') do held[item] = true end
end
for _, item in ipairs(items) do
  if not held[item] then
    if string.sub(item, 1, 2) == 'p:' then redis.call('SREM', KEYS[1], item)
    else redis.call('ZREM', KEYS[2], string.sub(item, 3)) end
  end
end
return 1
"""


def check_viewer_id(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("v_") or len(value) > 40:
        raise RuleError("viewer_id must be a viewer id (v_...)")
    return value


class Moderation:
    """Mutes, the pinned message and the keyword filter of every room."""

    def __init__(self, redis: aioredis.Redis, bus: EventBus,
                 salt: Callable[[], Awaitable[str]]) -> None:
        self.redis = redis
        self.bus = bus
        self._salt = salt
        self._mute = redis.register_script(MUTE)
        self._unmute = redis.register_script(UNMUTE)

    @staticmethod
    def _mute_keys(room_id: str, viewer_id: str) -> list[str]:
        return [f"room:{room_id}:muted", f"room:{room_id}:muted_addresses",
                f"viewer:{viewer_id}:origin", f"viewer:{viewer_id}:contact",
                f"viewer:{viewer_id}:addresses", f"room:{room_id}:mute_records",
                f"room:{room_id}:mutes", f"viewer:{viewer_id}:muted_in"]

    # -- mutes ------------------------------------------------------------------------------
    async def mute(self, room_id: str, viewer_id: str) -> int:
        """Mute the identity, its saved phone and its addresses in this room; returns how
        many of those the mute holds."""
        bound = await self._mute(keys=self._mute_keys(room_id, viewer_id),
                                 args=[viewer_id, await self._salt(), ADDRESS_MUTE_S, room_id])
        await self.bus.publish(room_id, {"type": "viewer_muted", "viewer_id": viewer_id})
        return int(bound)

    async def unmute(self, room_id: str, viewer_id: str) -> bool:
        """Lift a viewer's mute (identity, phone, addresses); False if it was not muted."""
        lifted = await self._unmute(keys=self._mute_keys(room_id, viewer_id),
                                    args=[viewer_id, await self._salt(), 0, room_id])
        if lifted:
            await self.bus.publish(room_id, {"type": "viewer_unmuted", "viewer_id": viewer_id})
        return bool(lifted)

    async def mutes(self, room_id: str) -> list[dict[str, Any]]:
        """Muted viewers, newest first, with their nicknames. An identity's mute lasts until
        it is lifted (``until`` null); the addresses it bound lapse after a day."""
        members = await self.redis.smembers(f"room:{room_id}:muted")
        ids = [str(m) for m in members if str(m).startswith("v_")]
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for vid in ids:
                pipe.zscore(f"room:{room_id}:mutes", vid)
            pipe.mget([nickname_key(v) for v in ids])
            *scores, names = await pipe.execute()
        rows = sorted(zip(ids, scores, names, strict=True), key=lambda r: -(r[1] or 0))
        return [{"viewer_id": vid, "name": str(name or ""), "until": None}
                for vid, _, name in rows[:MUTES_LISTED]]

    # -- the pinned message -----------------------------------------------------------------
    async def pin(self, room_id: str, message: dict[str, Any]) -> dict[str, Any]:
        await self.redis.set(f"room:{room_id}:chat_pin", json.dumps(message))
        await self.bus.publish(room_id, {"type": "chat_pinned", "message": message})
        return message

    async def unpin(self, room_id: str, message_id: str | None = None) -> bool:
        """Unpin (only ``message_id``, when named: a deleted message that was pinned)."""
        if message_id is not None:
            pinned = await self.pinned(room_id)
            if pinned is None or pinned.get("message_id") != message_id:
                return False
        if not await self.redis.delete(f"room:{room_id}:chat_pin"):
            return False
        await self.bus.publish(room_id, {"type": "chat_unpinned"})
        return True

    async def pinned(self, room_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(f"room:{room_id}:chat_pin")
        if raw is None:
            return None
        try:
            found = wire.loads(raw)
        except wire.WireError:
            return None
        return found if isinstance(found, dict) else None

    # -- the keyword filter -----------------------------------------------------------------
    async def filter_words(self, room_id: str) -> list[str]:
        raw = await self.redis.get(f"room:{room_id}:chat_filter_words")
        try:
            words = wire.loads(raw) if raw else []
        except wire.WireError:
            return []
        return [w for w in words if isinstance(w, str)] if isinstance(words, list) else []

    async def set_filter(self, room_id: str, value: Any, max_words: int) -> list[str]:
        """Replace the room's words: kept as the host wrote them (to show) and folded (what
        the chat script matches)."""
        words = filter_words(value, max_words)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"room:{room_id}:chat_filter", f"room:{room_id}:chat_filter_words")
            if words:
                pipe.sadd(f"room:{room_id}:chat_filter", *{folded(w) for w in words})
                pipe.set(f"room:{room_id}:chat_filter_words", json.dumps(words))
            await pipe.execute()
        return words

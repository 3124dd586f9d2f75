"""Chat and likes: limits per viewer and per client address, moderation by the host, likes
summed before broadcast.

Minting identities is free, so a mute and a chat budget that held only for one identity
would hold for nobody: a mute (moderation.py) also binds the addresses the viewer was minted
at and chatted from and its saved phone number, and each address has its own budget.
Addresses and phones are kept only as keyed hashes. The room's keyword filter is checked in
the same script that takes the budget: no second round trip, no cache to go stale.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from typing import Any

import redis.asyncio as aioredis

from media.tasks import TaskSet
from server.audience.moderation import Moderation
from server.audience.rules import chat_name, chat_text, folded, like_count
from server.audience.viewers import nickname_key
from server.platform import wire
from server.platform.errors import RuleError
from server.platform.events import EventBus
from server.platform.ratelimit import RateLimiter

HISTORY = 50
KEEP_S = 7 * 86400  # how long an identity's mint and chat addresses are remembered
NICKNAME_KEEP_S = 90 * 86400  # renewed each time the viewer names itself
ADDRESSES_KEPT = 8
SALT_KEY = "stallcast:identity_salt"

# KEYS: 1 room's muted set (viewer ids, "p:" phone hashes), 2 room's muted addresses (zset:
# tag -> muted until, unix s), 3 viewer's mint address, 4 viewer's contact, 5 viewer's chat
# addresses, 6 identity budget, 7 address budget, 8 room's keyword filter (set of folded
# words), 9 viewer's nickname.  ARGV: 1 viewer id, 2 client tag ("" = none), 3 salt, 4
# period us, 5 identity limit, 6 address limit, 7 keep s, 8 addresses kept, 9 the text
# folded (rules.folded), 10 a new nickname ("" = keep), 11 nickname keep s.
# Returns {0 sent | 1 muted | 2 identity over budget | 3 address over budget | 4 filtered,
# wait us, nickname}. Folded text and words are UTF-8, so a plain byte find is a
# substring match.
ALLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local client = ARGV[2]
local function address_muted(tag)
  if not tag or tag == '' then return false end
  local till = redis.call('ZSCORE', KEYS[2], tag)
  return till and tonumber(till) * 1000000 > now
end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {1, '0'} end
local phone = redis.call('HGET', KEYS[4], 'phone')
if phone then
  local digits = string.gsub(phone, '%D', '')
  if digits ~= '' and
     redis.call('SISMEMBER', KEYS[1], 'p:' .. redis.sha1hex(ARGV[3] .. digits)) == 1 then
    return {1, '0'}
  end
end
if address_muted(client) or address_muted(redis.call('GET', KEYS[3])) then return {1, '0'} end
for _, word in ipairs(redis.call('SMEMBERS', KEYS[8])) do
  if string.find(ARGV[9], word, 1, true) then return {4, '0'} end
end
local period = tonumber(ARGV[4])
local function next_tat(key, limit)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  return tat + period / limit
end
local own = next_tat(KEYS[6], tonumber(ARGV[5]))
if own - now > period then return {2, string.format('%.0f', own - now - period)} end
if client ~= '' then
  local shared = next_tat(KEYS[7], tonumber(ARGV[6]))
  if shared - now > period then return {3, string.format('%.0f', shared - now - period)} end
  redis.call('SET', KEYS[7], string.format('%.0f', shared),
             'PX', math.ceil((shared - now) / 1000) + 1)
  if redis.call('SISMEMBER', KEYS[5], client) == 0 and
     redis.call('SCARD', KEYS[5]) >= tonumber(ARGV[8]) then
    redis.call('SPOP', KEYS[5])
  end
  redis.call('SADD', KEYS[5], client)
  redis.call('EXPIRE', KEYS[5], ARGV[7])
end
redis.call('SET', KEYS[6], string.format('%.0f', own), 'PX', math.ceil((own - now) / 1000) + 1)
if ARGV[10] ~= '' then
  redis.call('SET', KEYS[9], ARGV[10], 'EX', ARGV[11])
  return {0, '0', ARGV[10]}
end
return {0, '0', redis.call('GET', KEYS[9]) or ''}
"""

class ChatLimited(RuleError):
    """A chat, like or data-channel request refused by a limit or a mute."""


class Chat:
    def __init__(self, redis: aioredis.Redis, bus: EventBus, messages_per_window: int,
                 window: int, *, address_factor: int, likes_per_second: int,
                 likes_interval: float = 0.5) -> None:
        self.redis = redis
        self.bus = bus
        self.per_window = messages_per_window
        self.per_address = messages_per_window * address_factor
        self.window = window
        self._allow_script = redis.register_script(ALLOW)
        self.moderation = Moderation(redis, bus, self._identity_salt)
        self._salt: str | None = None
        self.likes_per_second = likes_per_second
        self._like_limit = RateLimiter(redis, "rl:like", likes_per_second, 1.0)
        self.likes_interval = likes_interval
        self._likes_pending: set[str] = set()
        self.counters: Any = None  # server/ops/counters.py, when metrics are on
        self._tasks = TaskSet()

    async def _identity_salt(self) -> str:
        """One salt for every node, made once and kept in Redis (like the viewer secret)."""
        if self._salt is None:
            await self.redis.set(SALT_KEY, secrets.token_hex(16), nx=True)
            self._salt = str(await self.redis.get(SALT_KEY))
        return self._salt

    async def client_tag(self, address: str) -> str:
        """The opaque tag limits and mutes know a client address by; "" for no address.
        A loopback peer is an address like any other: behind a local reverse proxy, list
        it in http.trusted_proxies so each client is known by its own address."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return ""
        if ip.is_unspecified:
            return ""
        # An IPv6 client usually holds a whole /64 and may pick any address in it.
        key = str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)
        salt = await self._identity_salt()
        return hmac.new(salt.encode(), key.encode(), hashlib.sha256).hexdigest()[:32]

    async def note_mint(self, viewer_id: str, client: str) -> None:
        """Remember where an identity was minted: a muted viewer's next identity starts out
        muted where the old one was."""
        if client:
            await self.redis.set(f"viewer:{viewer_id}:origin", client, ex=KEEP_S)

    async def _allow(self, room_id: str, viewer_id: str, client: str, text: str,
                     name: str) -> str:
        """One round trip: refuse a muted identity, address or phone and a message holding
        one of the room's filtered words, then take one unit from the identity's budget and
        one from its address's, or neither. Saves ``name`` as the nickname when given;
        returns the nickname to show ("" for none)."""
        found = await self._allow_script(
            keys=[f"room:{room_id}:muted", f"room:{room_id}:muted_addresses",
                  f"viewer:{viewer_id}:origin", f"viewer:{viewer_id}:contact",
                  f"viewer:{viewer_id}:addresses", f"rl:chat:{viewer_id}",
                  f"rl:chat-address:{client}", f"room:{room_id}:chat_filter",
                  nickname_key(viewer_id)],
            args=[viewer_id, client, await self._identity_salt(), self.window * 1_000_000,
                  self.per_window, self.per_address, KEEP_S, ADDRESSES_KEPT, folded(text),
                  name, NICKNAME_KEEP_S])
        code, wait_us = int(found[0]), found[1]
        if code == 1:
            raise ChatLimited("you have been muted in this room", code="muted")
        if code == 4:
            raise ChatLimited("the message holds a word this room does not allow",
                              code="filtered")
        if code:
            limit, who = ((self.per_window, "viewer") if code == 2
                          else (self.per_address, "address"))
            raise ChatLimited(f"at most {limit} messages per {self.window} s per {who}",
                              code="rate_limited", retry_after=int(wait_us) / 1_000_000)
        return str(found[2]) if len(found) > 2 else ""

    async def send(self, room_id: str, viewer_id: str, name: Any, text: Any,
                   client: str = "") -> dict[str, Any]:
        """A viewer's message. ``client`` is the sender's client_tag(), "" when it has none;
        ``name``, when usable, becomes the viewer's nickname (see rules.chat_name)."""
        clean = chat_text(text)
        shown = await self._allow(room_id, viewer_id, client, clean, chat_name(name))
        message = {"message_id": "m_" + secrets.token_hex(6), "viewer_id": viewer_id,
                   "name": shown or "viewer", "text": clean, "ts": time.time(),
                   "role": "viewer"}
        await self._post(room_id, message)
        return message

    async def host_send(self, room_id: str, host_name: str, text: Any) -> dict[str, Any]:
        """The room's host speaking: no budget and no filter (the host owns both), still
        clean text within the length limit. ``viewer_id`` is null: nobody to mute."""
        message = self.host_message(host_name, chat_text(text))
        await self._post(room_id, message)
        return message

    @staticmethod
    def host_message(host_name: str, text: str) -> dict[str, Any]:
        return {"message_id": "m_" + secrets.token_hex(6), "viewer_id": None,
                "name": host_name, "text": text, "ts": time.time(), "role": "host"}

    async def _post(self, room_id: str, message: dict[str, Any]) -> None:
        key = f"room:{room_id}:chat"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(message))
            pipe.ltrim(key, -HISTORY, -1)
            await pipe.execute()
        await self.bus.publish(room_id, {"type": "chat", "message": message})
        if self.counters is not None:
            await self.counters.add(room_id, "chat_messages")

    async def nickname(self, viewer_id: str) -> str:
        return str(await self.redis.get(nickname_key(viewer_id)) or "")

    async def set_nickname(self, viewer_id: str, name: str) -> None:
        await self.redis.set(nickname_key(viewer_id), name, ex=NICKNAME_KEEP_S)

    async def history(self, room_id: str) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(f"room:{room_id}:chat", 0, -1)
        deleted = await self.redis.smembers(f"room:{room_id}:chat_deleted")
        out = []
        for item in raw:
            try:  # one unreadable message must not take the whole history down
                msg = wire.loads(item)
                if msg["message_id"] not in deleted:
                    msg.setdefault("role", "viewer")  # stored before roles existed
                    out.append(msg)
            except (wire.WireError, KeyError, TypeError):
                continue
        return out

    async def delete(self, room_id: str, message_id: str) -> None:
        await self.redis.sadd(f"room:{room_id}:chat_deleted", message_id)
        await self.bus.publish(room_id, {"type": "chat_deleted", "message_id": message_id})

    async def mute(self, room_id: str, viewer_id: str) -> int:
        """Mute the identity, its saved phone and its addresses (see Moderation.mute)."""
        return await self.moderation.mute(room_id, viewer_id)

    async def like(self, room_id: str, viewer_id: str, count: Any) -> int:
        n = like_count(count)
        verdict = await self._like_limit.take(viewer_id, n)
        if not verdict.allowed:
            raise ChatLimited(f"at most {self.likes_per_second} likes a second",
                              code="rate_limited", retry_after=verdict.retry_after)
        total = int(await self.redis.incrby(f"room:{room_id}:likes", n))
        if self.counters is not None:
            await self.counters.add(room_id, "likes", n)
        if room_id not in self._likes_pending:
            self._likes_pending.add(room_id)
            self._tasks.spawn(self._flush_likes(room_id))
        return total

    async def _flush_likes(self, room_id: str) -> None:
        await asyncio.sleep(self.likes_interval)
        self._likes_pending.discard(room_id)
        total = int(await self.redis.get(f"room:{room_id}:likes") or 0)
        await self.bus.publish(room_id, {"type": "likes", "total": total})

    async def likes(self, room_id: str) -> int:
        return int(await self.redis.get(f"room:{room_id}:likes") or 0)

    async def close(self) -> None:
        await self._tasks.close()

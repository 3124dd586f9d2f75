"""Coupons a host pushes during a live show, and viewers' claims of them.

Hundreds of viewers tap Claim in the same second, so a claim is one Lua script that checks
the coupon (live, not expired, its show still on), the buyer's claim (at most one) and the
quota together: never more claims than the quota. The buy applies a claimed coupon in
ROOM_BUY itself (buying.py), which marks the claim used with the order's id in the same
step. Claim counts reach viewers as ``coupon_claimed``, coalesced: a burst of claims is
one event per interval per node, with the figure as it is then.

Keys (docs/redis-keys.md): ``coupon:{id}`` (the record, rules in coupon_rules.py),
``coupon:{id}:claims`` (viewer -> "claimed" or the id of the order that used it),
``coupon:{id}:people`` (a buyer's phone and address keys -> order id: one use per person,
whatever identities they use), ``room:{id}:coupons`` (zset by push time) and
``viewer:{id}:coupons`` (zset: the coupons a viewer claimed, for merging identities).

Nothing is kept for ever: PUSH makes the coupon, its claims and its people hashes together,
each holding a placeholder field "" (no viewer id or person key is empty) so no later write
(a claim, a buy, a cancelled order giving its claim back) finds the key gone and makes a new
one without an expiry; all three lapse ``coupons.keep_days`` after the coupon does. The
room's list and each viewer's zset expire after the last coupon they name, and a room
pushes at most ``coupons.max_pushes_per_day`` in any 24 hours.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from typing import Any

import redis.asyncio as aioredis

from media.tasks import TaskSet
from server.audience.signin import MERGED, merged_key
from server.commerce.coupon_rules import (
    SHOW_HOURS,
    Coupon,
    CouponInput,
    coupon_view,
    decode_coupon,
    is_active,
)
from server.platform.batch import hashes
from server.platform.config import CouponsConfig
from server.platform.errors import RuleError
from server.platform.events import EventBus

log = logging.getLogger("stallcast.coupons")

LISTED = 200  # coupons a room keeps listed (newest); older ones still work until they lapse
# Active coupons are looked for among the room's newest this many (at most
# max_active_per_room are active at once, so only a long N-hours coupon followed by this
# many pushes falls out of sight: still usable, no longer shown or counted).
ACTIVE_SCAN = 50
# How long a node reuses a room's active list for snapshots: every viewer's welcome holds
# one, and a join storm must not read the coupons once per viewer. Claims left may lag by
# this much (coupon_claimed events carry the count anyway).
ACTIVE_CACHE_S = 0.5
ACTIVE_CACHE_ROOMS = 10_000
VIEWER_KEPT = 500  # claims a viewer's zset keeps for merging (the latest to lapse)
DAY_S = 86400

# Push a coupon if the room has fewer than ARGV[1] active ones and pushed fewer than
# ARGV[6] in the last day. A show coupon needs the room's live session, and is valid while
# that session lasts. The room's list forgets ids pushed more than ARGV[7] s ago (their
# keys have lapsed) and expires that long after the last push.
# KEYS: room coupons zset, coupon hash, room's live session key, claims hash, people hash
# ARGV: max active, now, coupon id, "show" or "hours", unix time the coupon's keys lapse,
#       pushes per day, longest a coupon's keys live (s), then coupon fields as pairs
# Returns {code ("ok", "not_live", "quota", "daily"), active coupons or, for "daily",
# the push time (a string) after which a day has room for one more}
PUSH = f"""
local sid = redis.call('GET', KEYS[3])
if ARGV[4] == 'show' and not sid then return {{'not_live', 0}} end
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[7])))
local today = redis.call('ZCOUNT', KEYS[1], now - {DAY_S}, '+inf')
if today >= tonumber(ARGV[6]) then
  local first = redis.call('ZRANGE', KEYS[1], now - {DAY_S}, '+inf', 'BYSCORE', 'LIMIT',
    today - tonumber(ARGV[6]), 1, 'WITHSCORES')
  return {{'daily', first[2]}}
end
local active = 0
for _, cid in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, {ACTIVE_SCAN - 1})) do
  local c = redis.call('HMGET', 'coupon:' .. cid, 'status', 'expires_at', 'session_id')
  if c[1] == 'active' and tonumber(c[2]) > now and (c[3] == '' or c[3] == sid) then
    active = active + 1
  end
end
if active >= tonumber(ARGV[1]) then return {{'quota', active}} end
local fields = {{}}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], 'session_id', ARGV[4] == 'show' and sid or '', unpack(fields))
for i = 4, 5 do redis.call('HSET', KEYS[i], '', '') end
for _, key in ipairs({{KEYS[2], KEYS[4], KEYS[5]}}) do
  redis.call('EXPIREAT', key, ARGV[5])
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -{LISTED + 1})
redis.call('EXPIRE', KEYS[1], ARGV[7])
return {{'ok', active + 1}}
"""

# A viewer's claimed coupons (KEYS[n]: zset coupon id -> when its keys lapse) without the
# lapsed ones, at most VIEWER_KEPT, expiring with the last. Shared by CLAIM and MERGE.
# Needs the Lua locals ``now`` and ``kept_key``.
_TRIM_VIEWER = f"""
redis.call('ZREMRANGEBYSCORE', kept_key, '-inf', '(' .. now)
redis.call('ZREMRANGEBYRANK', kept_key, 0, -{VIEWER_KEPT + 1})
local last = redis.call('ZRANGE', kept_key, -1, -1, 'WITHSCORES')
if last[2] then redis.call('EXPIREAT', kept_key, math.ceil(tonumber(last[2]))) end
"""

# Claim a coupon for one viewer: at most one claim each, never more than the quota. A
# viewer merged into an account (sign-in, server/audience/signin.py) claims no more: the
# merge moved its claims already, so a late one from another node would escape it.
# KEYS: coupon hash, claims hash, viewer's coupons zset, room's live session key, viewer's
#       merged_into key
# ARGV: viewer id, now, room id, seconds the coupon's keys outlive it
# Returns {code, claims left, the viewer's claim ("" for none)}
CLAIM = f"""
if redis.call('EXISTS', KEYS[5]) == 1 then return {{'merged', -1, ''}} end
local c = redis.call('HMGET', KEYS[1], 'status', 'room_id', 'expires_at', 'session_id',
  'quota', 'claimed', 'coupon_id')
if not c[1] or c[2] ~= ARGV[3] then return {{'not_found', -1, ''}} end
local left = tonumber(c[5]) - tonumber(c[6])
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then return {{'already', left, held}} end
local now = tonumber(ARGV[2])
if c[1] ~= 'active' or now >= tonumber(c[3]) then
  return {{'coupon_ended', left, ''}}
end
if c[4] ~= '' and redis.call('GET', KEYS[4]) ~= c[4] then
  return {{'coupon_ended', left, ''}}
end
if left <= 0 then return {{'coupon_gone', 0, ''}} end
redis.call('HSET', KEYS[2], ARGV[1], 'claimed')
redis.call('HINCRBY', KEYS[1], 'claimed', 1)
local kept_key = KEYS[3]
redis.call('ZADD', kept_key, tonumber(c[3]) + tonumber(ARGV[4]), c[7])
{_TRIM_VIEWER}
return {{'ok', left - 1, 'claimed'}}
"""

# End a coupon early (the host's): no more claims, no more uses.
# KEYS: coupon hash;  ARGV: host id, now.  Returns "ok", "not_found" or "ended".
END = """
local c = redis.call('HMGET', KEYS[1], 'host_id', 'status')
if not c[1] or c[1] ~= ARGV[1] then return 'not_found' end
if c[2] ~= 'active' then return 'ended' end
redis.call('HSET', KEYS[1], 'status', 'ended', 'ended_at', ARGV[2])
return 'ok'
"""

# Move one viewer's claims to another (signing in merges identities): the merged buyer
# still holds at most one claim per coupon. Where both hold one, a used claim stands over
# an unused one, and the claim dropped gives its quota slot back if it was unused.
# KEYS: from's coupons zset, to's coupons zset;  ARGV: from id, to id, now.
# Returns claims moved.
MERGE = f"""
local moved = 0
local now = tonumber(ARGV[3])
local mine_all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #mine_all, 2 do
  local cid = mine_all[i]
  local claims = 'coupon:' .. cid .. ':claims'
  local mine = redis.call('HGET', claims, ARGV[1])
  if mine then
    local theirs = redis.call('HGET', claims, ARGV[2])
    local keep = not theirs or (theirs == 'claimed' and mine ~= 'claimed')
    if keep then
      redis.call('HSET', claims, ARGV[2], mine)
      moved = moved + 1
    end
    redis.call('HDEL', claims, ARGV[1])
    if theirs and (keep or mine == 'claimed') then
      redis.call('HINCRBY', 'coupon:' .. cid, 'claimed', -1)
    end
    redis.call('ZADD', KEYS[2], mine_all[i + 1], cid)
  end
end
redis.call('DEL', KEYS[1])
local kept_key = KEYS[2]
{_TRIM_VIEWER}
return moved
"""

CLAIM_ERRORS = {
    "merged": MERGED,
    "not_found": "no such coupon in this room",
    "coupon_ended": "this coupon has ended",
    "coupon_gone": "all of this coupon's claims are taken",
}


# Until the app sets the configured ones (configs/default.toml [coupons]).
DEFAULT_LIMITS = CouponsConfig(max_active_per_room=5, max_quota=100_000, max_hours=168,
                               claimed_event_interval_ms=250, keep_days=30,
                               max_pushes_per_day=100)


def _session_key(room_id: str) -> str:
    return f"room:{room_id}:session"


class Coupons:
    """Needs a client made with ``decode_responses=True``."""

    def __init__(self, redis: aioredis.Redis, bus: EventBus) -> None:
        self.redis = redis
        self.bus = bus
        self.limits = DEFAULT_LIMITS
        self._push = redis.register_script(PUSH)
        self._claim = redis.register_script(CLAIM)
        self._end = redis.register_script(END)
        self._merge = redis.register_script(MERGE)
        self._dirty: dict[str, str] = {}  # coupon id -> room id, claims not yet announced
        self._active: dict[str, tuple[float, list[dict[str, Any]]]] = {}  # room -> (until, list)
        self._tasks = TaskSet()

    async def push(self, room_id: str, host_id: str, data: CouponInput) -> dict[str, Any]:
        """A new coupon in the room, announced to its viewers (``coupon_pushed``)."""
        now = time.time()
        cid = "c_" + secrets.token_hex(6)
        hours = data.valid_hours or SHOW_HOURS
        fields: dict[str, Any] = {
            "coupon_id": cid, "room_id": room_id, "host_id": host_id, "kind": data.kind,
            "value": data.value, "currency": data.currency, "min_order": data.min_order,
            "quota": data.quota, "claimed": 0, "used": 0, "expires_at": repr(now + hours * 3600),
            "created_at": repr(now), "status": "active"}
        keep_s = self.limits.keep_days * DAY_S
        longest_s = max(self.limits.max_hours, SHOW_HOURS) * 3600 + keep_s
        per_day = min(self.limits.max_pushes_per_day, LISTED)
        code, found = await self._push(
            keys=[f"room:{room_id}:coupons", f"coupon:{cid}", _session_key(room_id),
                  f"coupon:{cid}:claims", f"coupon:{cid}:people"],
            args=[self.limits.max_active_per_room, repr(now), cid,
                  "hours" if data.valid_hours else "show",
                  math.ceil(now + hours * 3600 + keep_s), per_day, longest_s,
                  *(str(x) for kv in fields.items() for x in kv)])
        if code == "not_live":
            raise RuleError("a coupon for this show needs the show live: go live first, or "
                            "give valid_hours", code="conflict")
        if code == "quota":
            raise RuleError(f"the room has {found} active coupons, the most it may have "
                            f"({self.limits.max_active_per_room}): end one first", code="quota")
        if code == "daily":
            raise RuleError(f"the room pushed {per_day} coupons in the last 24 hours, the most "
                            "it may", code="rate_limited",
                            retry_after=max(1.0, float(found) + DAY_S - now))
        coupon = await self.get(cid)
        assert coupon is not None
        self._active.pop(room_id, None)
        view = coupon_view(coupon, now, coupon["session_id"] or None)
        await self.bus.publish(room_id, {"type": "coupon_pushed", "coupon": view})
        return view

    async def get(self, cid: str) -> Coupon | None:
        if len(cid) > 64:
            return None
        raw = await self.redis.hgetall(f"coupon:{cid}")
        return decode_coupon(raw) if raw else None

    async def active(self, room_id: str) -> list[dict[str, Any]]:
        """The coupons viewers may claim now, newest first (the snapshot's), read at most
        once per ACTIVE_CACHE_S per room on this node."""
        now = time.monotonic()
        cached = self._active.get(room_id)
        if cached is not None and cached[0] > now:
            wall = time.time()
            return [c for c in cached[1] if c["expires_at"] > wall]
        found = await self.of_room(room_id)
        if len(self._active) >= ACTIVE_CACHE_ROOMS:
            self._active.clear()
        self._active[room_id] = (now + ACTIVE_CACHE_S, found)
        return found

    async def of_room(self, room_id: str, active_only: bool = True) -> list[dict[str, Any]]:
        """The room's coupons, newest first (only the ones viewers may claim now, unless
        ``active_only`` is False: the host's list)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(f"room:{room_id}:coupons", 0,
                           (ACTIVE_SCAN if active_only else LISTED) - 1)
            pipe.get(_session_key(room_id))
            ids, raw_session = await pipe.execute()
        if not ids:
            return []
        session = str(raw_session) if raw_session else None
        now = time.time()
        coupons = [decode_coupon(raw) for raw in await hashes(self.redis, "coupon:", ids) if raw]
        return [coupon_view(c, now, session) for c in coupons
                if not active_only or is_active(c, now, session)]

    async def claim(self, room_id: str, viewer_id: str, cid: Any) -> dict[str, Any]:
        """Claim for the viewer: ``{coupon_id, left, already, used}``; a second claim by the
        same viewer answers with the first (``already``)."""
        if not isinstance(cid, str) or not 1 <= len(cid) <= 64:
            raise RuleError("coupon_id must be a coupon's id", code="invalid")
        code, left, held = await self._claim(
            keys=[f"coupon:{cid}", f"coupon:{cid}:claims", f"viewer:{viewer_id}:coupons",
                  _session_key(room_id), merged_key(viewer_id)],
            args=[viewer_id, repr(time.time()), room_id, self.limits.keep_days * DAY_S])
        if code in CLAIM_ERRORS:
            raise RuleError(CLAIM_ERRORS[str(code)], code=str(code))
        if code == "ok":
            self._announce(room_id, cid)
        return {"coupon_id": cid, "left": int(left), "already": code == "already",
                "used": str(held) not in ("", "claimed")}

    async def claims_of(self, room_id: str, viewer_id: str) -> list[dict[str, Any]]:
        """The viewer's claims of the room's listed coupons, each with ``used``."""
        listed = await self.of_room(room_id, active_only=False)
        if not listed:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for coupon in listed:
                pipe.hget(f"coupon:{coupon['coupon_id']}:claims", viewer_id)
            held = await pipe.execute()
        return [{**coupon, "used": state != "claimed"}
                for coupon, state in zip(listed, held, strict=True) if state]

    async def end(self, coupon: Coupon) -> dict[str, Any]:
        """End it now (``coupon_ended``); a coupon already ended is left as it is. Its
        view as it is then."""
        cid = coupon["coupon_id"]
        done = await self._end(keys=[f"coupon:{cid}"], args=[coupon["host_id"],
                                                              repr(time.time())])
        if done == "ok":
            await self.bus.publish(coupon["room_id"], {"type": "coupon_ended",
                                                       "coupon_id": cid})
        self._active.pop(coupon["room_id"], None)
        ended = await self.get(cid)
        assert ended is not None
        return coupon_view(ended, time.time(), None)

    async def merge(self, from_id: str, to_id: str) -> int:
        """The ViewerMerge hook (server/live/merging.py): from_id's claims become to_id's,
        one claim per coupon kept; the claims moved."""
        return int(await self._merge(keys=[f"viewer:{from_id}:coupons",
                                           f"viewer:{to_id}:coupons"],
                                     args=[from_id, to_id, repr(time.time())]))

    def _announce(self, room_id: str, cid: str) -> None:
        """Tell the room the claims left, at most once per interval per coupon (this node)."""
        if cid not in self._dirty:
            self._dirty[cid] = room_id
            self._tasks.spawn(self._flush(cid))

    async def _flush(self, cid: str) -> None:
        try:
            await asyncio.sleep(self.limits.claimed_event_interval_ms / 1000)
            room_id = self._dirty.pop(cid)
            quota, claimed = await self.redis.hmget(f"coupon:{cid}", ["quota", "claimed"])
            left = max(0, int(quota or 0) - int(claimed or 0))
            await self.bus.publish(room_id, {"type": "coupon_claimed", "coupon_id": cid,
                                             "claimed": int(claimed or 0), "left": left})
        except Exception:
            self._dirty.pop(cid, None)
            log.exception("coupon claims update failed", extra={"coupon_id": cid})

    async def close(self) -> None:
        await self._tasks.close()

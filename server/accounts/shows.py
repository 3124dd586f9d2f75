"""Scheduled shows: a host's announcement of a broadcast in one of its rooms (title, cover,
start, channel, products to feature, repeat none/daily/weekly). A show becomes its room's
live broadcast when the host goes live near an occurrence; repeats roll forward to the
next occurrence once one is past, computed on read so no timer has to run.

Redis: ``show:{id}`` hash, ``host:{h}:shows`` and ``room:{r}:shows`` sets,
``shows:scheduled`` and ``shows:channel:{slug}`` zsets show id -> next occurrence."""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from server.platform.errors import RuleError
from server.platform.text import text_field

REPEATS = {"none": 0.0, "daily": 86400.0, "weekly": 7 * 86400.0}
TITLE_MAX = 120
COVER_MAX = 500
PRODUCTS_MAX = 10
SCHEDULE_MAX_S = 365 * 86400
# An occurrence is current from EARLY_S before its start (the host may go live early)
# to LATE_GRACE_S after (the host is late); it is listed as upcoming until then.
EARLY_S = 3600.0
LATE_GRACE_S = 3600.0
SHOW_MAX_S = 12 * 3600.0  # a host back this soon after an occurrence went live continues it
SCHEDULED = "shows:scheduled"
SHOW_ID = re.compile(r"^sh_[0-9a-f]{12}$")
FIELDS = ("title", "cover", "starts_at", "repeat", "category", "product_ids")

# KEYS: show, host's shows, room's shows, scheduled index, channel index (or the
# scheduled index again). ARGV: show id, fields JSON, next occurrence, cap.
_CREATE = """
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
local fields = cjson.decode(ARGV[2])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
return 1
"""


def next_occurrence(starts_at: float, repeat: str, now: float, after: float = 0.0) -> float | None:
    """The first occurrence still current at ``now`` (started at most LATE_GRACE_S ago) and
    later than ``after`` (the one that already went live); None when a one-off is past."""
    floor = max(now - LATE_GRACE_S, after + 1)
    if starts_at >= floor:
        return starts_at
    period = REPEATS[repeat]
    if not period:
        return None
    return starts_at + math.ceil((floor - starts_at) / period) * period


@dataclass(frozen=True)
class Show:
    show_id: str
    host_id: str
    room_id: str
    title: str
    cover: str
    starts_at: float
    repeat: str
    category: str
    product_ids: list[str]
    created_at: float
    went_live_at: float = 0.0  # the occurrence that last became the live room

    def next_at(self, now: float) -> float | None:
        return next_occurrence(self.starts_at, self.repeat, now, self.went_live_at)

    def current(self, now: float) -> float | None:
        """The occurrence a host going live at ``now`` starts, if one is near enough; the
        one already live while it may still run (the host came back to it)."""
        if self.went_live_at and now - self.went_live_at < SHOW_MAX_S:
            return self.went_live_at
        at = next_occurrence(self.starts_at, self.repeat, now)
        return at if at is not None and at <= now + EARLY_S else None

    def view(self, now: float) -> dict[str, Any]:
        return {"show_id": self.show_id, "host_id": self.host_id, "room_id": self.room_id,
                "title": self.title, "cover": self.cover, "starts_at": self.starts_at,
                "repeat": self.repeat, "category": self.category,
                "product_ids": self.product_ids, "next_at": self.next_at(now)}


def nearest(shows: list[Show], now: float) -> tuple[Show, float] | None:
    """The show (and its occurrence) a room going live at ``now`` broadcasts, if any."""
    near = [(abs(at - now), show, at) for show in shows
            if (at := show.current(now)) is not None]
    if not near:
        return None
    _, show, at = min(near, key=lambda x: x[0])
    return show, at


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value):
        raise RuleError(f"{name} must be a unix time in seconds")
    return float(value)


def parse_fields(body: dict[str, Any], now: float, *, partial: bool) -> dict[str, Any]:
    """The show fields of a request body, checked; ``partial`` for an update (only those
    sent). RuleError names the first bad one."""
    allowed = set(FIELDS) if partial else {*FIELDS, "room_id"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise RuleError(f"unknown field(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    if not partial or "title" in body:
        out["title"] = text_field(body, "title", TITLE_MAX)
    if "cover" in body:
        cover = text_field(body, "cover", COVER_MAX, required=False)
        if cover and not re.match(r"^(/uploads/|https://|http://)[^\s\"'<>]+$", cover):
            raise RuleError("cover must be an uploaded image (/uploads/...) or an http(s) URL")
        out["cover"] = cover
    if not partial or "starts_at" in body:
        at = _number(body.get("starts_at"), "starts_at")
        if not now < at < now + SCHEDULE_MAX_S:
            raise RuleError("starts_at must be in the future, within a year")
        out["starts_at"] = at
    if "repeat" in body:
        if body["repeat"] not in REPEATS:
            raise RuleError("repeat must be none, daily or weekly")
        out["repeat"] = body["repeat"]
    if "category" in body:
        category = body["category"]
        if not isinstance(category, str) or len(category) > 40:
            raise RuleError("category must be a channel slug or \"\"")
        out["category"] = category
    if "product_ids" in body:
        ids = body["product_ids"]
        if (not isinstance(ids, list) or len(ids) > PRODUCTS_MAX
                or not all(isinstance(p, str) and 0 < len(p) <= 64 for p in ids)
                or len(set(ids)) != len(ids)):
            raise RuleError(f"product_ids must be at most {PRODUCTS_MAX} distinct product ids")
        out["product_ids"] = ids
    return out


def _show(show_id: str, raw: dict[str, Any]) -> Show | None:
    if not raw or "host_id" not in raw:
        return None
    return Show(show_id=show_id, host_id=raw["host_id"], room_id=raw["room_id"],
                title=raw["title"], cover=raw.get("cover", ""),
                starts_at=float(raw["starts_at"]), repeat=raw.get("repeat", "none"),
                category=raw.get("category", ""),
                product_ids=json.loads(raw.get("product_ids", "[]")),
                created_at=float(raw.get("created_at", 0)),
                went_live_at=float(raw.get("went_live_at", 0)))


def channel_index(slug: str) -> str:
    return f"shows:channel:{slug}" if slug else SCHEDULED


class Shows:
    def __init__(self, redis: aioredis.Redis, shows_per_host: int) -> None:
        self.redis = redis
        self.cap = shows_per_host
        self._create = redis.register_script(_CREATE)

    async def create(self, host_id: str, room_id: str, fields: dict[str, Any]) -> Show:
        """RuleError limit when the host keeps ``shows_per_host`` already."""
        now = time.time()
        show_id = "sh_" + secrets.token_hex(6)
        record = {"repeat": "none", "cover": "", "category": "", "product_ids": [], **fields,
                  "host_id": host_id, "room_id": room_id, "created_at": now}
        record["product_ids"] = json.dumps(record["product_ids"])
        at = next_occurrence(record["starts_at"], record["repeat"], now) or now
        done = await self._create(
            keys=[f"show:{show_id}", f"host:{host_id}:shows", f"room:{room_id}:shows",
                  SCHEDULED, channel_index(record["category"])],
            args=[show_id, json.dumps({k: str(v) if not isinstance(v, str) else v
                                       for k, v in record.items()}), at, self.cap])
        if not int(done):
            raise RuleError(f"at most {self.cap} scheduled shows per host", code="limit")
        made = await self.get(show_id)
        assert made is not None
        return made

    async def get(self, show_id: str) -> Show | None:
        if not SHOW_ID.match(show_id):
            return None
        raw: dict[str, Any] = await self.redis.hgetall(f"show:{show_id}")  # type: ignore[assignment]
        return _show(show_id, raw)

    async def many(self, ids: list[str]) -> list[Show]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for show_id in ids:
                pipe.hgetall(f"show:{show_id}")
            raws = await pipe.execute()
        found = [_show(i, raw) for i, raw in zip(ids, raws, strict=True)]
        return [s for s in found if s is not None]

    async def of_host(self, host_id: str) -> list[Show]:
        ids = sorted(str(i) for i in await self.redis.smembers(f"host:{host_id}:shows"))
        return sorted(await self.many(ids), key=lambda s: s.starts_at)

    async def of_room(self, room_id: str) -> list[Show]:
        return await self.many([str(i) for i in await self.redis.smembers(
            f"room:{room_id}:shows")])

    async def _index(self, show: Show) -> None:
        at = show.next_at(time.time())
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in {SCHEDULED, channel_index(show.category)}:
                if at is None:
                    pipe.zrem(key, show.show_id)
                else:
                    pipe.zadd(key, {show.show_id: at})
            await pipe.execute()

    async def update(self, show: Show, fields: dict[str, Any]) -> Show:
        stored = {k: json.dumps(v) if k == "product_ids" else str(v)
                  for k, v in fields.items()}
        if "starts_at" in fields:  # a new time: no occurrence of it has been live yet
            stored["went_live_at"] = "0"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"show:{show.show_id}", mapping=stored)  # type: ignore[arg-type]
            if show.category and fields.get("category", show.category) != show.category:
                pipe.zrem(channel_index(show.category), show.show_id)
            await pipe.execute()
        updated = await self.get(show.show_id)
        if updated is None:
            raise RuleError("no such show", code="not_found")
        await self._index(updated)
        return updated

    async def went_live(self, show: Show, occurrence: float) -> Show:
        """The occurrence became the live room: listings move on to the next one."""
        await self.redis.hset(f"show:{show.show_id}", "went_live_at", repr(occurrence))
        updated = await self.get(show.show_id) or show
        await self._index(updated)
        return updated

    async def delete(self, show: Show) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"show:{show.show_id}")
            pipe.srem(f"host:{show.host_id}:shows", show.show_id)
            pipe.srem(f"room:{show.room_id}:shows", show.show_id)
            pipe.zrem(SCHEDULED, show.show_id)
            pipe.zrem(channel_index(show.category), show.show_id)
            await pipe.execute()

    async def upcoming(self, category: str, limit: int) -> list[tuple[Show, float]]:
        """Shows with an occurrence still to come (or started under LATE_GRACE_S ago),
        soonest first, in one channel or ("") all. Past entries roll forward first."""
        key = channel_index(category)
        now = time.time()
        stale = [str(i) for i in await self.redis.zrangebyscore(
            key, "-inf", f"({now - LATE_GRACE_S}", start=0, num=200)]
        if stale:
            rolled = await self.many(stale)
            for show in rolled:
                await self._index(show)
            gone = set(stale) - {s.show_id for s in rolled}
            if gone:
                await self.redis.zrem(key, *gone)
        found: list[Any] = await self.redis.zrangebyscore(
            key, now - LATE_GRACE_S, "+inf", start=0, num=limit, withscores=True)
        shows = {s.show_id: s for s in await self.many([str(i) for i, _ in found])}
        return [(shows[str(i)], float(at)) for i, at in found if str(i) in shows]

"""Channels: the categories operators set (fresh produce, handicrafts, languages, exam
prep, ...). A host files each scheduled show under one; the front door and each channel's
page list them. Redis: ``channels`` hash slug -> JSON {name, created_at}."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import redis.asyncio as aioredis

from server.platform import wire
from server.platform.errors import RuleError
from server.platform.text import text_field

CHANNELS = "channels"
CHANNELS_MAX = 100
NAME_MAX = 60
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")

# KEYS: channels. ARGV: slug, record, cap. -> 1 made, 0 taken, -1 over the cap.
_CREATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
# KEYS: channels. ARGV: slug, new name. -> 1, or 0 when there is no such channel.
_RENAME = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
record['name'] = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return 1
"""


def check_slug(slug: Any) -> str:
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise RuleError("a channel slug is 1-40 of a-z, 0-9 and inner '-'")
    return slug


class Channels:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._create = redis.register_script(_CREATE)
        self._rename = redis.register_script(_RENAME)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        slug = check_slug(body.get("slug"))
        name = text_field(body, "name", NAME_MAX)
        record = {"name": name, "created_at": time.time()}
        done = int(await self._create(keys=[CHANNELS], args=[
            slug, json.dumps(record), CHANNELS_MAX]))
        if done == 0:
            raise RuleError("that channel exists", code="conflict")
        if done == -1:
            raise RuleError(f"at most {CHANNELS_MAX} channels", code="limit")
        return {"slug": slug, **record}

    async def rename(self, slug: str, body: dict[str, Any]) -> dict[str, Any]:
        name = text_field(body, "name", NAME_MAX)
        if not int(await self._rename(keys=[CHANNELS], args=[check_slug(slug), name])):
            raise RuleError("no such channel", code="not_found")
        found = await self.get(slug)
        assert found is not None
        return found

    async def remove(self, slug: str) -> None:
        if not await self.redis.hdel(CHANNELS, check_slug(slug)):
            raise RuleError("no such channel", code="not_found")

    async def get(self, slug: str) -> dict[str, Any] | None:
        if not SLUG.match(slug):
            return None
        raw = await self.redis.hget(CHANNELS, slug)
        return {"slug": slug, **wire.loads(raw)} if raw else None

    async def all(self) -> list[dict[str, Any]]:
        raw = await self.redis.hgetall(CHANNELS)
        found = [{"slug": str(s), **wire.loads(v)} for s, v in raw.items()]
        return sorted(found, key=lambda c: (c["created_at"], c["slug"]))

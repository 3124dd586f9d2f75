"""Hosts and rooms, kept in Redis so every node and every CLI command sees the same ones."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from server.platform.batch import hashes
from server.platform.text import clean_text

TITLE_MAX = 200
BROADCAST_KEY_TTL_S = 2 * 86400  # a broadcast's key digest outlives any show
NAME_MAX = 100
UPCOMING = "shows:upcoming"  # room id -> the unix time its next show is scheduled for
# Who holds bearer tokens, and where a token's digest points to its holder.
TOKEN_PREFIX = {"host": "token", "operator": "optoken"}


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Host:
    host_id: str
    name: str


@dataclass(frozen=True)
class Room:
    room_id: str
    host_id: str
    title: str
    stream_key: str
    created_at: float
    record: bool = True
    next_show_at: float | None = None  # when the host said the next show starts

    def key_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(self.stream_key.encode(), candidate.encode())


class Store:
    """Needs a client made with ``decode_responses=True``.

    Redis layout: host:{id} hash, token:{sha256} -> host id, host:{id}:tokens set of
    digests, room:{id} hash, host:{id}:rooms set; operator:{id} hash, optoken:{sha256} ->
    operator id, operator:{id}:tokens; shows:upcoming zset of scheduled rooms."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def create_host(self, name: str) -> tuple[Host, str]:
        name = clean_text(name, "host name", NAME_MAX)  # TextError is a ValueError
        host_id = "h_" + secrets.token_hex(6)
        token = new_secret()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"host:{host_id}", mapping={"name": name, "created_at": time.time()})
            pipe.set(f"token:{token_digest(token)}", host_id)
            pipe.sadd(f"host:{host_id}:tokens", token_digest(token))
            await pipe.execute()
        return Host(host_id, name), token

    async def host_for_token(self, token: str) -> Host | None:
        host_id = await self.redis.get(f"token:{token_digest(token)}")
        if host_id is None:
            return None
        name = await self.redis.hget(f"host:{host_id!s}", "name")
        if name is None:
            return None
        return Host(str(host_id), str(name))

    async def create_operator(self, name: str) -> tuple[str, str]:
        """Operators see every room's figures; hosts see only their own."""
        name = clean_text(name, "operator name", NAME_MAX)  # TextError is a ValueError
        operator_id = "op_" + secrets.token_hex(6)
        token = new_secret()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"operator:{operator_id}", mapping={"name": name,
                                                          "created_at": time.time()})
            pipe.set(f"optoken:{token_digest(token)}", operator_id)
            pipe.sadd(f"operator:{operator_id}:tokens", token_digest(token))
            await pipe.execute()
        return operator_id, token

    async def operator_for_token(self, token: str) -> str | None:
        operator_id = await self.redis.get(f"optoken:{token_digest(token)}")
        return str(operator_id) if operator_id else None

    # -- tokens: revoked and re-issued from the CLI (see docs/security.md) ------------------
    async def accounts(self, kind: str) -> list[dict[str, Any]]:
        """Every host or operator: ids, names and when they were made, never tokens."""
        ids = [str(k).split(":", 1)[1] async for k in self.redis.scan_iter(
            match=f"{kind}:*", count=1000) if str(k).count(":") == 1]
        raws = await hashes(self.redis, f"{kind}:", ids)
        found = [{f"{kind}_id": i, "name": str(raw["name"]),
                  "created_at": float(raw.get("created_at", 0))}
                 for i, raw in zip(ids, raws, strict=True) if raw and "name" in raw]
        return sorted(found, key=lambda a: a["created_at"])

    async def revoke_tokens(self, kind: str, owner_id: str) -> int:
        """Revoke every token of a host or operator at once; returns how many there were."""
        if ":" in owner_id or not await self.redis.exists(f"{kind}:{owner_id}"):
            raise ValueError(f"no such {kind}: {owner_id}")
        prefix = TOKEN_PREFIX[kind]
        digests = {str(d) for d in await self.redis.smembers(f"{kind}:{owner_id}:tokens")}
        # Tokens issued before the index existed are found by what they point to.
        keys = [str(k) async for k in self.redis.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 500):
            batch = keys[start:start + 500]
            owners = await self.redis.mget(batch)
            digests.update(k.split(":", 1)[1] for k, o in zip(batch, owners, strict=True)
                           if o == owner_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for digest in digests:
                pipe.delete(f"{prefix}:{digest}")
            pipe.delete(f"{kind}:{owner_id}:tokens")
            deleted = await pipe.execute()
        return sum(int(n) for n in deleted[:-1])

    async def reissue_token(self, kind: str, owner_id: str) -> tuple[str, int]:
        """Revoke every token of a host or operator and issue one new one."""
        revoked = await self.revoke_tokens(kind, owner_id)
        token = new_secret()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{TOKEN_PREFIX[kind]}:{token_digest(token)}", owner_id)
            pipe.sadd(f"{kind}:{owner_id}:tokens", token_digest(token))
            await pipe.execute()
        return token, revoked

    async def remember_broadcast_key(self, resource_id: str, stream_key: str) -> None:
        """Keep the digest of the key a WHIP broadcast began with, so its encoder can end
        it after the room's key was rotated."""
        await self.redis.set(f"whip:{resource_id}:key", token_digest(stream_key),
                             ex=BROADCAST_KEY_TTL_S)

    async def broadcast_key(self, resource_id: str) -> str | None:
        """The digest ``remember_broadcast_key`` kept, if any."""
        if len(resource_id) > 64:
            return None
        digest = await self.redis.get(f"whip:{resource_id}:key")
        return str(digest) if digest is not None else None

    async def forget_broadcast_key(self, resource_id: str) -> None:
        await self.redis.delete(f"whip:{resource_id}:key")

    async def create_room(self, host_id: str, title: str) -> Room:
        room = Room(
            room_id="r_" + secrets.token_hex(6),
            host_id=host_id,
            title=title,
            stream_key="sk_" + new_secret(),
            created_at=time.time(),
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"room:{room.room_id}", mapping=_room_fields(room))  # type: ignore[arg-type]
            pipe.sadd(f"host:{host_id}:rooms", room.room_id)
            await pipe.execute()
        return room

    async def get_room(self, room_id: str) -> Room | None:
        if len(room_id) > 64:
            return None
        return _room(room_id, await self.redis.hgetall(f"room:{room_id}"))

    async def rooms_of(self, host_id: str) -> list[Room]:
        ids = sorted(str(m) for m in await self.redis.smembers(f"host:{host_id}:rooms"))
        raws = await hashes(self.redis, "room:", ids)
        rooms = [_room(i, raw) for i, raw in zip(ids, raws, strict=True)]
        return sorted((r for r in rooms if r is not None), key=lambda r: r.created_at)

    async def update_room(self, room: Room, **changes: Any) -> Room:
        fields: dict[str, str] = {
            k: str(v) for k, v in changes.items() if k in ("title", "stream_key")
        }
        if "record" in changes:
            fields["record"] = "1" if changes["record"] else "0"
        await self.redis.hset(f"room:{room.room_id}", mapping=fields)  # type: ignore[arg-type]
        updated = await self.get_room(room.room_id)
        assert updated is not None
        return updated

    async def rotate_stream_key(self, room: Room) -> Room:
        """A new stream key; the old one opens no new broadcast from now on."""
        return await self.update_room(room, stream_key="sk_" + new_secret())

    async def delete_room(self, room: Room) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"room:{room.room_id}")
            pipe.srem(f"host:{room.host_id}:rooms", room.room_id)
            pipe.zrem(UPCOMING, room.room_id)
            await pipe.execute()

    # -- the front door: scheduled shows, and the names shown beside them ------------------
    async def schedule_show(self, room: Room, starts_at: float) -> Room:
        """Announce the room's next show; it is listed as upcoming until it is past."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"room:{room.room_id}", "next_show_at", repr(float(starts_at)))
            pipe.zadd(UPCOMING, {room.room_id: float(starts_at)})
            await pipe.execute()
        updated = await self.get_room(room.room_id)
        if updated is None:  # deleted meanwhile: leave nothing behind
            await self.redis.zrem(UPCOMING, room.room_id)
            raise KeyError(room.room_id)
        return updated

    async def clear_schedule(self, room: Room) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(f"room:{room.room_id}", "next_show_at")
            pipe.zrem(UPCOMING, room.room_id)
            await pipe.execute()

    async def upcoming(self, since: float, limit: int) -> list[tuple[Room, float]]:
        """Rooms whose scheduled show starts at ``since`` or later, soonest first. Entries
        older than ``since`` are dropped from the index (the room keeps its field)."""
        await self.redis.zremrangebyscore(UPCOMING, "-inf", f"({since}")
        found: list[Any] = await self.redis.zrangebyscore(UPCOMING, since, "+inf", start=0,
                                                          num=limit, withscores=True)
        pairs = [(str(i), float(score)) for i, score in found]
        ids = [i for i, _ in pairs]
        rooms = await self.rooms(ids)
        gone = [i for i, r in zip(ids, rooms, strict=True) if r is None]
        if gone:
            await self.redis.zrem(UPCOMING, *gone)
        return [(r, score) for r, (_, score) in zip(rooms, pairs, strict=True)
                if r is not None]

    async def rooms(self, ids: list[str]) -> list[Room | None]:
        """Rooms by id, in order; None for each that does not exist."""
        raws = await hashes(self.redis, "room:", ids)
        return [_room(i, raw) for i, raw in zip(ids, raws, strict=True)]

    async def host_names(self, host_ids: list[str]) -> dict[str, str]:
        unique = sorted(set(host_ids))
        raws = await hashes(self.redis, "host:", unique)
        return {i: str(raw.get("name", "")) for i, raw in zip(unique, raws, strict=True)
                if raw}


def _room_fields(room: Room) -> dict[str, str | float]:
    return {
        "host_id": room.host_id,
        "title": room.title,
        "stream_key": room.stream_key,
        "created_at": room.created_at,
        "record": "1" if room.record else "0",
    }


def _room(room_id: str, raw: Mapping[Any, Any]) -> Room | None:
    if not raw:
        return None
    data = {str(k): str(v) for k, v in raw.items()}
    return Room(
        room_id=room_id,
        host_id=data["host_id"],
        title=data["title"],
        stream_key=data["stream_key"],
        created_at=float(data["created_at"]),
        record=data.get("record", "1") == "1",
        next_show_at=float(data["next_show_at"]) if data.get("next_show_at") else None,
    )

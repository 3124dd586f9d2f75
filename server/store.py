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

from .batch import hashes

TITLE_MAX = 200
NAME_MAX = 100


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

    def key_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(self.stream_key.encode(), candidate.encode())


class Store:
    """Needs a client made with ``decode_responses=True``.

    Redis layout: host:{id} hash, token:{sha256} -> host id, room:{id} hash,
    host:{id}:rooms set."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def create_host(self, name: str) -> tuple[Host, str]:
        name = name.strip()
        if not name or len(name) > NAME_MAX:
            raise ValueError(f"host name must be 1..{NAME_MAX} characters")
        host_id = "h_" + secrets.token_hex(6)
        token = new_secret()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"host:{host_id}", mapping={"name": name, "created_at": time.time()})
            pipe.set(f"token:{token_digest(token)}", host_id)
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
        name = name.strip()
        if not name or len(name) > NAME_MAX:
            raise ValueError(f"operator name must be 1..{NAME_MAX} characters")
        operator_id = "op_" + secrets.token_hex(6)
        token = new_secret()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"operator:{operator_id}", mapping={"name": name,
                                                          "created_at": time.time()})
            pipe.set(f"optoken:{token_digest(token)}", operator_id)
            await pipe.execute()
        return operator_id, token

    async def operator_for_token(self, token: str) -> str | None:
        operator_id = await self.redis.get(f"optoken:{token_digest(token)}")
        return str(operator_id) if operator_id else None

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

    async def delete_room(self, room: Room) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"room:{room.room_id}")
            pipe.srem(f"host:{room.host_id}:rooms", room.room_id)
            await pipe.execute()


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
    )

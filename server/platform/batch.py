"""Read many Redis hashes in one round trip.

Lists (a host's orders, products, sessions; the class store) used to fetch each hash with
its own await: a page of 500 orders cost 500 round trips, every time the studio polled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

CHUNK = 500  # hashes per pipeline: bounded memory per reply, still one trip per 500


async def hashes(redis: aioredis.Redis, prefix: str,
                 ids: Iterable[Any]) -> list[dict[str, str]]:
    """HGETALL of ``prefix + id`` for every id, in order; a missing hash gives an empty
    dict."""
    keys = [prefix + (i.decode() if isinstance(i, bytes) else str(i)) for i in ids]
    out: list[dict[str, str]] = []
    for start in range(0, len(keys), CHUNK):
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys[start:start + CHUNK]:
                pipe.hgetall(key)
            out.extend(await pipe.execute())
    return out

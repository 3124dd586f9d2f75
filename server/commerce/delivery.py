"""The delivery promise: orders past their ship-by time and not yet shipped.

ROOM_BUY gives an order of a product with ``ship_by_hours`` a ``ship_by`` deadline and
indexes it in ``ship_by`` (every host's) and ``host:{id}:ship_by`` (zsets by deadline).
An order leaves the promise once shipped (``tracking_number`` given), delivered or
cancelled; rather than touch every status change, the reader drops such orders from the
index it reads as it finds them past their deadline, so an index holds only orders still
owed or not yet due.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis.asyncio as aioredis

OWED = ("reserved", "confirmed")  # the statuses an order still has to be shipped from
BATCH = 500  # past-deadline entries read per round trip
MAX_BATCHES = 20  # an index read goes no further than this in one report
LISTED = 100  # overdue order ids a report lists


def ship_by_index(host_id: str | None) -> str:
    """Every host's index (an operator's report) or one host's."""
    return "ship_by" if host_id is None else f"host:{host_id}:ship_by"


async def overdue(redis: aioredis.Redis, host_id: str | None, now: float) -> dict[str, Any]:
    """``{overdue, orders (the oldest LISTED ids), by_host (an operator's), complete}``:
    the orders of ``host_id`` (None: every host) past their ship-by time and not shipped."""
    key = ship_by_index(host_id)
    owed: list[str] = []
    by_host: Counter[str] = Counter()
    start, complete = 0, False
    for _ in range(MAX_BATCHES):
        ids = [str(i) for i in await redis.zrangebyscore(key, "-inf", now, start=start,
                                                         num=BATCH)]
        if not ids:
            complete = True
            break
        async with redis.pipeline(transaction=False) as pipe:
            for oid in ids:
                pipe.hmget(f"order:{oid}", ["status", "host_id"])
            found = await pipe.execute()
        done = [oid for oid, (status, _) in zip(ids, found, strict=True) if status not in OWED]
        for oid, (status, owner) in zip(ids, found, strict=True):
            if status in OWED:
                owed.append(oid)
                by_host[str(owner)] += 1
        if done:
            await redis.zrem(key, *done)
        start += len(ids) - len(done)
        if len(ids) < BATCH:
            complete = True
            break
    report: dict[str, Any] = {"overdue": len(owed), "orders": owed[:LISTED],
                              "complete": complete}
    if host_id is None:
        report["by_host"] = dict(by_host.most_common(LISTED))
    return report

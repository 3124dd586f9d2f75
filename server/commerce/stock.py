"""Stock figures to viewers: many buys a second, about ten updates a second, on any node."""

from __future__ import annotations

import asyncio
import logging

from media.tasks import TaskSet
from server.commerce.store import CommerceStore
from server.platform.events import EventBus

log = logging.getLogger("stallcast.commerce")


class StockCoalescer:
    """Publishes a sale's remaining stock at most ``rate`` times a second, cluster-wide.

    Buys only mark a sale dirty; one update goes out per interval with the latest figure. A
    Redis SET NX PX guard keeps several nodes from each sending their own stream.
    """

    def __init__(self, store: CommerceStore, bus: EventBus, interval: float = 0.1) -> None:
        self.store = store
        self.bus = bus
        self.interval = interval
        self._dirty: dict[str, str] = {}  # sale id -> room id
        self._scheduled: set[str] = set()
        self._tasks = TaskSet()

    def mark(self, room_id: str, sale_id: str) -> None:
        self._dirty[sale_id] = room_id
        if sale_id not in self._scheduled:
            self._scheduled.add(sale_id)
            self._tasks.spawn(self._flush(sale_id))

    async def _flush(self, sale_id: str) -> None:
        redis = self.store.redis
        try:
            while True:
                guard = await redis.set(f"sale:{sale_id}:stockpub", "1", nx=True,
                                        px=int(self.interval * 1000))
                if guard:
                    break
                await asyncio.sleep(self.interval / 2)
            room_id = self._dirty.pop(sale_id)
            self._scheduled.discard(sale_id)
            sale = await self.store.get_sale(sale_id)
            if sale is not None:
                await self.bus.publish(room_id, {
                    "type": "sale_stock", "sale_id": sale_id, "remaining": sale["remaining"],
                    "quantity": sale["quantity"]})
                # Reading and publishing are two steps: a flush that stalled between them
                # (here or on another node) may have sent an older figure after a newer
                # one. Check again, so the last word viewers get is the true one.
                latest = await self.store.get_sale(sale_id)
                if latest is not None and latest["remaining"] != sale["remaining"]:
                    self.mark(room_id, sale_id)
        except Exception:
            self._scheduled.discard(sale_id)
            log.exception("stock update failed", extra={"sale_id": sale_id})

    async def close(self) -> None:
        await self._tasks.close()

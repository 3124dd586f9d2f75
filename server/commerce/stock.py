"""Stock figures to viewers: many buys a second, about ten updates a second, on any node."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from media.tasks import TaskSet
from server.commerce.store import CommerceStore
from server.platform.events import EventBus

log = logging.getLogger("stallcast.commerce")


class StockCoalescer:
    """Publishes a sale's remaining stock (``sale_stock``) or a product's (``product_stock``:
    direct buys, cancellations, a sale taking or giving back units) at most ``rate`` times
    a second, cluster-wide.

    Buys only mark a sale or product dirty; one update goes out per interval with the
    latest figure. A Redis SET NX PX guard keeps several nodes from each sending their own
    stream.
    """

    def __init__(self, store: CommerceStore, bus: EventBus, interval: float = 0.1) -> None:
        self.store = store
        self.bus = bus
        self.interval = interval
        self._dirty: dict[str, str] = {}  # "sale:{id}" or "product:{id}" -> room id
        self._scheduled: set[str] = set()
        self._tasks = TaskSet()

    def mark(self, room_id: str, sale_id: str) -> None:
        self._mark(room_id, f"sale:{sale_id}")

    def mark_product(self, room_id: str, product_id: str) -> None:
        self._mark(room_id, f"product:{product_id}")

    def _mark(self, room_id: str, key: str) -> None:
        self._dirty[key] = room_id
        if key not in self._scheduled:
            self._scheduled.add(key)
            self._tasks.spawn(self._flush(key))

    async def _figure(self, key: str) -> dict[str, Any] | None:
        """The event telling the stock of ``key`` now."""
        kind, _, ident = key.partition(":")
        if kind == "sale":
            sale = await self.store.get_sale(ident)
            return None if sale is None else {
                "type": "sale_stock", "sale_id": ident, "remaining": sale["remaining"],
                "quantity": sale["quantity"]}
        product = await self.store.products.get(ident)
        return None if product is None else {
            "type": "product_stock", "product_id": ident, "stock": product["stock"],
            "parent_id": product["parent_id"]}

    async def _flush(self, key: str) -> None:
        redis = self.store.redis
        try:
            while True:
                guard = await redis.set(f"{key}:stockpub", "1", nx=True,
                                        px=int(self.interval * 1000))
                if guard:
                    break
                await asyncio.sleep(self.interval / 2)
            room_id = self._dirty.pop(key)
            self._scheduled.discard(key)
            event = await self._figure(key)
            if event is not None:
                await self.bus.publish(room_id, event)
                # Reading and publishing are two steps: a flush that stalled between them
                # (here or on another node) may have sent an older figure after a newer
                # one. Check again, so the last word viewers get is the true one.
                if await self._figure(key) != event:
                    self._mark(room_id, key)
        except Exception:
            self._scheduled.discard(key)
            log.exception("stock update failed", extra={"key": key})

    async def close(self) -> None:
        await self._tasks.close()

"""What hosts and viewers do in a live room — pin, sell, buy — and the events that follow."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from server.commerce.buying import RoomBuys, observed
from server.commerce.catalogue import Catalogue
from server.commerce.coupons import Coupons
from server.commerce.gallery import Gallery
from server.commerce.payments import DIGITAL, PaymentProvider
from server.commerce.products import top_id
from server.commerce.records import Order, Product, Sale, SellableClass
from server.commerce.rules import (
    ProductInput,
    buy_input,
    contact_input,
    idempotency_key,
    order_kind,
    sale_input,
)
from server.commerce.stock import StockCoalescer
from server.commerce.store import CommerceStore, host_orders, room_orders
from server.commerce.views import order_view, sale_view
from server.platform.config import UploadsConfig
from server.platform.errors import RuleError
from server.platform.events import EventBus, channel

log = logging.getLogger("stallcast.commerce")

__all__ = ["Commerce", "Counters", "order_view", "sale_view"]

class Counters(Protocol):
    """A live session's commerce counters (server/ops/counters.py SessionCounters)."""

    async def add(self, room_id: str, field: str, amount: float = 1) -> None: ...

    async def add_many(self, room_id: str, values: dict[str, float], buyer: str = "",
                       currency: str = "") -> None: ...

    def note_buy(self, created: bool, gmv: float, currency: str) -> None:
        """This node's side of a buy whose session counters ROOM_BUY wrote."""


class Commerce:
    def __init__(self, store: CommerceStore, bus: EventBus, payments: PaymentProvider,
                 reservation_ttl: float) -> None:
        self.store = store
        self.bus = bus
        self.payments = payments
        self.reservation_ttl = reservation_ttl
        self.stock = StockCoalescer(store, bus)
        self.buys = RoomBuys(store.redis)
        self.catalogue = Catalogue(store, bus, self.stock)
        self.coupons = Coupons(store.redis, bus)  # pushed by hosts, applied by buys
        self._gallery: Gallery | None = None
        self._ticker: asyncio.Task[None] | None = None
        # Session counters (server/ops/counters.py), when metrics are on.
        self.counters: Counters | None = None
        # A digital good is never cash on delivery: its payment is confirmed first.
        self.digital_payments: PaymentProvider = DIGITAL
        # Called with each order whose status moved (confirmed, cancelled): a class order
        # grants access on confirmation and takes it back on cancellation.
        self.on_status: Callable[[Order], Awaitable[None]] | None = None

    # -- the host's catalogue (server/commerce/catalogue.py) -------------------------------
    async def create_product(self, host_id: str, data: ProductInput) -> Product:
        """A new product, with its variants if ``data`` has some (product_view shows
        them)."""
        return await self.catalogue.create(host_id, data)

    async def get_product(self, pid: str) -> Product | None:
        """The record (archived ones too; deleted ones are gone)."""
        return await self.catalogue.get(pid)

    async def product_view(self, product: Product) -> dict[str, Any]:
        return await self.catalogue.view(product)

    async def products_of(self, host_id: str, status: str = "active") -> list[dict[str, Any]]:
        return await self.catalogue.of_host(host_id, status)

    async def update_product(self, product: Product, body: dict[str, Any],
                             room_ids: list[str]) -> dict[str, Any]:
        """Write the fields the edit ``body`` names; the rooms of ``room_ids`` that show
        this card show the new price and stock at once."""
        return await self.catalogue.update(product, body, room_ids)

    async def set_product_status(self, product: Product, status: str,
                                 room_ids: list[str]) -> dict[str, Any] | None:
        """Archive ("archived"), restore ("active") or delete ("deleted") a product and its
        variants; archived and deleted ones leave the rooms of ``room_ids``."""
        return await self.catalogue.set_status(product, status, room_ids)

    async def attach(self, room_id: str, product: Product) -> str:
        """List the product (a variant's parent) in the room; the id listed."""
        top = await self.catalogue.check_on_sale(product)
        await self.store.attach(room_id, top["product_id"])
        return top["product_id"]

    async def detach(self, room_id: str, product: Product) -> None:
        """Take the product off the room, and its card off screen if it is pinned."""
        pid = top_id(product)
        pinned = await self.store.pinned(room_id)
        await self.store.detach(room_id, pid)
        if pinned is not None and pinned["product_id"] == pid:
            await self.unpin(room_id)

    async def room_products(self, room_id: str) -> list[dict[str, Any]]:
        """The products on show in the room (not archived), with their variants."""
        return await self.catalogue.views(await self.store.room_products(room_id))

    def gallery(self, folder: Path, settings: UploadsConfig) -> Gallery:
        """The node's uploaded product photos (made on first use)."""
        if self._gallery is None:
            self._gallery = Gallery(self.store.redis, folder, settings)
        return self._gallery

    async def pinned_products(self, room_ids: list[str]) -> dict[str, Product]:
        """The product each room pins now; rooms pinning none are left out (front door)."""
        pids = await self.store.pinned_ids(room_ids)
        out = {}
        for room_id, pid in zip(room_ids, pids, strict=True):
            product = await self.store.pinned(room_id) if pid else None
            if product is not None:
                out[room_id] = product
        return out

    async def room_sales(self, room_id: str, active_only: bool = True) -> list[Sale]:
        return await self.store.room_sales(room_id, active_only)

    async def get_sale(self, sale_id: str) -> Sale | None:
        return await self.store.get_sale(sale_id)

    # -- orders: a host's lists, a buyer's own ---------------------------------------------
    def host_orders(self, host_id: str) -> str:
        """The order list (index) of a host, for order_page, order_pages, order_count."""
        return host_orders(host_id)

    def room_orders(self, room_id: str) -> str:
        """The order list (index) of a room, kept after the room is deleted."""
        return room_orders(room_id)

    async def index_owner(self, index: str) -> str | None:
        """The host whose orders a list holds (for a room that has since been deleted)."""
        return await self.store.index_owner(index)

    async def order_page(self, index: str, limit: int,
                         after: str = "") -> tuple[list[Order], str | None]:
        """See CommerceStore.order_page; raises KeyError for an unknown cursor."""
        return await self.store.order_page(index, limit, after)

    def order_pages(self, index: str) -> AsyncIterator[list[Order]]:
        return self.store.order_pages(index)

    async def order_count(self, index: str) -> int:
        return await self.store.order_count(index)

    async def get_order(self, oid: str) -> Order | None:
        return await self.store.get_order(oid)

    async def orders_of_buyer(self, buyer_id: str) -> list[Order]:
        return await self.store.orders_of_buyer(buyer_id)

    async def contact_of(self, buyer_id: str) -> dict[str, str] | None:
        """The contact a buyer's last order was sent to, if any."""
        return await self.store.contact_of(buyer_id)

    # -- host actions ----------------------------------------------------------------------
    async def count_click(self, room_id: str, product_id: str, clicker: str) -> bool:
        """Count a card click once per viewer per pin, only for the card pinned now."""
        counted = await self.store.count_click(room_id, product_id, clicker)
        if counted and self.counters is not None:
            await self.counters.add(room_id, "card_clicks")
        return counted

    async def pin(self, room_id: str, product: Product) -> str:
        """Pin the product's card (a variant's parent's); the id pinned."""
        top = await self.catalogue.check_on_sale(product)
        (card,) = await self.catalogue.cards([top])
        event, payload = self.bus.prepare(room_id, {"type": "card_pinned", "card": card})
        await self.store.pin_announced(room_id, top["product_id"], channel(room_id), payload)
        await self.bus.observe(room_id, event)
        if self.counters is not None:
            await self.counters.add(room_id, "card_pins")
        return top["product_id"]

    async def unpin(self, room_id: str) -> None:
        event, payload = self.bus.prepare(room_id, {"type": "card_unpinned"})
        await self.store.pin_announced(room_id, None, channel(room_id), payload)
        await self.bus.observe(room_id, event)

    async def start_sale(self, room_id: str, product: Product,
                         body: dict[str, Any]) -> Sale:
        now = time.time()
        data = sale_input(body, now, product["per_buyer_limit"])
        if data.product_id != product["product_id"]:
            raise RuleError("product_id does not match")
        top = await self.catalogue.check_on_sale(product)
        await self.store.attach(room_id, top["product_id"])
        sale = await self.store.create_sale(room_id, product, data, now)
        self.stock.mark_product(room_id, product["product_id"])
        kind = "sale_started" if sale["status"] == "live" else "sale_scheduled"
        await self.bus.publish(room_id, {"type": kind, "sale": sale_view(sale)})
        return sale

    async def end_sale(self, sale: Sale) -> Sale | None:
        """End the sale, if it has not ended; returns the sale as it is now."""
        returned = await self.store.end_sale(sale["sale_id"], time.time())
        if returned is not None:
            await self.bus.publish(sale["room_id"], {"type": "sale_ended",
                                                     "sale_id": sale["sale_id"]})
            if returned:
                self.stock.mark_product(sale["room_id"], sale["product_id"])
        return await self.store.get_sale(sale["sale_id"])

    async def set_status(self, order: Order, new: str, **extra: str) -> Order:
        from server.commerce.rules import check_transition

        check_transition(order["status"], new, digital=order_kind(order) == "digital")
        now = time.time()
        if new == "cancelled":
            done, key, _, before = await self.store.cancel(
                order["order_id"], now, only_reserved=False,
                reason=extra.get("reason", "cancelled"))
            if not done:
                raise RuleError(f"an order that is {before} cannot be cancelled", code="conflict")
            self._restocked(order["room_id"], key)
        else:
            result = await self.store.transition(order, new, now, **extra)
            if result != "ok":
                raise RuleError(f"the order changed meanwhile (now {result})", code="conflict")
        updated = await self.store.get_order(order["order_id"])
        assert updated is not None
        if self.on_status is not None:
            await self.on_status(updated)
        await self._tell_buyer(updated)
        return updated

    async def _tell_buyer(self, order: Order) -> None:
        await self.bus.publish(order["room_id"], {"type": "order_status", "to": order["buyer_id"],
                                                  "order": order_view(order)})

    # -- viewer actions --------------------------------------------------------------------
    async def buy(self, room_id: str, buyer_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Place an order from a buy request (HTTP or data channel): one Redis round trip
        (buying.py). Returns the order view with ``created`` telling a first answer from a
        replay of the same idempotency key."""
        request = buy_input(body)
        order, created, remaining = await self.buys.place(
            room_id=room_id, buyer_id=buyer_id, order=request,
            confirm=self.payments.confirms_at_once, reservation_ttl=self.reservation_ttl,
            counters=self.counters)
        if created:
            if request.sale_id:
                self.stock.mark(room_id, request.sale_id)
                if remaining == 0:
                    await self.bus.publish(room_id, {"type": "sale_sold_out",
                                                     "sale_id": request.sale_id})
            else:
                self.stock.mark_product(room_id, order["product_id"])
            await observed(self.bus, order)
        view = order_view(order)
        view["payment"] = self.payments.instructions(order)
        view["created"] = created
        return view

    async def buy_class(self, cls: SellableClass, buyer_id: str,
                        body: dict[str, Any]) -> dict[str, Any]:
        """Buy a recorded class through the same order flow. It is held as a reservation
        until its payment is confirmed; access follows confirmation (``on_status``)."""
        idem = idempotency_key(body.get("idempotency_key"))
        raw_contact = body.get("contact")
        if raw_contact is None:
            raw_contact = await self.store.contact_of(buyer_id)
        contact = contact_input(raw_contact, digital=True)
        order, created, _ = await self.store.buy(
            buyer_id=buyer_id, source=cls, sale_id="", quantity=1, idem=idem,
            contact=contact, room_id=cls["room_id"], confirm=False,
            reservation_ttl=self.reservation_ttl, now=time.time(),
            source_key=f"class:{cls['class_id']}")
        if created:
            known = await self.store.contact_of(buyer_id) or {}
            if not contact.address and known.get("address"):
                contact = type(contact)(contact.name, contact.phone, known["address"])
            await self.store.save_contact(buyer_id, contact)
        view = order_view(order)
        view["payment"] = self.digital_payments.instructions(order)
        view["created"] = created
        return view

    async def snapshot(self, room_id: str) -> dict[str, Any]:
        seq = await self.bus.current_seq(room_id)
        pinned = await self.store.pinned(room_id)
        return {
            "seq": seq,
            "pinned": (await self.catalogue.cards([pinned]))[0] if pinned else None,
            "products": await self.catalogue.cards(await self.store.room_products(room_id)),
            "sales": [sale_view(s) for s in await self.store.room_sales(room_id)],
            "payment": {"provider": self.payments.name,
                        "reservation_ttl_s": int(self.reservation_ttl)},
        }

    def _restocked(self, room_id: str, key: str) -> None:
        """Tell viewers the stock that a cancelled order put back (at ``key``)."""
        kind, _, ident = key.partition(":")
        if kind == "sale":
            self.stock.mark(room_id, ident)
        elif kind == "product":
            self.stock.mark_product(room_id, ident)

    # -- background: sale schedule and reservation expiry, run by every node ---------------
    async def tick(self) -> None:
        await self.buys.flush(self.counters)
        self.buys.drop_stale()
        now = time.time()
        for sale_id, what in await self.store.due_sales(now):
            sale = await self.store.get_sale(sale_id)
            if sale is None:
                continue
            if what == "started":
                await self.bus.publish(sale["room_id"], {"type": "sale_started",
                                                         "sale": sale_view(sale)})
            else:
                await self.bus.publish(sale["room_id"], {"type": "sale_ended",
                                                         "sale_id": sale_id})
        for oid in await self.store.expired_reservations(now):
            done, key, _, _ = await self.store.cancel(oid, now, only_reserved=True,
                                                      reason="reservation expired")
            if not done:
                continue
            order = await self.store.get_order(oid)
            if order is None:
                continue
            self._restocked(order["room_id"], key)
            if self.on_status is not None:
                await self.on_status(order)
            await self._tell_buyer(order)

    def start(self, interval: float = 0.2) -> None:
        async def loop() -> None:
            delay = interval
            while True:
                try:
                    await self.tick()
                    if delay > interval:
                        log.info("commerce tick recovered")
                    delay = interval
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Redis away: back off (to 5 s) instead of failing five times a second.
                    if delay == interval:
                        log.warning("commerce tick failed", extra={"reason": str(exc)})
                    delay = min(delay * 2, 5.0)
                await asyncio.sleep(delay)

        self._ticker = asyncio.create_task(loop())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self.stock.close()
        await self.coupons.close()

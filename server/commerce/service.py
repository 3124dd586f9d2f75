"""What hosts and viewers do in a live room — pin, sell, buy — and the events that follow."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from server.commerce.payments import DIGITAL, PaymentProvider
from server.commerce.records import Order, Product, Sale, Sellable, SellableClass
from server.commerce.rules import (
    ProductEdit,
    ProductInput,
    contact_input,
    idempotency_key,
    order_kind,
    sale_input,
)
from server.commerce.stock import StockCoalescer
from server.commerce.store import BuyRefused, CommerceStore, host_orders, room_orders
from server.platform.errors import RuleError
from server.platform.events import EventBus

log = logging.getLogger("stallcast.commerce")

# Order fields a buyer or host sees; internal bookkeeping stays out.
ORDER_FIELDS = ("order_id", "status", "room_id", "product_id", "product_title", "sale_id",
                "quantity", "unit_price", "currency", "name", "phone", "address", "created_at",
                "expires_at", "tracking_number", "cancel_reason", "buyer_id")


def _pick(record: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The named fields a record has, in the order named."""
    return {k: record[k] for k in keys if k in record}


def order_view(order: Order) -> dict[str, Any]:
    view = _pick(order, ORDER_FIELDS)
    view["kind"] = order_kind(order)
    return view


def card_view(product: Product) -> dict[str, Any]:
    keys = ("product_id", "title", "description", "price", "currency", "image", "stock",
            "per_buyer_limit")
    fields: Mapping[str, Any] = product
    return {k: fields[k] for k in keys}


def sale_view(sale: Sale) -> dict[str, Any]:
    keys = ("sale_id", "product_id", "title", "price", "list_price", "currency", "quantity",
            "remaining", "per_buyer_limit", "starts_at", "ends_at", "status")
    return _pick(sale, keys)


class Counters(Protocol):
    """A live session's commerce counters (server/ops/counters.py SessionCounters)."""

    async def add(self, room_id: str, field: str, amount: float = 1) -> None: ...

    async def add_many(self, room_id: str, values: dict[str, float], buyer: str = "",
                       currency: str = "") -> None: ...


class Commerce:
    def __init__(self, store: CommerceStore, bus: EventBus, payments: PaymentProvider,
                 reservation_ttl: float) -> None:
        self.store = store
        self.bus = bus
        self.payments = payments
        self.reservation_ttl = reservation_ttl
        self.stock = StockCoalescer(store, bus)
        self._ticker: asyncio.Task[None] | None = None
        # Session counters (server/ops/counters.py), when metrics are on.
        self.counters: Counters | None = None
        # A digital good is never cash on delivery: its payment is confirmed first.
        self.digital_payments: PaymentProvider = DIGITAL
        # Called with each order whose status moved (confirmed, cancelled): a class order
        # grants access on confirmation and takes it back on cancellation.
        self.on_status: Callable[[Order], Awaitable[None]] | None = None

    # -- the host's catalogue -------------------------------------------------------------
    async def create_product(self, host_id: str, data: ProductInput) -> Product:
        return await self.store.create_product(host_id, data)

    async def get_product(self, pid: str) -> Product | None:
        return await self.store.get_product(pid)

    async def products_of(self, host_id: str) -> list[Product]:
        return await self.store.products_of(host_id)

    async def update_product(self, product: Product, edit: ProductEdit,
                             room_ids: list[str]) -> Product:
        """Write the fields the edit names; the rooms of ``room_ids`` that show this card
        show the new price and stock at once."""
        updated = await self.store.update_product(product["product_id"], product["host_id"],
                                                  edit)
        pinned = await self.store.pinned_ids(room_ids)
        for room_id, pid in zip(room_ids, pinned, strict=True):
            if pid == updated["product_id"]:
                await self.bus.publish(room_id, {"type": "card_pinned",
                                                 "card": card_view(updated)})
        return updated

    async def delete_product(self, product: Product) -> None:
        await self.store.delete_product(product)

    async def attach(self, room_id: str, product: Product) -> None:
        await self.store.attach(room_id, product["product_id"])

    async def detach(self, room_id: str, product: Product) -> None:
        """Take the product off the room, and its card off screen if it is pinned."""
        pinned = await self.store.pinned(room_id)
        await self.store.detach(room_id, product["product_id"])
        if pinned is not None and pinned["product_id"] == product["product_id"]:
            await self.unpin(room_id)

    async def room_products(self, room_id: str) -> list[Product]:
        return await self.store.room_products(room_id)

    async def pinned_products(self, room_ids: list[str]) -> dict[str, Product]:
        """The product each room pins now; rooms pinning none are left out (front door)."""
        pids = await self.store.pinned_ids(room_ids)
        out = {}
        for room_id, pid in zip(room_ids, pids, strict=True):
            product = await self.store.get_product(pid) if pid else None
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

    async def pin(self, room_id: str, product: Product) -> None:
        await self.store.attach(room_id, product["product_id"])
        await self.store.pin(room_id, product["product_id"])
        await self.bus.publish(room_id, {"type": "card_pinned", "card": card_view(product)})
        if self.counters is not None:
            await self.counters.add(room_id, "card_pins")

    async def unpin(self, room_id: str) -> None:
        await self.store.pin(room_id, None)
        await self.bus.publish(room_id, {"type": "card_unpinned"})

    async def start_sale(self, room_id: str, product: Product,
                         body: dict[str, Any]) -> Sale:
        now = time.time()
        data = sale_input(body, now, product["per_buyer_limit"])
        if data.product_id != product["product_id"]:
            raise RuleError("product_id does not match")
        await self.store.attach(room_id, product["product_id"])
        sale = await self.store.create_sale(room_id, product, data, now)
        kind = "sale_started" if sale["status"] == "live" else "sale_scheduled"
        await self.bus.publish(room_id, {"type": kind, "sale": sale_view(sale)})
        return sale

    async def end_sale(self, sale: Sale) -> Sale | None:
        """End the sale, if it has not ended; returns the sale as it is now."""
        if await self.store.end_sale(sale["sale_id"], time.time()) is not None:
            await self.bus.publish(sale["room_id"], {"type": "sale_ended",
                                                     "sale_id": sale["sale_id"]})
        return await self.store.get_sale(sale["sale_id"])

    async def set_status(self, order: Order, new: str, **extra: str) -> Order:
        from server.commerce.rules import check_transition

        check_transition(order["status"], new, digital=order_kind(order) == "digital")
        now = time.time()
        if new == "cancelled":
            done, _, _, before = await self.store.cancel(order["order_id"], now,
                                                         only_reserved=False,
                                                         reason=extra.get("reason", "cancelled"))
            if not done:
                raise RuleError(f"an order that is {before} cannot be cancelled", code="conflict")
            if order.get("sale_id"):
                self.stock.mark(order["room_id"], order["sale_id"])
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
        """Place an order from a buy request (HTTP or data channel). Returns the order view
        with ``created`` telling a first answer from a replay of the same idempotency key."""
        idem = idempotency_key(body.get("idempotency_key"))
        quantity = body.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 99:
            raise RuleError("quantity must be an integer from 1 to 99")
        sale_id, product_id = body.get("sale_id"), body.get("product_id")
        source: Sellable | None = None
        on_sale = ""  # the flash sale's id when the buy is from one
        if isinstance(sale_id, str):
            sale = await self.store.get_sale(sale_id)
            if sale is not None and sale["room_id"] == room_id:
                source, on_sale = sale, sale["sale_id"]
        elif isinstance(product_id, str):
            product = await self.store.get_product(product_id)
            if product and await self.store.is_attached(room_id, product_id):
                source = product
        else:
            raise RuleError("a buy names a sale_id or a product_id")
        if source is None:
            raise BuyRefused("not_found", -1)
        raw_contact = body.get("contact")
        if raw_contact is None:
            raw_contact = await self.store.contact_of(buyer_id)
        contact = contact_input(raw_contact)
        now = time.time()
        try:
            order, created, remaining = await self.store.buy(
                buyer_id=buyer_id, source=source, sale_id=on_sale, quantity=quantity, idem=idem,
                contact=contact, room_id=room_id, confirm=self.payments.confirms_at_once,
                reservation_ttl=self.reservation_ttl, now=now)
        except BuyRefused:
            if self.counters is not None:
                await self.counters.add(room_id, "buys")  # an attempt, refused
            raise
        if self.counters is not None:
            if created:
                await self.counters.add_many(
                    room_id, {"buys": 1, "orders": 1, "gmv": order["unit_price"] * quantity},
                    buyer=buyer_id, currency=order["currency"])
            else:
                await self.counters.add(room_id, "buys")
        if created:
            await self.store.save_contact(buyer_id, contact)
            if on_sale:
                self.stock.mark(room_id, on_sale)
                if remaining == 0:
                    await self.bus.publish(room_id, {"type": "sale_sold_out",
                                                     "sale_id": on_sale})
            await self._tell_buyer(order)
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
            "pinned": card_view(pinned) if pinned else None,
            "products": [card_view(p) for p in await self.store.room_products(room_id)],
            "sales": [sale_view(s) for s in await self.store.room_sales(room_id)],
        }

    # -- background: sale schedule and reservation expiry, run by every node ---------------
    async def tick(self) -> None:
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
            if key.startswith("sale:"):
                self.stock.mark(order["room_id"], key[5:])
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

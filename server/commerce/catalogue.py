"""The host's catalogue as the shop sees it: products with their variants, edits that
reach the cards on screen, and archiving, restoring and deleting that take a product off
every room (its pinned card, its open sales) at once."""

from __future__ import annotations

import time
from typing import Any

from server.commerce.products import STATUSES, Listing, variant_ids
from server.commerce.records import Product
from server.commerce.rules import ProductEdit, ProductInput, product_edit
from server.commerce.stock import StockCoalescer
from server.commerce.store import CommerceStore
from server.commerce.views import card_view, product_view
from server.platform.errors import RuleError
from server.platform.events import EventBus


def edit_kind(product: Product) -> str:
    """Which fields an edit of this product may name (rules.product_edit)."""
    if product["parent_id"]:
        return "variant"
    return "parent" if product["variant_ids"] else "plain"


class Catalogue:
    def __init__(self, store: CommerceStore, bus: EventBus, stock: StockCoalescer) -> None:
        self.store = store
        self.products = store.products
        self.bus = bus
        self.stock = stock

    async def create(self, host_id: str, data: ProductInput) -> Product:
        """A new product, with its variants if any, written at once."""
        product, _ = await self.products.create(host_id, data)
        return product

    async def get(self, pid: str) -> Product | None:
        return await self.products.get(pid)

    async def top(self, product: Product) -> Product:
        """The product rooms list: a variant's parent, or the product itself."""
        if not product["parent_id"]:
            return product
        parent = await self.products.get(product["parent_id"])
        if parent is None:
            raise RuleError("no such product", code="not_found")
        return parent

    async def view(self, product: Product) -> dict[str, Any]:
        """The host's view of a product, with its variants."""
        return (await self.views([product]))[0]

    async def views(self, products: list[Product]) -> list[dict[str, Any]]:
        return [product_view(p, vs) for p, vs in await self.products.listings(products)]

    async def cards(self, products: list[Product]) -> list[dict[str, Any]]:
        """Viewers' cards of the products, with their variants, in one round trip."""
        return [card_view(p, vs) for p, vs in await self.products.listings(products)]

    async def of_host(self, host_id: str, status: str = "active") -> list[dict[str, Any]]:
        if status not in STATUSES:
            raise RuleError(f"status must be one of {', '.join(STATUSES)}")
        listings: list[Listing] = await self.products.of_host(host_id, status)
        return [product_view(p, vs) for p, vs in listings]

    async def update(self, product: Product, body: dict[str, Any],
                     room_ids: list[str]) -> dict[str, Any]:
        """Write the fields the edit names (to the variants too, for what they share);
        the rooms of ``room_ids`` that show this card show the new price and stock at
        once."""
        edit: ProductEdit = product_edit(body, edit_kind(product))
        updated = await self.products.update(product, edit)
        top = await self.top(updated)
        await self._repin(top, room_ids)
        if "stock" in edit.changes:
            for room_id in room_ids:
                if await self.store.is_attached(room_id, top["product_id"]):
                    self.stock.mark_product(room_id, updated["product_id"])
        return await self.view(updated)

    async def _repin(self, top: Product, room_ids: list[str]) -> None:
        pinned = await self.store.pinned_ids(room_ids)
        if top["product_id"] not in pinned:
            return
        (card,) = await self.cards([top])
        for room_id, pid in zip(room_ids, pinned, strict=True):
            if pid == top["product_id"]:
                await self.bus.publish(room_id, {"type": "card_pinned", "card": card})

    async def set_status(self, product: Product, status: str,
                         room_ids: list[str]) -> dict[str, Any] | None:
        """Archive, restore or delete a product with its variants. Archived and deleted
        ones leave every room: their pinned card goes off screen and their open sales end
        (the unsold units go back to stock). The product's view (None once deleted)."""
        if product["parent_id"]:
            raise RuleError("archive, restore or delete the whole product, not one variant "
                            f"(its product is {product['parent_id']})")
        await self.products.set_status(product, status)
        if status != "active":
            await self.leave_rooms(product, room_ids)
        if status == "deleted":
            return None
        fresh = await self.products.get(product["product_id"])
        return await self.view(fresh) if fresh is not None else None

    async def leave_rooms(self, product: Product, room_ids: list[str]) -> None:
        pid = product["product_id"]
        sold = {pid, *variant_ids(product)}
        pinned = await self.store.pinned_ids(room_ids)
        now = time.time()
        for room_id, pin in zip(room_ids, pinned, strict=True):
            if pin == pid:
                await self.store.pin(room_id, None)
                await self.bus.publish(room_id, {"type": "card_unpinned"})
            for sale in await self.store.room_sales(room_id):
                if sale["product_id"] in sold and await self.store.end_sale(
                        sale["sale_id"], now) is not None:
                    await self.bus.publish(room_id, {"type": "sale_ended",
                                                     "sale_id": sale["sale_id"]})

    async def check_on_sale(self, product: Product) -> Product:
        """The product rooms list, if it may be attached or pinned (not archived)."""
        top = await self.top(product)
        if top["status"] != "active":
            raise RuleError("this product is archived: restore it first", code="archived")
        return top

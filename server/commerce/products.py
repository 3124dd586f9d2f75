"""The host's catalogue in Redis: ``product:{pid}`` hashes and ``host:{id}:products``.

A product with variants (a 2 kg and a 5 kg box) is a parent record listing its variants'
ids (``variant_ids``, fixed at creation); each variant is a product record of its own
(``parent_id``, ``variant_label``, its own price, stock and limit) and is what buys, sales
and stock name. The parent holds no stock; what it shows is its variants' sum.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from server.commerce import lua
from server.commerce.records import Product, decode_product
from server.commerce.rules import ProductEdit, ProductInput
from server.platform.batch import hashes
from server.platform.errors import RuleError

# Fields products made before them do not have.
DEFAULTS = {"thumb": "", "shipping_fee": "0", "parent_id": "", "variant_label": "",
            "variant_ids": "", "ship_by_hours": "0"}
# Which statuses a product may move to, from which.
MOVES = {"archived": ("active",), "active": ("archived",), "deleted": ("active", "archived")}
STATUSES = ("active", "archived")  # what a host's list may be filtered by

Listing = tuple[Product, list[Product]]  # a product and its variants (none for most)


def decode(raw: dict[str, Any]) -> Product:
    return decode_product({**DEFAULTS, **raw})


def variant_ids(product: Product) -> list[str]:
    return [v for v in product["variant_ids"].split(",") if v]


def top_id(product: Product) -> str:
    """The id rooms list: the product's, or a variant's parent's."""
    return product["parent_id"] or product["product_id"]


def _flat(fields: dict[str, Any]) -> list[str]:
    return [str(x) for kv in fields.items() for x in kv]


class ProductStore:
    """Needs a client made with ``decode_responses=True``."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._create = redis.register_script(lua.CREATE_PRODUCTS)
        self._update = redis.register_script(lua.UPDATE_PRODUCT)
        self._set_status = redis.register_script(lua.SET_STATUS)

    async def create(self, host_id: str, data: ProductInput) -> Listing:
        """The product and its variants, written in one script: all or nothing."""
        pid = "p_" + secrets.token_hex(6)
        shared: dict[str, Any] = {
            "title": data.title, "description": data.description, "currency": data.currency,
            "image": data.image, "thumb": data.thumb, "shipping_fee": data.shipping_fee,
            "host_id": host_id, "created_at": time.time(), "status": "active",
            "ship_by_hours": data.ship_by_hours}
        vids = ["p_" + secrets.token_hex(6) for _ in data.variants]
        records = [{**shared, "product_id": pid, "price": data.price, "stock": data.stock,
                    "per_buyer_limit": data.per_buyer_limit, "parent_id": "",
                    "variant_label": "", "variant_ids": ",".join(vids)}]
        records += [{**shared, "product_id": vid, "price": v.price, "stock": v.stock,
                     "per_buyer_limit": v.per_buyer_limit, "parent_id": pid,
                     "variant_label": v.label, "variant_ids": ""}
                    for vid, v in zip(vids, data.variants, strict=True)]
        args: list[str] = []
        for record in records:
            flat = _flat(record)
            args += [record["product_id"], str(len(flat)), *flat]
        await self._create(keys=[f"host:{host_id}:products",
                                 *(f"product:{r['product_id']}" for r in records)], args=args)
        made = [decode({k: str(v) for k, v in r.items()}) for r in records]
        return made[0], made[1:]

    async def get(self, pid: str) -> Product | None:
        """A product that is not deleted (archived ones included)."""
        if len(pid) > 64:
            return None
        raw = await self.redis.hgetall(f"product:{pid}")
        if not raw or raw.get("status") == "deleted":
            return None
        return decode({str(k): v for k, v in raw.items()})

    async def many(self, ids: Iterable[Any]) -> list[Product]:
        """The products of ``ids`` that are not deleted, in one round trip."""
        return [decode(r) for r in await hashes(self.redis, "product:", ids)
                if r and r.get("status") != "deleted"]

    async def listings(self, products: list[Product]) -> list[Listing]:
        """Each product with its variants (not deleted), all read in one round trip."""
        wanted = [vid for p in products for vid in variant_ids(p)]
        found = {v["product_id"]: v for v in await self.many(wanted)} if wanted else {}
        return [(p, [found[v] for v in variant_ids(p) if v in found]) for p in products]

    async def of_host(self, host_id: str, status: str = "active") -> list[Listing]:
        """The host's products in ``status`` (variants inside their parents), oldest
        first."""
        every = await self.many(await self.redis.smembers(f"host:{host_id}:products"))
        by_id = {p["product_id"]: p for p in every}
        tops = sorted((p for p in every if not p["parent_id"] and p["status"] == status),
                      key=lambda p: p["created_at"])
        return [(p, [by_id[v] for v in variant_ids(p) if v in by_id]) for p in tops]

    async def update(self, product: Product, edit: ProductEdit) -> Product:
        """Write the named fields in one script (to the variants too, for a product with
        them); stock never goes through Python."""
        expected = "" if edit.expected_stock is None else str(edit.expected_stock)
        code, stock = await self._update(
            keys=[f"product:{product['product_id']}",
                  *(f"product:{v}" for v in variant_ids(product))],
            args=[product["host_id"], expected, *_flat(edit.changes)])
        if code == "stock_moved":
            raise RuleError(f"the stock changed meanwhile (now {stock}); check it and "
                            "edit again", code="conflict")
        if code != "ok":
            raise RuleError("no such product", code=str(code))
        updated = await self.get(product["product_id"])
        if updated is None:
            raise RuleError("no such product", code="not_found")
        return updated

    async def set_status(self, product: Product, status: str) -> None:
        """Archive, restore or delete a product with its variants, in one script."""
        result = await self._set_status(
            keys=[f"product:{product['product_id']}", f"host:{product['host_id']}:products",
                  *(f"product:{v}" for v in variant_ids(product))],
            args=[product["host_id"], status, " ".join(MOVES[status]), time.time()])
        if result in ("not_found", "forbidden"):
            raise RuleError("no such product", code=str(result))
        if result != "ok":
            raise RuleError(f"a product that is {result} cannot become {status}",
                            code="conflict")

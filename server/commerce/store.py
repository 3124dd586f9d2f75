"""Products, cards, flash sales and orders in Redis. Every stock change is one Lua script."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict
from typing import Any, cast

import redis.asyncio as aioredis

from server.audience.signin import MERGED, merged_key
from server.commerce import lua
from server.commerce.delivery import ship_by_index
from server.commerce.products import ProductStore
from server.commerce.records import (
    Order,
    Product,
    Sale,
    Sellable,
    decode_order,
    decode_sale,
)
from server.commerce.rules import (
    Contact,
    SaleInput,
    cancellable_statuses,
    person_keys,
)
from server.platform.batch import hashes
from server.platform.errors import RuleError

RESERVATIONS = "reservations"
SALE_SCHEDULE = "sales:schedule"
PAGE_MAX = 500  # orders per page of a listing
CLICKERS_TTL_S = 2 * 86400  # who clicked the pinned card: kept while a show could run

BUY_ERRORS = {
    "not_found": "no such sale or product",
    "not_started": "the sale has not started yet",
    "ended": "the sale has ended",
    "sold_out": "sold out",
    "insufficient": "not enough left for that quantity",
    "limit": "over this buyer's limit",
    "archived": "this product is no longer on sale",
    "choose_variant": "this product comes in variants: buy one of them (its product_id)",
    "coupon_invalid": "this coupon is not for this room or this currency",
    "coupon_ended": "this coupon has ended",
    "coupon_unclaimed": "claim the coupon first",
    "coupon_used": "this coupon has been used",
    "coupon_minimum": "the order is below the coupon's minimum",
    "merged": MERGED,
}


def host_orders(host_id: str) -> str:
    """The index of a host's orders (every room's, and classes')."""
    return f"host:{host_id}:orders"


def room_orders(room_id: str) -> str:
    """The index of a room's orders; kept after the room is deleted (see index_owner)."""
    return f"room:{room_id}:orders"


def titled(source: Sellable) -> str:
    """What an order or sale is called: the product's title, with its variant's label."""
    label = cast(Mapping[str, Any], source).get("variant_label", "")
    return f"{source['title']} ({label})" if label else source["title"]


class BuyRefused(RuleError):
    def __init__(self, code: str, remaining: int) -> None:
        super().__init__(BUY_ERRORS[code], code=code)
        self.remaining = remaining


class CommerceStore:
    """Needs a client made with ``decode_responses=True``."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.products = ProductStore(redis)
        self._buy = redis.register_script(lua.BUY)
        self._cancel = redis.register_script(lua.CANCEL)
        self._create_sale = redis.register_script(lua.CREATE_SALE)
        self._end_sale = redis.register_script(lua.END_SALE)
        self._transition = redis.register_script(lua.TRANSITION)
        self._order_page = redis.register_script(lua.ORDER_PAGE)
        self._click = redis.register_script(lua.CARD_CLICK)
        self._pin = redis.register_script(lua.PIN)

    # -- rooms: attached products and the pinned card --------------------------------------
    async def attach(self, room_id: str, pid: str) -> None:
        await self.redis.sadd(f"room:{room_id}:products", pid)

    async def detach(self, room_id: str, pid: str) -> None:
        await self.redis.srem(f"room:{room_id}:products", pid)
        await self.redis.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end",
            1, f"room:{room_id}:pinned", pid)

    async def room_products(self, room_id: str) -> list[Product]:
        """The products on show in the room: attached, and neither archived nor deleted."""
        ids = sorted(str(i) for i in await self.redis.smembers(f"room:{room_id}:products"))
        return [p for p in await self.products.many(ids) if p["status"] == "active"]

    async def is_attached(self, room_id: str, pid: str) -> bool:
        return bool(await self.redis.sismember(f"room:{room_id}:products", pid))

    async def pin(self, room_id: str, pid: str | None) -> None:
        """Pin (or unpin) the card; each pin starts a fresh set of viewers who clicked it."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if pid is None:
                pipe.delete(f"room:{room_id}:pinned")
            else:
                pipe.set(f"room:{room_id}:pinned", pid)
            pipe.delete(f"room:{room_id}:clickers")
            await pipe.execute()

    async def pin_announced(self, room_id: str, pid: str | None, chan: str,
                            payload: bytes) -> None:
        """Attach and pin ``pid`` (None: unpin) and publish ``payload`` in one write."""
        await self._pin(keys=[f"room:{room_id}:products", f"room:{room_id}:pinned",
                              f"room:{room_id}:clickers", f"room:{room_id}:seq"],
                        args=[pid or "", chan, payload])

    async def count_click(self, room_id: str, pid: str, clicker: str) -> bool:
        """True the first time ``clicker`` clicks the card pinned now; a click on anything
        else, or a repeat, counts nothing."""
        return bool(await self._click(keys=[f"room:{room_id}:pinned", f"room:{room_id}:clickers"],
                                      args=[pid, clicker, CLICKERS_TTL_S]))

    async def pinned_ids(self, room_ids: list[str]) -> list[str | None]:
        """The pinned product id of each room, in one round trip."""
        if not room_ids:
            return []
        return [str(p) if p else None
                for p in await self.redis.mget([f"room:{r}:pinned" for r in room_ids])]

    async def pinned(self, room_id: str) -> Product | None:
        """The pinned product, unless it has been archived (or deleted) since."""
        pid = await self.redis.get(f"room:{room_id}:pinned")
        product = await self.products.get(str(pid)) if pid else None
        return product if product is not None and product["status"] == "active" else None

    # -- flash sales ------------------------------------------------------------------------
    async def create_sale(self, room_id: str, product: Product, data: SaleInput,
                          now: float) -> Sale:
        sid = "s_" + secrets.token_hex(6)
        fields: dict[str, str | int | float] = {
            "sale_id": sid, "room_id": room_id, "product_id": product["product_id"],
            "host_id": product["host_id"], "title": titled(product),
            "currency": product["currency"], "price": data.price, "list_price": product["price"],
            "quantity": data.quantity, "remaining": data.quantity,
            "per_buyer_limit": data.per_buyer_limit, "starts_at": data.starts_at,
            "ends_at": data.ends_at, "created_at": now,
            "status": "live" if data.starts_at <= now else "scheduled",
        }
        flat = [str(x) for kv in fields.items() for x in kv]
        code, stock = await self._create_sale(
            keys=[f"product:{product['product_id']}", f"sale:{sid}", f"room:{room_id}:sales",
                  SALE_SCHEDULE],
            args=[data.quantity, sid, data.starts_at if data.starts_at > now else data.ends_at,
                  *flat])
        if code == "not_found":
            raise RuleError("no such product", code="not_found")
        if code == "invalid":
            raise RuleError("the sale's quantity or times are not valid numbers")
        if code in ("archived", "choose_variant"):
            raise BuyRefused(str(code), -1)
        if code != "ok":
            raise RuleError(f"only {stock} in stock for a sale of {data.quantity}",
                            code="insufficient")
        sale = await self.get_sale(sid)
        assert sale is not None
        return sale

    async def get_sale(self, sid: str) -> Sale | None:
        if len(sid) > 64:
            return None
        raw = await self.redis.hgetall(f"sale:{sid}")
        return decode_sale(raw) if raw else None

    async def room_sales(self, room_id: str, active_only: bool = True) -> list[Sale]:
        ids = await self.redis.smembers(f"room:{room_id}:sales")
        raws = await hashes(self.redis, "sale:", ids)
        sales = [decode_sale(r) for r in raws if r]
        out = [s for s in sales if not active_only or s["status"] != "ended"]
        return sorted(out, key=lambda s: s["starts_at"])

    async def end_sale(self, sid: str, now: float) -> int | None:
        """End the sale; returns the quantity returned to stock, None if it had ended."""
        ended, left = await self._end_sale(keys=[f"sale:{sid}", SALE_SCHEDULE], args=[sid, now])
        return int(left) if ended else None

    async def due_sales(self, now: float) -> list[tuple[str, str]]:
        """Sales whose start or end time has come: [(sale_id, "started" | "ended")]. Each is
        claimed by exactly one node."""
        due = await self.redis.zrangebyscore(SALE_SCHEDULE, "-inf", now, start=0, num=100)
        out: list[tuple[str, str]] = []
        for sid in map(str, due):
            sale = await self.get_sale(sid)
            if sale is None:
                await self.redis.zrem(SALE_SCHEDULE, sid)
            elif sale["status"] == "scheduled":
                # Move it from "starts" to "ends" in the schedule; only one node wins the ZADD XX.
                claimed = await self.redis.eval(
                    "if redis.call('HGET', KEYS[1], 'status') ~= 'scheduled' then return 0 end "
                    "redis.call('HSET', KEYS[1], 'status', 'live') "
                    "redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2]) return 1",
                    2, f"sale:{sid}", SALE_SCHEDULE, sale["ends_at"], sid)
                if claimed:
                    out.append((sid, "started"))
            elif await self.end_sale(sid, now) is not None:
                out.append((sid, "ended"))
        return out

    # -- orders -----------------------------------------------------------------------------
    async def buy(self, *, buyer_id: str, source: Sellable, sale_id: str, quantity: int,
                  idem: str, contact: Contact, room_id: str, confirm: bool,
                  reservation_ttl: float, now: float,
                  source_key: str | None = None,
                  extra: Mapping[str, str] | None = None) -> tuple[Order, bool, int]:
        """Reserve stock and write the order: from the sale ``sale_id``, or with
        ``sale_id`` "" from the product (or the class, auction lot or giveaway prize at
        ``source_key``) ``source`` itself, with ``extra`` fields (an auction's ``prize``).
        Returns (order, created, remaining)."""
        oid = "o_" + secrets.token_hex(8)
        is_sale = bool(sale_id)
        src_key = source_key or (
            f"sale:{sale_id}" if is_sale else f"product:{source['product_id']}")
        fields: dict[str, str | int | float] = {
            "order_id": oid, "buyer_id": buyer_id, "host_id": source["host_id"],
            "room_id": room_id, "product_id": source["product_id"],
            "product_title": titled(source), "sale_id": sale_id,
            "quantity": quantity, "currency": source["currency"],
            "name": contact.name, "phone": contact.phone, "address": contact.address,
            "created_at": now, "idempotency_key": idem, "source": src_key,
            "source_field": "remaining" if is_sale else "stock", "tracking_number": "",
            **(extra or {}),
        }
        flat = [str(x) for kv in fields.items() for x in kv]
        phone_key, address_key = person_keys(contact)
        code, order_id, remaining = await self._buy(
            keys=[src_key, f"{src_key}:buyers", f"idem:{buyer_id}:{idem}", f"order:{oid}",
                  f"buyer:{buyer_id}:orders", f"host:{source['host_id']}:orders",
                  RESERVATIONS, f"room:{room_id}:orders" if room_id else "",
                  f"{src_key}:contacts",
                  f"product:{source['product_id']}" if is_sale else "",
                  merged_key(buyer_id), ship_by_index(None), ship_by_index(source["host_id"]),
                  f"product:{source['product_id']}"],
            args=[now, quantity, buyer_id, oid, fields["source_field"],
                  source["per_buyer_limit"], "confirmed" if confirm else "reserved",
                  now + reservation_ttl, phone_key, address_key, *flat])
        if code == "duplicate":
            order = await self.get_order(str(order_id))
            assert order is not None
            return order, False, -1
        if code != "ok":
            raise BuyRefused(str(code), int(remaining))
        order = await self.get_order(oid)
        assert order is not None
        return order, True, int(remaining)

    async def get_order(self, oid: str) -> Order | None:
        if len(oid) > 64:
            return None
        raw = await self.redis.hgetall(f"order:{oid}")
        return decode_order(raw) if raw else None

    async def order_page(self, index: str, limit: int,
                         after: str = "") -> tuple[list[Order], str | None]:
        """Up to ``limit`` orders of an index (``host:{id}:orders``, ``room:{id}:orders``,
        ``buyer:{id}:orders``), newest first, after order ``after``. Returns the orders and the
        cursor of the next page (None at the end). Raises KeyError for an unknown cursor."""
        ids = await self._order_page(keys=[index], args=[after, limit + 1])
        if ids is None:
            raise KeyError(after)
        more = len(ids) > limit
        ids = ids[:limit]
        orders = [decode_order(r) for r in await hashes(self.redis, "order:", ids) if r]
        return orders, (str(ids[-1]) if more else None)

    async def order_pages(self, index: str) -> AsyncIterator[list[Order]]:
        """Every order of an index, newest first, a page at a time (for exports)."""
        cursor: str | None = ""
        while cursor is not None:
            page, cursor = await self.order_page(index, PAGE_MAX, cursor)
            yield page

    async def index_owner(self, index: str) -> str | None:
        """The host whose orders an index holds (for a room that has since been deleted)."""
        newest = await self.redis.zrevrange(index, 0, 0)
        order = await self.get_order(str(newest[0])) if newest else None
        return str(order["host_id"]) if order else None

    async def order_count(self, index: str) -> int:
        return int(await self.redis.zcard(index))

    async def orders_of_buyer(self, buyer_id: str, limit: int = 200) -> list[Order]:
        orders, _ = await self.order_page(f"buyer:{buyer_id}:orders", limit)
        return orders

    async def transition(self, order: Order, new: str, now: float,
                         **extra: str) -> str:
        flat = [str(x) for kv in extra.items() for x in kv]
        result = await self._transition(keys=[f"order:{order['order_id']}"],
                                        args=[order["status"], new, now, *flat])
        return str(result)

    async def cancel(self, oid: str, now: float, *, only_reserved: bool,
                     reason: str) -> tuple[bool, str, int, str]:
        """Cancel and restock. Returns (cancelled, stock key, remaining, status before).
        Which statuses may be cancelled comes from the one state machine (rules)."""
        cancellable = ["reserved"] if only_reserved else cancellable_statuses()
        done, key, remaining, before = await self._cancel(
            keys=[f"order:{oid}", RESERVATIONS],
            args=[oid, now, " ".join(cancellable), reason])
        return bool(done), str(key), int(remaining), str(before)

    async def expired_reservations(self, now: float, limit: int = 200) -> list[str]:
        return [str(o) for o in await self.redis.zrangebyscore(
            RESERVATIONS, "-inf", now, start=0, num=limit)]

    # -- buyer contact, remembered after the first order -----------------------------------
    async def save_contact(self, buyer_id: str, contact: Contact) -> None:
        """Saved with its person keys, so a buy without a contact needs no Python step."""
        phone_key, address_key = person_keys(contact)
        fields: dict[str, str] = {**asdict(contact), "phone_key": phone_key,
                                  "address_key": address_key}
        await self.redis.hset(f"viewer:{buyer_id}:contact", mapping=fields)  # type: ignore[arg-type]

    async def contact_of(self, buyer_id: str) -> dict[str, str] | None:
        raw = await self.redis.hgetall(f"viewer:{buyer_id}:contact")
        return {str(k): str(v) for k, v in raw.items()
                if k in ("name", "phone", "address")} if raw else None

"""Live auctions: a host auctions one unit of a product in its room; bids are one atomic
script each (auction_scripts.py); whichever node first sees the end closes it, once, and
the winner gets a reserved order at the winning price (made by the same BUY script as
every order, from the auction's lot) to confirm within ``confirm_s``. If it lapses the
host may offer the lot to the next highest distinct bidder.

Bursts of bids are told to viewers as at most one ``auction_bid`` per node every
``bid_event_interval_ms``, carrying the latest state read from Redis (so an event never
shows an old highest bid as new; clients keep the one with the highest ``bid_count``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from media.tasks import TaskSet
from server.audience.signin import MERGED, merged_key
from server.commerce import auction_scripts as lua
from server.commerce.prizes import account_ids, prize_view
from server.commerce.records import Order, Product, Sellable
from server.commerce.rules import Contact
from server.commerce.service import Commerce
from server.commerce.store import BuyRefused
from server.platform.config import AuctionsConfig
from server.platform.errors import RuleError
from server.platform.ratelimit import RateLimiter
from server.platform.text import id_field, int_field

log = logging.getLogger("stallcast.auctions")

DUE = "auctions:due"
LEASE_S = 10  # a node making a winner's order holds the auction this long
MAX_AMOUNT = 10**10  # minor units
LOG_PAGE = 1000
KEEP_S = 30 * 86400  # an auction's keys outlive it this long (host's records)
# HTTP bids per viewer, across nodes: as the data channel's (a person taps a few a second).
HTTP_BID_BURST, HTTP_BIDS_PER_S = 5, 2.0

BID_ERRORS = {
    "not_found": "no such auction",
    "ended": "the auction has ended",
    "bid_cap": "this auction takes no more bids",
    "too_low": "the bid must reach the next valid amount",
    "already_highest": "you already have the highest bid",
    "merged": MERGED,
}
BID_STATUS_CODE = {"ended": "ended", "bid_cap": "limit", "too_low": "too_low",
                   "already_highest": "conflict", "not_found": "not_found",
                   "merged": "merged"}
PUBLIC_FIELDS = ("auction_id", "room_id", "product_id", "title", "currency", "start_price",
                 "increment", "extend_s", "started_at", "ends_at", "status", "bid_count",
                 "top_amount", "top_name", "extensions", "winner_name", "winner_amount",
                 "offer_rank", "offered_name", "offered_amount", "confirm_s")
NUMBERS = {"start_price", "increment", "extend_s", "bid_count", "top_amount", "extensions",
           "winner_amount", "offer_rank", "offered_amount", "confirm_s"}
TIMES = {"started_at", "ends_at"}


def auction_key(aid: str) -> str:
    return f"auction:{aid}"


def room_auction(room_id: str) -> str:
    return f"room:{room_id}:auction"


@dataclass(frozen=True)
class AuctionInput:
    product_id: str
    start_price: int
    increment: int
    duration_s: int
    extend_s: int
    confirm_s: int


def auction_input(body: dict[str, Any], settings: AuctionsConfig) -> AuctionInput:
    return AuctionInput(
        product_id=id_field(body, "product_id"),
        start_price=int_field(body, "start_price", 1, MAX_AMOUNT),
        increment=int_field(body, "increment", 1, MAX_AMOUNT),
        duration_s=int_field(body, "duration_s", 5, settings.max_duration_s),
        extend_s=int_field(body, "extend_s", 0, settings.max_extend_s, default=15),
        confirm_s=int_field(body, "confirm_s", 1, settings.confirm_s,
                            default=settings.confirm_s))


def bid_amount(body: dict[str, Any]) -> int:
    return int_field(body, "amount", 1, MAX_AMOUNT)


def public_view(raw: dict[str, str]) -> dict[str, Any]:
    """What anyone in the room sees: amounts and nicknames, never a bidder's id."""
    view: dict[str, Any] = {}
    for name in PUBLIC_FIELDS:
        if name in raw:
            value = raw[name]
            view[name] = (int(value) if name in NUMBERS else float(value)
                          if name in TIMES else value)
    count, top = view.get("bid_count", 0), view.get("top_amount", 0)
    view["next_amount"] = top + view.get("increment", 0) if count else view.get(
        "start_price", 0)
    view["now"] = float(raw.get("_now", time.time()))
    return view


class BidEvents:
    """Coalesces each auction's bids into at most one event per ``interval`` on this node:
    the first bid after a quiet spell is told at once, the rest of a burst once, after."""

    def __init__(self, auctions: Auctions, interval: float) -> None:
        self.auctions = auctions
        self.interval = interval
        self._last: dict[str, float] = {}
        self._pending: set[str] = set()
        self._ends: dict[str, float] = {}
        self._tasks = TaskSet()

    def mark(self, room_id: str, aid: str) -> None:
        if aid in self._pending:
            return
        self._pending.add(aid)
        wait = max(0.0, self._last.get(aid, 0.0) + self.interval - time.monotonic())
        self._tasks.spawn(self._flush(room_id, aid, wait))

    async def _flush(self, room_id: str, aid: str, wait: float) -> None:
        await asyncio.sleep(wait)
        self._pending.discard(aid)
        self._last[aid] = time.monotonic()
        try:
            raw = await self.auctions.raw(aid)
            if not raw:
                return
            view = public_view(raw)
            await self.auctions.bus.publish(room_id, {"type": "auction_bid", "auction": view})
            if view["extensions"] and view["ends_at"] > self._ends.get(aid, 0.0):
                await self.auctions.bus.publish(room_id, {
                    "type": "auction_extended", "auction_id": aid,
                    "ends_at": view["ends_at"], "extensions": view["extensions"]})
            self._ends[aid] = view["ends_at"]
        except Exception as exc:  # Redis away: the next bid (or the snapshot) catches up
            log.warning("auction bid event not sent", extra={"auction_id": aid,
                                                             "reason": repr(exc)})
        if len(self._last) > 1000:  # forget auctions long quiet
            cutoff = time.monotonic() - 60
            self._last = {k: v for k, v in self._last.items() if v > cutoff}
            self._ends = {k: v for k, v in self._ends.items() if k in self._last}

    async def close(self) -> None:
        await self._tasks.close()


class Auctions:
    def __init__(self, commerce: Commerce, settings: AuctionsConfig) -> None:
        self.commerce = commerce
        self.bus = commerce.bus
        self.redis = commerce.store.redis
        self.settings = settings
        self.events = BidEvents(self, settings.bid_event_interval_ms / 1000)
        self._start = self.redis.register_script(lua.START)
        self._bid = self.redis.register_script(lua.BID)
        self._close = self.redis.register_script(lua.CLOSE)
        self._settled = self.redis.register_script(lua.SETTLED)
        self._offer = self.redis.register_script(lua.OFFER)
        self._end_now = self.redis.register_script(lua.END_NOW)
        self.http_bids = RateLimiter(self.redis, "rl:bid", HTTP_BID_BURST,
                                     HTTP_BID_BURST / HTTP_BIDS_PER_S)

    async def raw(self, aid: str) -> dict[str, str]:
        """The auction's hash and, as ``_now``, Redis's clock (the one its end is kept by,
        so a countdown made from the two agrees with the close whatever this node's clock
        says), in one round trip."""
        if len(aid) > 64:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(auction_key(aid))
            pipe.time()
            found, (secs, micros) = await pipe.execute()
        if not found:
            return {}
        return {**{str(k): str(v) for k, v in found.items()}, "_now": f"{secs + micros / 1e6:.3f}"}

    async def start(self, room_id: str, product: Product, body: dict[str, Any]) -> dict[str, Any]:
        data = auction_input(body, self.settings)
        if data.product_id != product["product_id"]:
            raise RuleError("product_id does not match")
        aid = "a_" + secrets.token_hex(6)
        key = auction_key(aid)
        fields = {"auction_id": aid, "room_id": room_id, "host_id": product["host_id"],
                  "product_id": product["product_id"], "title": product["title"],
                  "currency": product["currency"], "start_price": data.start_price,
                  "increment": data.increment, "duration_s": data.duration_s,
                  "extend_s": data.extend_s, "confirm_s": data.confirm_s}
        flat = [str(x) for kv in fields.items() for x in kv]
        code, _, _ = await self._start(
            keys=[f"product:{product['product_id']}", key, f"{key}:lot", room_auction(room_id),
                  DUE],
            args=[aid, data.duration_s, self.settings.max_extension_total_s, *flat])
        if code == "busy":
            raise RuleError("an auction is already running in this room", code="conflict")
        if code != "ok":
            raise BuyRefused(str(code), -1) if code in ("archived", "choose_variant",
                                                        "sold_out") else RuleError(
                "no such product", code="not_found")
        for suffix in ("", ":lot"):
            await self.redis.expire(key + suffix, KEEP_S)
        self.commerce.stock.mark_product(room_id, product["product_id"])
        view = public_view(await self.raw(aid))
        await self.bus.publish(room_id, {"type": "auction_started", "auction": view})
        return view

    async def current(self, room_id: str) -> dict[str, Any] | None:
        """The room's latest auction (running or finished), as viewers see it."""
        aid = await self.redis.get(room_auction(room_id))
        raw = await self.raw(str(aid)) if aid else {}
        return public_view(raw) if raw else None

    async def bid(self, room_id: str, bidder: str, nickname: str,
                  body: dict[str, Any]) -> dict[str, Any]:
        """One bid (HTTP or data channel); ``auction_id`` defaults to the room's current."""
        amount = bid_amount(body)
        aid = body.get("auction_id") or await self.redis.get(room_auction(room_id)) or ""
        if not isinstance(aid, str) or len(aid) > 64:
            raise RuleError("auction_id must be a string")
        key = auction_key(aid)
        code, value, ends, extended, count = await self._bid(
            keys=[key, f"{key}:bidders", f"{key}:log", f"{key}:names", merged_key(bidder)],
            args=[bidder, amount, nickname, self.settings.max_bids, room_id])
        if code != "ok":
            message = BID_ERRORS[str(code)]
            if code == "too_low":
                message = f"the bid must be at least {int(value)}"
            raise RuleError(message, code=BID_STATUS_CODE[str(code)])
        if int(count) == 1:
            for suffix in (":bidders", ":log", ":names"):
                await self.redis.expire(key + suffix, KEEP_S)
        self.events.mark(room_id, aid)
        return {"auction_id": aid, "amount": int(value), "ends_at": float(ends),
                "extended": bool(int(extended)), "bid_count": int(count), "highest": True}

    async def offer_of(self, aid: str, viewer_id: str) -> Order | None:
        """The viewer's order for the lot, when the lot is offered to it now (the order's
        buyer is the account a bidder merged into, so the order is what says whose)."""
        raw = await self.raw(aid)
        if not raw.get("order_id"):
            return None
        order = await self.commerce.get_order(raw["order_id"])
        return order if order is not None and order["buyer_id"] == viewer_id else None

    async def bids(self, aid: str, start: int, limit: int) -> list[dict[str, Any]]:
        """Accepted bids, oldest first, for the host (ids included)."""
        out = []
        for line in await self.redis.lrange(f"{auction_key(aid)}:log", start,
                                            start + min(limit, LOG_PAGE) - 1):
            n, amount, bidder, at, ends, extended = str(line).split(" ")
            out.append({"n": int(n), "amount": int(amount), "bidder_id": bidder,
                        "at": float(at), "ends_at": float(ends),
                        "extended": extended == "1"})
        return out

    async def host_view(self, aid: str) -> dict[str, Any] | None:
        raw = await self.raw(aid)
        if not raw:
            return None
        view = public_view(raw)
        view.update(top_bidder_id=raw.get("top_bidder", ""),
                    offered_to=raw.get("offered_to", ""), order_id=raw.get("order_id", ""),
                    host_id=raw.get("host_id", ""))
        scored: list[Any] = await self.redis.zrevrange(f"{auction_key(aid)}:bidders", 0, 9,
                                                      withscores=True)
        top = [(str(b), float(s)) for b, s in scored]
        ids = [b for b, _ in top]
        names = await self.redis.hmget(f"{auction_key(aid)}:names", ids) if ids else []
        view["leaders"] = [{"bidder_id": b, "amount": int(s), "name": str(n or "")}
                           for b, (_, s), n in zip(ids, top, names, strict=True)]
        return view

    async def end_now(self, aid: str) -> bool:
        return bool(await self._end_now(keys=[auction_key(aid), DUE], args=[aid]))

    async def offer_next(self, aid: str) -> dict[str, Any]:
        """Offer the lot to the runner-up once the current offer's order was cancelled."""
        raw = await self.raw(aid)
        key = auction_key(aid)
        oid = raw.get("order_id", "")
        code, to, amount, rank, status = await self._offer(
            keys=[key, f"{key}:bidders", f"{key}:lot", f"order:{oid}", DUE,
                  f"product:{raw.get('product_id', '')}", f"{key}:names"],
            args=[aid, oid])
        if code == "not_closed":
            raise RuleError("the auction has not closed with a winner", code="conflict")
        if code == "conflict":
            raise RuleError("the winner's order is still being made; try again",
                            code="conflict")
        if code == "waiting":
            raise RuleError(f"the current offer's order is {status}: it has not lapsed",
                            code="conflict")
        if code == "none":
            await self.bus.publish(raw["room_id"], {"type": "auction_ended",
                                                    "auction": public_view(await self.raw(aid))})
            raise RuleError("no other bidder to offer it to", code="not_found")
        await self.settle_due()
        view = await self.host_view(aid)
        assert view is not None
        return view

    # -- closing, on whichever node sees it due ------------------------------------------
    async def settle_due(self) -> None:
        for aid in map(str, await self.redis.zrangebyscore(DUE, "-inf", time.time(),
                                                           start=0, num=50)):
            key = auction_key(aid)
            pid = str(await self.redis.hget(key, "product_id") or "")
            code, to, _, rank = await self._close(
                keys=[key, f"{key}:lot", f"product:{pid}", DUE], args=[aid, LEASE_S])
            if code == "unsold":
                raw = await self.raw(aid)
                self.commerce.stock.mark_product(raw["room_id"], raw["product_id"])
                await self.bus.publish(raw["room_id"], {"type": "auction_ended",
                                                        "auction": public_view(raw)})
            elif code == "settle":
                await self._make_order(aid, str(to), int(rank))

    async def _make_order(self, aid: str, bidder: str, rank: int) -> None:
        raw = await self.raw(aid)
        buyer = (await account_ids(self.redis, [bidder]))[0]
        key = auction_key(aid)
        lot = await self.redis.hgetall(f"{key}:lot")
        source: Sellable = {"product_id": str(lot["product_id"]),
                            "host_id": str(lot["host_id"]), "title": str(lot["title"]),
                            "price": int(lot["price"]), "currency": str(lot["currency"]),
                            "per_buyer_limit": 1}
        order, _, _ = await self.commerce.store.buy(
            buyer_id=buyer, source=source, sale_id="", quantity=1,
            idem=f"auction-{aid}-{rank}", contact=Contact("", "", ""),
            room_id=raw["room_id"], confirm=False,
            reservation_ttl=float(raw.get("confirm_s", self.settings.confirm_s)),
            now=time.time(), source_key=f"{key}:lot",
            extra={"prize": "auction", "prize_id": aid})
        if not await self._settled(keys=[key, DUE], args=[aid, order["order_id"], rank]):
            return
        view = public_view(await self.raw(aid))
        log.info("auction settled", extra={"auction_id": aid, "rank": rank,
                                           "order_id": order["order_id"]})
        kind = "auction_ended" if rank == 0 else "auction_offered"
        await self.bus.publish(raw["room_id"], {"type": kind, "auction": view})
        await self.bus.publish(raw["room_id"], {"type": "auction_won", "to": buyer,
                                                "auction": view,
                                                "order": prize_view(self.commerce, order)})

    async def run(self, interval: float = 0.25) -> None:
        while True:
            try:
                await self.settle_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("auction tick failed", extra={"reason": repr(exc)})
                await asyncio.sleep(2)
            await asyncio.sleep(interval)

    async def close(self) -> None:
        await self.events.close()


"""Giveaways: a host draws N winners among the room's viewers who watched at least M
seconds (server/live/presence.py says who) or who wrote a keyword in chat while the
giveaway was open, each counted as the account it merged into. The draw is auditable: the
seed, the sorted candidate list (beyond ``max_candidates``, the seed's first that many:
``candidate_total`` says how many there were) and the winners are recorded in
``giveaway:{id}`` for the host to read, and ``draw`` (a pure function) gives the same
winners from the same candidates and seed. Each winner gets a
zero-price reserved order to confirm its address (auctions.accept_prize).

The prize is named by a product (its title and host); its stock is not moved, as a
giveaway's prizes are often outside the catalogue's stock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from server.audience.rules import folded
from server.commerce.prizes import account_ids
from server.commerce.records import Product, Sellable
from server.commerce.rules import Contact
from server.commerce.service import Commerce
from server.commerce.views import order_view
from server.platform.config import GiveawaysConfig
from server.platform.errors import RuleError
from server.platform.text import id_field, int_field, text_field

log = logging.getLogger("stallcast.giveaways")

MODES = ("watch", "keyword")
KEYWORD_CACHE_S = 1.0


def draw(candidates: Iterable[str], seed: str, winners: int) -> list[str]:
    """The winners of a draw: candidates ranked by HMAC-SHA256(seed, candidate), the
    lowest first. Anyone holding the recorded seed and list can check the result; nobody
    can pick a seed for a wanted winner without the seed being recorded first."""
    key = seed.encode()
    ranked = sorted(set(candidates),
                    key=lambda c: hmac.new(key, c.encode(), hashlib.sha256).digest())
    return ranked[:max(0, winners)]


@dataclass(frozen=True)
class GiveawayInput:
    product_id: str
    winners: int
    mode: str
    min_watch_s: int
    keyword: str


def giveaway_input(body: dict[str, Any], settings: GiveawaysConfig) -> GiveawayInput:
    pid = id_field(body, "product_id")
    mode = body.get("mode", "watch")
    if mode not in MODES:
        raise RuleError("mode must be watch or keyword")
    keyword = folded(text_field(body, "keyword", 40)) if mode == "keyword" else ""
    if mode == "keyword" and not keyword:
        raise RuleError("keyword must have letters or digits")
    return GiveawayInput(
        product_id=pid, winners=int_field(body, "winners", 1, settings.max_winners),
        mode=mode, keyword=keyword,
        min_watch_s=int_field(body, "min_watch_s", 0, 86400, default=60))


def giveaway_key(gid: str) -> str:
    return f"giveaway:{gid}"


def room_keyword(room_id: str) -> str:
    return f"room:{room_id}:giveaway_keyword"


# Record the draw once, with the prize the orders are made from.
# KEYS: giveaway hash, prize hash, room keyword key.  ARGV: seed, candidates JSON,
# winners JSON, now, winner count, giveaway id, candidates before the cap.
# Returns 1 the first time.
DRAWN = """
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'drawn', 'seed', ARGV[1], 'candidates', ARGV[2],
           'winner_ids', ARGV[3], 'drawn_at', ARGV[4], 'candidate_total', ARGV[7])
redis.call('HSET', KEYS[2], 'stock', ARGV[5], 'price', 0)
if redis.call('GET', KEYS[3]) == ARGV[6] then redis.call('DEL', KEYS[3]) end
return 1
"""

# Enter a keyword commenter, up to the cap. KEYS: entrants set.  ARGV: viewer, cap.
ENTER = """
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
return redis.call('SADD', KEYS[1], ARGV[1])
"""


class Giveaways:
    def __init__(self, commerce: Commerce, settings: GiveawaysConfig,
                 names: Callable[[str], Awaitable[str]]) -> None:
        self.commerce = commerce
        self.redis = commerce.store.redis
        self.settings = settings
        self.names = names
        self._drawn = self.redis.register_script(DRAWN)
        self._enter = self.redis.register_script(ENTER)
        self._keywords: dict[str, tuple[float, str, str]] = {}  # room -> (read at, gid, kw)

    async def create(self, room_id: str, product: Product, body: dict[str, Any]) -> dict[str, Any]:
        data = giveaway_input(body, self.settings)
        if data.product_id != product["product_id"]:
            raise RuleError("product_id does not match")
        gid = "g_" + secrets.token_hex(6)
        key = giveaway_key(gid)
        keep = self.settings.keep_days * 86400
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={
                "giveaway_id": gid, "room_id": room_id, "host_id": product["host_id"],
                "product_id": product["product_id"], "title": product["title"],
                "currency": product["currency"], "winners": data.winners, "mode": data.mode,
                "min_watch_s": data.min_watch_s, "keyword": data.keyword, "status": "open",
                "created_at": time.time()})
            pipe.hset(f"{key}:prize", mapping={
                "product_id": product["product_id"], "host_id": product["host_id"],
                "title": product["title"], "currency": product["currency"], "price": 0,
                "stock": 0, "per_buyer_limit": 1, "shipping_fee": 0, "status": "active"})
            pipe.zadd(f"room:{room_id}:giveaways", {gid: time.time()})
            pipe.zremrangebyrank(f"room:{room_id}:giveaways", 0, -201)
            for suffix in ("", ":prize", ":entrants"):
                pipe.expire(key + suffix, keep)
            pipe.expire(f"room:{room_id}:giveaways", keep)
            if data.mode == "keyword":
                pipe.set(room_keyword(room_id), f"{gid} {data.keyword}", ex=keep)
            await pipe.execute()
        self._keywords.pop(room_id, None)
        record = await self.record(gid)
        assert record is not None
        await self.commerce.bus.publish(room_id, {"type": "giveaway_started",
                                                  "giveaway": public_view(record)})
        return record

    async def record(self, gid: str) -> dict[str, Any] | None:
        """The whole record, for the host: seed, sorted candidates, winners, orders."""
        if len(gid) > 64:
            return None
        raw = {str(k): str(v) for k, v in (await self.redis.hgetall(giveaway_key(gid))).items()}
        if not raw:
            return None
        out: dict[str, Any] = dict(raw)
        for name in ("winners", "min_watch_s", "candidate_total"):
            if name in raw:
                out[name] = int(raw[name])
        for name in ("candidates", "winner_ids", "winner_names", "order_ids"):
            out[name] = json.loads(raw[name]) if name in raw else []
        out["entrants"] = int(await self.redis.scard(f"{giveaway_key(gid)}:entrants"))
        return out

    async def of_room(self, room_id: str) -> list[str]:
        return [str(g) for g in await self.redis.zrevrange(f"room:{room_id}:giveaways", 0, 49)]

    async def note_chat(self, room_id: str, event: dict[str, Any]) -> None:
        """A bus observer: a chat message with the open keyword enters its writer."""
        if event.get("type") != "chat":
            return
        message = event.get("message") or {}
        viewer = message.get("viewer_id")
        if not viewer:
            return
        cached = self._keywords.get(room_id)
        if cached is None or time.monotonic() - cached[0] > KEYWORD_CACHE_S:
            try:
                stored = str(await self.redis.get(room_keyword(room_id)) or "")
            except Exception:
                return  # Redis away: the chat itself was refused or went out already
            gid, _, keyword = stored.partition(" ")
            cached = self._keywords[room_id] = (time.monotonic(), gid, keyword)
            if len(self._keywords) > 5000:
                self._keywords = {room_id: cached}
        _, gid, keyword = cached
        if keyword and keyword in folded(str(message.get("text", ""))):
            try:  # the message is out already: a failed entry must not fail the chat
                await self._enter(keys=[f"{giveaway_key(gid)}:entrants"],
                                  args=[viewer, self.settings.max_candidates])
            except Exception as exc:
                log.warning("giveaway entry not noted", extra={"giveaway_id": gid,
                                                               "reason": repr(exc)})

    async def draw(self, gid: str, watchers: list[str]) -> dict[str, Any]:
        """Draw the winners: among ``watchers`` (viewers who watched long enough, for a
        watch giveaway) or the keyword's entrants, each counted as the account it merged
        into. Each winner gets a zero-price order. A draw recorded but cut short before
        its orders (a node died) is finished by the next request: the same winners, the
        same orders (their idempotency key is the giveaway's)."""
        record = await self.record(gid)
        if record is None:
            raise RuleError("no such giveaway", code="not_found")
        if record["status"] == "drawn" and len(record["order_ids"]) < len(record["winner_ids"]):
            return await self._award(record)
        if record["status"] != "open":
            raise RuleError("this giveaway has been drawn", code="conflict")
        key = giveaway_key(gid)
        if record["mode"] == "keyword":  # capped in entry order by ENTER
            watchers = [str(v) for v in await self.redis.smembers(f"{key}:entrants")]
        everyone = sorted(set(await account_ids(self.redis, sorted(set(watchers)))))
        seed = secrets.token_hex(32)
        # The cap keeps the seed's first max_candidates: the same winners as the whole
        # list would give, and no id is dropped for where it sorts.
        candidates = sorted(draw(everyone, seed, self.settings.max_candidates))
        winners = draw(candidates, seed, record["winners"])
        if not await self._drawn(keys=[key, f"{key}:prize", room_keyword(record["room_id"])],
                                 args=[seed, json.dumps(candidates), json.dumps(winners),
                                       time.time(), len(winners), gid, len(everyone)]):
            raise RuleError("this giveaway has been drawn", code="conflict")
        log.info("giveaway drawn", extra={"giveaway_id": gid, "candidates": len(candidates),
                                          "winners": len(winners)})
        drawn = await self.record(gid)
        assert drawn is not None
        return await self._award(drawn)

    async def _award(self, record: dict[str, Any]) -> dict[str, Any]:
        """Make each recorded winner's order (again, idempotently) and tell the room."""
        gid, room_id = record["giveaway_id"], record["room_id"]
        key = giveaway_key(gid)
        source: Sellable = {"product_id": record["product_id"], "host_id": record["host_id"],
                            "title": record["title"], "price": 0,
                            "currency": record["currency"], "per_buyer_limit": 1}
        winners = await account_ids(self.redis, record["winner_ids"])
        names, order_ids, orders = [], [], []
        for winner in winners:
            order, _, _ = await self.commerce.store.buy(
                buyer_id=winner, source=source, sale_id="", quantity=1,
                idem=f"giveaway-{gid}", contact=Contact("", "", ""),
                room_id=room_id, confirm=False,
                reservation_ttl=float(self.settings.keep_days * 86400), now=time.time(),
                source_key=f"{key}:prize", extra={"prize": "giveaway", "prize_id": gid})
            names.append(await self.names(winner) or f"Viewer {winner[-4:]}")
            order_ids.append(order["order_id"])
            orders.append(order)
        await self.redis.hset(key, mapping={"winner_names": json.dumps(names),
                                            "order_ids": json.dumps(order_ids)})
        drawn = await self.record(gid)
        assert drawn is not None
        await self.commerce.bus.publish(room_id, {"type": "giveaway_drawn",
                                                  "giveaway": public_view(drawn)})
        for winner, order in zip(winners, orders, strict=True):
            await self.commerce.bus.publish(room_id, {"type": "giveaway_won", "to": winner,
                                                      "giveaway": public_view(drawn),
                                                      "order": order_view(order)})
        return drawn

def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """What viewers see: the prize, the rule and the winners' nicknames (no ids)."""
    return {k: record[k] for k in ("giveaway_id", "title", "winners", "mode", "min_watch_s",
                                   "keyword", "status", "winner_names") if k in record}

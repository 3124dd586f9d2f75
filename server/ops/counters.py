"""Commerce and audience counters per live session, kept in Redis so every node adds to the
same figures, and mirrored into this node's Prometheus counters."""

from __future__ import annotations

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter

# Add to the room's current session, if it has one, in one round trip.
# KEYS: none known in advance.  ARGV: room id, buyer id ("" for none), then field/amount pairs
ADD = """
local sid = redis.call('GET', 'room:' .. ARGV[1] .. ':session')
if not sid then return 0 end
for i = 3, #ARGV, 2 do
  redis.call('HINCRBYFLOAT', 'stats:' .. sid, ARGV[i], ARGV[i + 1])
end
if ARGV[2] ~= '' then redis.call('SADD', 'stats:' .. sid .. ':buyers', ARGV[2]) end
return 1
"""

FIELDS = ("card_pins", "card_clicks", "buys", "orders", "gmv", "chat_messages", "likes")


class SessionCounters:
    def __init__(self, redis: aioredis.Redis, registry: CollectorRegistry) -> None:
        self.redis = redis
        self._add = redis.register_script(ADD)
        self.prom = {
            "card_pins": Counter("stallcast_card_pins", "Product cards pinned",
                                 registry=registry),
            "card_clicks": Counter("stallcast_card_clicks", "Product card clicks by viewers",
                                   registry=registry),
            "buys": Counter("stallcast_buys", "Buy attempts", registry=registry),
            "orders": Counter("stallcast_orders", "Orders created", registry=registry),
            "chat_messages": Counter("stallcast_chat_messages", "Chat messages sent",
                                     registry=registry),
            "likes": Counter("stallcast_likes", "Likes sent", registry=registry),
        }
        self.gmv = Counter("stallcast_gmv_minor_units", "Value of orders created, in minor "
                           "units of their currency", ["currency"], registry=registry)

    async def add(self, room_id: str, field: str, amount: float = 1) -> None:
        await self.add_many(room_id, {field: amount})

    def note_buy(self, created: bool, gmv: float, currency: str) -> None:
        """This node's figures for a buy attempt. Its session's figures (``buys``,
        ``orders``, ``gmv`` and the buyers set of ``stats:{sid}``) were written by the buy
        script itself (server/commerce/buying.py ROOM_BUY), in the same round trip."""
        self.prom["buys"].inc()
        if created:
            self.prom["orders"].inc()
            self.gmv.labels(currency=currency or "XXX").inc(gmv)

    async def add_many(self, room_id: str, values: dict[str, float], buyer: str = "",
                       currency: str = "") -> None:
        """Add to several of the session's counters at once (a buy: buys, orders, GMV)."""
        flat: list[str | float] = [x for kv in values.items() for x in kv]
        await self._add(keys=[], args=[room_id, buyer, *flat])
        # After Redis took them: a call that failed (and is tried again) counts once.
        for field, amount in values.items():
            if field == "gmv":
                self.gmv.labels(currency=currency or "XXX").inc(amount)
            else:
                self.prom[field].inc(amount)

    async def add_to_session(self, sid: str, values: dict[str, float]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, value in values.items():
                if value:
                    pipe.hincrbyfloat(f"stats:{sid}", key, value)
            await pipe.execute()

    async def of_session(self, sid: str) -> dict[str, float]:
        raw = await self.redis.hgetall(f"stats:{sid}")
        out = {k: 0.0 for k in (*FIELDS, "joins", "watch_seconds")}
        out.update({str(k): float(v) for k, v in raw.items()})
        out["buyers"] = float(await self.redis.scard(f"stats:{sid}:buyers"))
        return out

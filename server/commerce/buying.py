"""A viewer's buy in a live room, in one Redis round trip.

Thousands of viewers tap Buy in the same second, so a buy attempt is one script
(``ROOM_BUY``) that checks the room, the sale or product, the contact, the idempotency key,
the window, the stock and the limits, writes the order, the session counters and the
buyer's contact, publishes the ``order_status`` event to the buyer, and returns the order.
What follows in Python costs no round trip: the stock figure is handed to the coalescer
(stock.py) and Prometheus counters are local. Once a node knows a sale or product is sold
out, or that a buyer has spent its limit on it, it refuses their further attempts itself
for ``SOLD_OUT_TTL_S`` (never a "yes").
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Protocol

import redis.asyncio as aioredis

from server.audience.signin import merged_key
from server.commerce.records import Order, decode_order
from server.commerce.rules import BuyInput, Contact, contact_input, person_keys
from server.commerce.store import RESERVATIONS, BuyRefused
from server.commerce.views import ORDER_FIELDS, PROMISE_FIELDS, order_view
from server.platform.errors import RuleError
from server.platform.events import EventBus, channel
from server.platform.pipelining import BatchedScript

# The order fields a buyer's view holds that are numbers (records.Order).
NUMERIC = ("quantity", "unit_price", "created_at", "expires_at", "shipping_fee", "total",
           "discount", "ship_by")
VIEW = (*ORDER_FIELDS, *PROMISE_FIELDS, "shipping_fee", "total")

# KEYS: 1 room hash, 2 source hash (sale:{id} or product:{id}), 3 idempotency key,
#       4 order hash, 5 buyer orders zset, 6 reservations zset, 7 room orders zset,
#       8 buyer's saved contact hash, 9 room products set, 10 room's live session id key
#       ("" to count nothing), 11 source buyers hash, 12 source contacts hash,
#       13 coupon hash and 14 its claims hash ("" and "" for a buy with no coupon),
#       15 the buyer's merged_into key
# ARGV: 1 now, 2 quantity, 3 buyer id, 4 order id, 5 room id, 6 status, 7 expires_at,
#       8 "1" contact given / "0" the saved one, 9-13 name, phone, address, phone key,
#       address key, 14 sale id ("" for a product), 15 event channel, 16 order kind,
#       then order fields as name/value pairs
# Returns {code, remaining, 1 if the buyer's limit is spent} for a refusal, {"ok",
# remaining, order as flat pairs, 1 if the buyer's limit is now spent} or {"duplicate", -1,
# the first order as flat pairs}.
# A claimed coupon (coupons.py) takes its discount off the goods (never below 0; a
# percentage rounds half up to the minor unit, computed in parts so no double loses a
# unit): the claim then holds the order's id, as do the buyer's phone and address keys
# (one use per person). A product's ship_by_hours (a sale's product's) sets the order's
# ship_by deadline, indexed for the overdue counts (delivery.py). A buyer id merged into
# an account (signin.py) buys nothing: another node may not have heard of the merge yet,
# and an order under the old id would miss the account.
ROOM_BUY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_room', -1} end
if redis.call('EXISTS', KEYS[15]) == 1 then return {'merged', -1} end
local src = KEYS[2]
local is_sale = ARGV[14] ~= ''
local f = redis.call('HMGET', src, 'status', 'room_id', 'product_id', 'parent_id', 'host_id',
  'variant_ids', 'starts_at', 'ends_at', 'per_buyer_limit', 'price', 'shipping_fee',
  'title', 'variant_label', 'currency', is_sale and 'remaining' or 'stock', 'ship_by_hours')
local status = f[1]
if not f[5] or status == 'deleted' then return {'not_found', -1} end
if is_sale then
  if f[2] ~= ARGV[5] then return {'not_found', -1} end
else
  local top = (f[4] and f[4] ~= '') and f[4] or f[3]
  if redis.call('SISMEMBER', KEYS[9], top) == 0 then return {'not_found', -1} end
end
local c = {ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13]}
if ARGV[8] == '0' then
  c = redis.call('HMGET', KEYS[8], 'name', 'phone', 'address', 'phone_key', 'address_key')
  if not c[1] or not c[2] or not c[3] or c[3] == '' or not c[4] or not c[5] then
    return {'contact_check', -1}
  end
end
local sid = false
if KEYS[10] ~= '' then sid = redis.call('GET', KEYS[10]) end
local function count(gmv)
  if not sid then return end
  local stats = 'stats:' .. sid
  redis.call('HINCRBYFLOAT', stats, 'buys', 1)
  if gmv then
    redis.call('HINCRBYFLOAT', stats, 'orders', 1)
    redis.call('HINCRBYFLOAT', stats, 'gmv', gmv)
    redis.call('SADD', stats .. ':buyers', ARGV[3])
  end
end
local existing = redis.call('GET', KEYS[3])
if existing then
  count(false)
  return {'duplicate', -1, redis.call('HGETALL', 'order:' .. existing)}
end
local function refuse(code, left, spent)
  count(false)
  return {code, left, spent and 1 or 0}
end
if status == 'ended' then return refuse('ended', -1) end
if status == 'archived' then return refuse('archived', -1) end
if (f[6] or '') ~= '' then return refuse('choose_variant', -1) end
local ship_hours = tonumber(f[16] or '0') or 0
if is_sale then
  local of_sale = redis.call('HMGET', 'product:' .. f[3], 'status', 'ship_by_hours')
  if of_sale[1] == 'archived' or of_sale[1] == 'deleted' then return refuse('archived', -1) end
  ship_hours = tonumber(of_sale[2] or '0') or 0
end
local now = tonumber(ARGV[1])
local qty = tonumber(ARGV[2])
local starts = tonumber(f[7] or '0')
local ends = tonumber(f[8] or '0')
if starts > 0 and now < starts then return refuse('not_started', -1) end
if ends > 0 and now >= ends then return refuse('ended', -1) end
local remaining = tonumber(f[15] or '0')
if remaining <= 0 then return refuse('sold_out', 0) end
if remaining < qty then return refuse('insufficient', remaining) end
local limit = tonumber(f[9] or '0')
local bought = tonumber(redis.call('HGET', KEYS[11], ARGV[3]) or '0')
if bought + qty > limit then return refuse('limit', remaining, bought >= limit) end
for i = 4, 5 do
  if c[i] ~= '' then
    local by_person = tonumber(redis.call('HGET', KEYS[12], c[i]) or '0')
    if by_person + qty > limit then return refuse('limit', remaining) end
  end
end
local unit = tonumber(f[10] or '0')
local discount, cid = 0, ''
if KEYS[13] ~= '' then
  local k = redis.call('HMGET', KEYS[13], 'status', 'room_id', 'expires_at', 'session_id',
    'kind', 'value', 'currency', 'min_order', 'coupon_id')
  if not k[1] or k[2] ~= ARGV[5] or (k[7] ~= '' and k[7] ~= f[14]) then
    return refuse('coupon_invalid', remaining)
  end
  if k[1] ~= 'active' or now >= tonumber(k[3]) or (k[4] ~= '' and
      redis.call('GET', 'room:' .. ARGV[5] .. ':session') ~= k[4]) then
    return refuse('coupon_ended', remaining)
  end
  local held = redis.call('HGET', KEYS[14], ARGV[3])
  if not held then return refuse('coupon_unclaimed', remaining) end
  if held ~= 'claimed' then return refuse('coupon_used', remaining) end
  for i = 4, 5 do
    if c[i] ~= '' and redis.call('HEXISTS', KEYS[13] .. ':people', c[i]) == 1 then
      return refuse('coupon_used', remaining)
    end
  end
  local goods = unit * qty
  if goods < tonumber(k[8]) then return refuse('coupon_minimum', remaining) end
  local v = tonumber(k[6])
  discount = v
  if k[5] == 'percent' then
    discount = math.floor(goods / 100) * v + math.floor((goods % 100) * v / 100 + 0.5)
  end
  if discount > goods then discount = goods end
  cid = k[9]
  redis.call('HSET', KEYS[14], ARGV[3], ARGV[4])
  redis.call('HINCRBY', KEYS[13], 'used', 1)
  for i = 4, 5 do
    if c[i] ~= '' then redis.call('HSET', KEYS[13] .. ':people', c[i], ARGV[4]) end
  end
end
remaining = redis.call('HINCRBY', src, is_sale and 'remaining' or 'stock', -qty)
redis.call('HINCRBY', KEYS[11], ARGV[3], qty)
for i = 4, 5 do
  if c[i] ~= '' then redis.call('HINCRBY', KEYS[12], c[i], qty) end
end
local fee = tonumber(f[11] or '0')
local title = f[12] or ''
if not is_sale and (f[13] or '') ~= '' then title = title .. ' (' .. f[13] .. ')' end
local fields = {}
for i = 17, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[4], 'status', ARGV[6], 'expires_at', ARGV[7],
           'host_id', f[5], 'product_id', f[3], 'product_title', title,
           'currency', f[14] or '', 'name', c[1], 'phone', c[2], 'address', c[3],
           'phone_key', c[4], 'address_key', c[5],
           'unit_price', string.format('%d', unit), 'shipping_fee', string.format('%d', fee),
           'total', string.format('%d', unit * qty + fee - discount), 'coupon_id', cid,
           'discount', string.format('%d', discount), unpack(fields))
if ship_hours > 0 then
  local due = now + ship_hours * 3600
  redis.call('HSET', KEYS[4], 'ship_by', string.format('%.3f', due))
  redis.call('ZADD', 'ship_by', due, ARGV[4])
  redis.call('ZADD', 'host:' .. f[5] .. ':ship_by', due, ARGV[4])
end
redis.call('SET', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[5], now, ARGV[4])
redis.call('ZADD', 'host:' .. f[5] .. ':orders', now, ARGV[4])
redis.call('ZADD', KEYS[7], now, ARGV[4])
if ARGV[6] == 'reserved' then redis.call('ZADD', KEYS[6], tonumber(ARGV[7]), ARGV[4]) end
if ARGV[8] == '1' then
  redis.call('HSET', KEYS[8], 'name', c[1], 'phone', c[2], 'address', c[3],
             'phone_key', c[4], 'address_key', c[5])
end
count(unit * qty)
local order = redis.call('HGETALL', KEYS[4])
local rec = {}
for i = 1, #order, 2 do rec[order[i]] = order[i + 1] end
local view = {kind = ARGV[16]}
for _, name in ipairs({VIEW_NAMES}) do
  if rec[name] then view[name] = rec[name] end
end
for _, name in ipairs({NUMERIC_NAMES}) do
  if view[name] then view[name] = tonumber(view[name]) end
end
redis.call('PUBLISH', ARGV[15], '0 ' .. cmsgpack.pack({type = 'order_status', to = ARGV[3],
  order = view, room_id = ARGV[5], ts = now}))
return {'ok', remaining, order, bought + qty >= limit and 1 or 0}
""".replace("VIEW_NAMES", ", ".join(f"'{k}'" for k in VIEW)).replace(
    "NUMERIC_NAMES", ", ".join(f"'{k}'" for k in NUMERIC))


def coupon_keys(coupon_id: str) -> tuple[str, str]:
    """ROOM_BUY's coupon keys (13, 14): the coupon and its claims, or none."""
    return (f"coupon:{coupon_id}", f"coupon:{coupon_id}:claims") if coupon_id else ("", "")


SOLD_OUT_TTL_S = 1.0  # how long this node refuses a sold-out source (or a spent limit)
KNOWN_KEYS = 10_000  # recent (buyer, idempotency key) pairs that got an order here


class Counting(Protocol):
    """What a buy needs of the session counters (server/ops/counters.py): the Redis side
    is written by ROOM_BUY, this node's Prometheus side by ``note_buy``; attempts refused
    by a sold-out flag are added (both sides) by ``add``, a tick later."""

    def note_buy(self, created: bool, gmv: float, currency: str) -> None: ...

    async def add(self, room_id: str, field: str, amount: float = 1) -> None: ...


class RoomBuys:
    """Places buys (``request`` + ``script`` is the whole Redis side of one) and keeps this
    node's sold-out flags."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.script = BatchedScript(redis, ROOM_BUY)  # buys in flight share pipelines
        # "sale:{id}" (sold out) or "sale:{id} {buyer}" (limit spent) -> (room, until,
        # the remaining stock last seen)
        self._flags: dict[str, tuple[str, float, int]] = {}
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._refused: dict[str, int] = {}  # room -> attempts refused here, not yet counted

    @staticmethod
    def request(*, room_id: str, buyer_id: str, order: BuyInput, confirm: bool,
                reservation_ttl: float, now: float,
                counters: bool) -> tuple[list[str], list[str | int | float]]:
        """The keys and arguments of ROOM_BUY for one attempt."""
        oid = "o_" + secrets.token_hex(8)
        is_sale = bool(order.sale_id)
        src = f"sale:{order.sale_id}" if is_sale else f"product:{order.product_id}"
        contact = order.contact or Contact("", "", "")
        phone_key, address_key = person_keys(contact) if order.contact else ("", "")
        fields: dict[str, str | int | float] = {
            "order_id": oid, "buyer_id": buyer_id, "room_id": room_id,
            "sale_id": order.sale_id, "quantity": order.quantity, "created_at": now,
            "idempotency_key": order.idem, "source": src,
            "source_field": "remaining" if is_sale else "stock", "tracking_number": ""}
        keys = [f"room:{room_id}", src, f"idem:{buyer_id}:{order.idem}", f"order:{oid}",
                f"buyer:{buyer_id}:orders", RESERVATIONS, f"room:{room_id}:orders",
                f"viewer:{buyer_id}:contact", f"room:{room_id}:products",
                f"room:{room_id}:session" if counters else "", f"{src}:buyers",
                f"{src}:contacts", *coupon_keys(order.coupon_id), merged_key(buyer_id)]
        args: list[str | int | float] = [
            repr(now), order.quantity, buyer_id, oid, room_id,
            "confirmed" if confirm else "reserved", repr(now + reservation_ttl),
            "1" if order.contact else "0", contact.name, contact.phone, contact.address,
            phone_key, address_key, order.sale_id, channel(room_id), "parcel",
            *(str(x) for kv in fields.items() for x in kv)]
        return keys, args

    def known_refusal(self, room_id: str, buyer_id: str, order: BuyInput) -> BuyRefused | None:
        """The refusal this node saw within SOLD_OUT_TTL_S for the source (sold out) or for
        this buyer of it (limit spent), unless this is a retry of an order made here: the
        attempt is answered without Redis."""
        if order.retry:
            return None
        src = f"sale:{order.sale_id}" if order.sale_id else f"product:{order.product_id}"
        now = time.monotonic()
        for key, code in ((src, "sold_out"), (f"{src} {buyer_id}", "limit")):
            flag = self._flags.get(key)
            if flag is None or flag[0] != room_id or flag[1] < now:
                continue
            if (buyer_id, order.idem) in self._known:
                return None
            self._refused[room_id] = self._refused.get(room_id, 0) + 1
            return BuyRefused(code, flag[2])
        return None

    async def place(self, *, room_id: str, buyer_id: str, order: BuyInput, confirm: bool,
                    reservation_ttl: float,
                    counters: Counting | None) -> tuple[Order, bool, int]:
        """One attempt: (order, created, remaining); a refusal raises BuyRefused."""
        if len(room_id) > 64:
            raise RuleError("no such room", code="not_found")
        if len(order.sale_id or order.product_id) > 64:
            raise BuyRefused("not_found", -1)
        known = self.known_refusal(room_id, buyer_id, order)
        if known is not None:
            raise known  # counted by the next flush
        keys, args = self.request(room_id=room_id, buyer_id=buyer_id, order=order,
                                  confirm=confirm, reservation_ttl=reservation_ttl,
                                  now=time.time(), counters=counters is not None)
        reply = await self.script(keys, args)
        code, remaining = str(reply[0]), int(reply[1])
        if code == "contact_check":
            return await self._with_saved_contact(keys[7], room_id, buyer_id, order, confirm,
                                                  reservation_ttl, counters)
        if code == "no_room":
            raise RuleError("no such room", code="not_found")
        if code == "merged":
            raise BuyRefused("merged", -1)
        if code in ("ok", "duplicate") and reply[2]:
            pairs = reply[2]
            record = decode_order({str(pairs[i]): pairs[i + 1]
                                   for i in range(0, len(pairs), 2)})
        elif code in ("ok", "duplicate"):
            raise BuyRefused("not_found", -1)
        created = code == "ok"
        if counters is not None and code != "not_found":
            counters.note_buy(created, record["unit_price"] * order.quantity if created else 0,
                              record["currency"] if created else "")
        if not created and code != "duplicate":
            if code == "sold_out":
                self._flag(keys[1], room_id, 0)
            elif code == "limit" and int(reply[2]):
                self._flag(f"{keys[1]} {buyer_id}", room_id, remaining)
            raise BuyRefused(code, remaining)
        self._remember(buyer_id, order.idem)
        if created and remaining == 0:
            self._flag(keys[1], room_id, 0)
        elif created and int(reply[3]):
            self._flag(f"{keys[1]} {buyer_id}", room_id, remaining)
        return record, created, remaining

    async def _with_saved_contact(self, contact_key: str, room_id: str, buyer_id: str,
                                  order: BuyInput, confirm: bool, reservation_ttl: float,
                                  counters: Counting | None) -> tuple[Order, bool, int]:
        """A saved contact the script could not use as it is (none, one from before person
        keys were saved with it, or one without an address): checked here like a new one."""
        raw = await self.redis.hgetall(contact_key)
        saved = {str(k): str(v) for k, v in raw.items() if k in ("name", "phone", "address")}
        given = replace(order, contact=contact_input(saved or None))
        return await self.place(room_id=room_id, buyer_id=buyer_id, order=given,
                                confirm=confirm, reservation_ttl=reservation_ttl,
                                counters=counters)

    def _flag(self, key: str, room_id: str, remaining: int) -> None:
        self._flags[key] = (room_id, time.monotonic() + SOLD_OUT_TTL_S, remaining)

    def _remember(self, buyer_id: str, idem: str) -> None:
        self._known[(buyer_id, idem)] = None
        self._known.move_to_end((buyer_id, idem))
        while len(self._known) > KNOWN_KEYS:
            self._known.popitem(last=False)

    async def flush(self, counters: Counting | None) -> None:
        """Add the attempts refused here to the rooms' session counters (a tick's work)."""
        refused, self._refused = self._refused, {}
        if counters is None:
            return
        while refused:
            room_id, n = refused.popitem()
            try:
                await counters.add(room_id, "buys", n)
            except BaseException:
                # Redis away (or shutting down): keep them for the next tick.
                for room, left in ((room_id, n), *refused.items()):
                    self._refused[room] = self._refused.get(room, 0) + left
                raise

    def drop_stale(self) -> None:
        """Forget flags that have run out."""
        now = time.monotonic()
        for key in [k for k, (_, until, _) in self._flags.items() if until < now]:
            del self._flags[key]


async def observed(bus: EventBus, order: Order) -> None:
    """Show the bus's observers the ``order_status`` event ROOM_BUY published itself."""
    if not bus.observers:
        return
    event = {"type": "order_status", "to": order["buyer_id"], "order": order_view(order),
             "room_id": order["room_id"], "ts": order["created_at"]}
    for observe in bus.observers:
        await observe(order["room_id"], event)

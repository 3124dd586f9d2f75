"""Lua scripts: each runs atomically inside Redis, so stock checks and writes cannot interleave,
on one node or many."""

from __future__ import annotations

from server.platform.events import announce

# Take stock for one order. The "source" is a flash sale hash (fields remaining, starts_at,
# ends_at, status) or a product hash (field stock). Idempotent per (buyer, key). The limit
# holds per identity and per person: the phone and address keys (rules.person_keys) count
# in the source's contacts hash, so a buyer with fresh identities gets nothing more.
# An archived product (or a sale of one) sells nothing; a product with variants is bought
# as one of them. The order's unit_price, shipping_fee and total are the source's at this
# moment (a sale copied its product's fee when it was made; a class has none).
# A buyer id merged into an account (signin.py) buys nothing, as in ROOM_BUY (buying.py):
# the server resolves a merged winner to the account before it makes a prize's order. The
# product's ship_by_hours sets the order's ship_by deadline and its indexes as ROOM_BUY
# does (delivery.py); a class, having no product hash, promises none.
# KEYS: source, source buyers hash, idempotency key, order hash, buyer orders zset,
#       host orders zset, reservations zset, room orders zset ("" for none),
#       source contacts hash, the sale's product hash ("" unless the source is a sale),
#       the buyer's merged_into key, the ship_by index, the host's ship_by index, the
#       product hash whose ship_by_hours applies
# ARGV: now, quantity, buyer_id, order_id, stock_field, limit, status, expires_at,
#       phone key, address key ("" for none), then order fields as name/value pairs
# Returns {code, order_id, remaining}
BUY = """
if redis.call('EXISTS', KEYS[11]) == 1 then return {'merged', '', -1} end
local existing = redis.call('GET', KEYS[3])
if existing then return {'duplicate', existing, -1} end
local src = KEYS[1]
if redis.call('EXISTS', src) == 0 then return {'not_found', '', -1} end
local now = tonumber(ARGV[1])
local qty = tonumber(ARGV[2])
local field = ARGV[5]
local status = redis.call('HGET', src, 'status')
if status == 'ended' or status == 'deleted' then return {'ended', '', -1} end
if status == 'archived' then return {'archived', '', -1} end
if (redis.call('HGET', src, 'variant_ids') or '') ~= '' then
  return {'choose_variant', '', -1}
end
if KEYS[10] ~= '' then
  local of_sale = redis.call('HGET', KEYS[10], 'status')
  if of_sale == 'archived' or of_sale == 'deleted' then return {'archived', '', -1} end
end
local starts = tonumber(redis.call('HGET', src, 'starts_at') or '0')
local ends = tonumber(redis.call('HGET', src, 'ends_at') or '0')
if starts > 0 and now < starts then return {'not_started', '', -1} end
if ends > 0 and now >= ends then return {'ended', '', -1} end
local remaining = tonumber(redis.call('HGET', src, field) or '0')
if remaining <= 0 then return {'sold_out', '', 0} end
if remaining < qty then return {'insufficient', '', remaining} end
local limit = tonumber(ARGV[6])
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
if bought + qty > limit then return {'limit', '', remaining} end
for i = 9, 10 do
  if ARGV[i] ~= '' then
    local by_person = tonumber(redis.call('HGET', KEYS[9], ARGV[i]) or '0')
    if by_person + qty > limit then return {'limit', '', remaining} end
  end
end
remaining = redis.call('HINCRBY', src, field, -qty)
redis.call('HINCRBY', KEYS[2], ARGV[3], qty)
for i = 9, 10 do
  if ARGV[i] ~= '' then redis.call('HINCRBY', KEYS[9], ARGV[i], qty) end
end
local fields = {}
for i = 11, #ARGV do fields[#fields + 1] = ARGV[i] end
local unit = tonumber(redis.call('HGET', src, 'price') or '0')
local fee = tonumber(redis.call('HGET', src, 'shipping_fee') or '0')
redis.call('HSET', KEYS[4], 'status', ARGV[7], 'expires_at', ARGV[8],
           'phone_key', ARGV[9], 'address_key', ARGV[10],
           'unit_price', string.format('%d', unit), 'shipping_fee', string.format('%d', fee),
           'total', string.format('%d', unit * qty + fee), unpack(fields))
local ship_hours = tonumber(redis.call('HGET', KEYS[14], 'ship_by_hours') or '0') or 0
if ship_hours > 0 then
  local due = now + ship_hours * 3600
  redis.call('HSET', KEYS[4], 'ship_by', string.format('%.3f', due))
  redis.call('ZADD', KEYS[12], due, ARGV[4])
  redis.call('ZADD', KEYS[13], due, ARGV[4])
end
redis.call('SET', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[5], now, ARGV[4])
redis.call('ZADD', KEYS[6], now, ARGV[4])
if KEYS[8] ~= '' then redis.call('ZADD', KEYS[8], now, ARGV[4]) end
if ARGV[7] == 'reserved' then redis.call('ZADD', KEYS[7], tonumber(ARGV[8]), ARGV[4]) end
return {'ok', ARGV[4], remaining}
"""

# One page of an order index, newest first, after the order ``ARGV[1]`` ("" = from the top).
# Rank and range are read together, so orders arriving meanwhile never shift a page.
# KEYS: orders zset.  ARGV: cursor order id, page size.  Returns ids, or false for a cursor
# that is not in the index.
ORDER_PAGE = """
local start = 0
if ARGV[1] ~= '' then
  local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
  if not rank then return false end
  start = rank + 1
end
return redis.call('ZREVRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1)
"""

# Cancel an order and put its stock back where it came from (the sale while it runs, the
# product once the sale has ended). Used for expired reservations and for cancellations.
# A coupon the order used is the buyer's claim again (an unpaid reservation that lapsed
# must not cost the buyer the coupon).
# KEYS: order hash, reservations zset
# ARGV: order_id, now, the statuses it may be cancelled from (space-separated, from the
#       state machine in rules.py), reason
# Returns {cancelled (0/1), stock key, remaining or -1, status before}
CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == false then return {0, '', -1, 'not_found'} end
local allowed = false
for from in string.gmatch(ARGV[3], '%S+') do
  if from == status then allowed = true end
end
if not allowed then
  if status ~= 'reserved' then redis.call('ZREM', KEYS[2], ARGV[1]) end
  return {0, '', -1, status}
end
redis.call('ZREM', KEYS[2], ARGV[1])
local qty = tonumber(redis.call('HGET', KEYS[1], 'quantity'))
local src = redis.call('HGET', KEYS[1], 'source')
local field = redis.call('HGET', KEYS[1], 'source_field')
local buyer = redis.call('HGET', KEYS[1], 'buyer_id')
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancel_reason', ARGV[4],
           'updated_at', ARGV[2])
local coupon = redis.call('HGET', KEYS[1], 'coupon_id')
if coupon and coupon ~= '' then
  -- The coupon goes back to its buyer, usable again while it is valid (coupons.py).
  local ckey = 'coupon:' .. coupon
  if redis.call('HGET', ckey .. ':claims', buyer) == ARGV[1] then
    redis.call('HSET', ckey .. ':claims', buyer, 'claimed')
    redis.call('HINCRBY', ckey, 'used', -1)
  end
  for _, person in ipairs({'phone_key', 'address_key'}) do
    local key = redis.call('HGET', KEYS[1], person)
    if key and key ~= '' and redis.call('HGET', ckey .. ':people', key) == ARGV[1] then
      redis.call('HDEL', ckey .. ':people', key)
    end
  end
end
redis.call('HINCRBY', src .. ':buyers', buyer, -qty)
for _, person in ipairs({'phone_key', 'address_key'}) do
  local key = redis.call('HGET', KEYS[1], person)
  if key and key ~= '' then redis.call('HINCRBY', src .. ':contacts', key, -qty) end
end
local target, tfield = src, field
if redis.call('HGET', src, 'status') == 'ended' then
  target = 'product:' .. redis.call('HGET', src, 'product_id')
  tfield = 'stock'
end
local remaining = -1
if redis.call('EXISTS', target) == 1 then
  remaining = redis.call('HINCRBY', target, tfield, qty)
end
return {1, target, remaining, status}
"""

# Move stock from a product (or one variant of it) into a new flash sale, which takes the
# product's shipping fee.
# KEYS: product hash, sale hash, room sales set, sale schedule zset
# ARGV: quantity, sale_id, starts_at, then sale fields as name/value pairs
CREATE_SALE = """
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock') or '-1')
local status = redis.call('HGET', KEYS[1], 'status')
if stock < 0 or status == 'deleted' then return {'not_found', -1} end
if status == 'archived' then return {'archived', stock} end
if (redis.call('HGET', KEYS[1], 'variant_ids') or '') ~= '' then
  return {'choose_variant', stock}
end
local qty = tonumber(ARGV[1])
local due = tonumber(ARGV[3])
-- Checked before any write: a script that fails halfway keeps what it wrote.
if qty == nil or qty < 1 or due == nil or due ~= due or due == math.huge then
  return {'invalid', stock}
end
if stock < qty then return {'insufficient', stock} end
redis.call('HINCRBY', KEYS[1], 'stock', -qty)
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], 'shipping_fee',
           redis.call('HGET', KEYS[1], 'shipping_fee') or '0', unpack(fields))
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], tonumber(ARGV[3]), ARGV[2])
return {'ok', stock - qty}
"""

# End a sale once: unsold stock returns to the product. Whoever ends it first wins.
# KEYS: sale hash, sale schedule zset;  ARGV: sale_id, now
# Returns {ended (0/1), returned quantity}
END_SALE = """
redis.call('ZREM', KEYS[2], ARGV[1])
local status = redis.call('HGET', KEYS[1], 'status')
if status == false or status == 'ended' then return {0, 0} end
local left = tonumber(redis.call('HGET', KEYS[1], 'remaining') or '0')
redis.call('HSET', KEYS[1], 'status', 'ended', 'remaining', 0, 'ended_at', ARGV[2])
local product = 'product:' .. redis.call('HGET', KEYS[1], 'product_id')
if left > 0 and redis.call('EXISTS', product) == 1 then
  redis.call('HINCRBY', product, 'stock', left)
end
return {1, left}
"""


# Change an order's status if the move is allowed by the caller's check (done in Python
# first) and the order is still in the status the caller saw.
# KEYS: order hash;  ARGV: expected status, new status, now, then extra fields
TRANSITION = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == false then return 'not_found' end
if status ~= ARGV[1] then return status end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated_at', ARGV[3], unpack(fields))
if ARGV[2] ~= 'reserved' then redis.call('ZREM', 'reservations', KEYS[1]:sub(7)) end
return 'ok'
"""

# Edit a product: write only the fields named, and only while it is the host's and not
# deleted. A stock change may be conditional on the stock the editor saw, so an edit that
# was slow to arrive cannot put back units that were sold meanwhile. The fields a product
# shares with its variants (all an edit of one with variants may name) are written to
# them too, in the same step.
# KEYS: product hash, then its variants' hashes
# ARGV: host_id, expected stock ("" = unconditional), then field pairs
# Returns {code ("ok", "not_found", "forbidden", "stock_moved"), current stock}
UPDATE_PRODUCT = """
local owner = redis.call('HGET', KEYS[1], 'host_id')
if owner == false or redis.call('HGET', KEYS[1], 'status') == 'deleted' then
  return {'not_found', -1}
end
if owner ~= ARGV[1] then return {'forbidden', -1} end
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock'))
if ARGV[2] ~= '' and stock ~= tonumber(ARGV[2]) then return {'stock_moved', stock} end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local now = redis.call('TIME')[1]
for i = 1, #KEYS do
  local st = redis.call('HGET', KEYS[i], 'status')
  if st and st ~= 'deleted' then redis.call('HSET', KEYS[i], 'updated_at', now, unpack(fields)) end
end
return {'ok', tonumber(redis.call('HGET', KEYS[1], 'stock'))}
"""

# Pin (ARGV[1] a product id) or unpin (ARGV[1] "") the room's card and announce it, all in
# one call: with appendfsync always each write call is an fsync before the viewers hear of
# it (SADD, MULTI, then the publish were three). Each pin starts a fresh set of clickers.
# The announcement is server/platform/events.py's, with the room's next seq.
# KEYS: room products set, room pinned, room clickers, room seq
# ARGV: product id or "", channel, payload
PIN = """
if ARGV[1] ~= '' then
  redis.call('SADD', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[1])
else
  redis.call('DEL', KEYS[2])
end
redis.call('DEL', KEYS[3])
""" + announce("KEYS[4]", "ARGV[2]", "ARGV[3]")

# Count a card click once per viewer per pin, and only for the card pinned now.
# KEYS: room pinned product, room clickers set;  ARGV: product id, clicker, ttl seconds
# Returns 1 when counted.
CARD_CLICK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# Count a new upload against its host's cap, and record who owns it.
# KEYS: host images set, image hash;  ARGV: image id, host id, cap, now.  Returns 1 if kept.
RESERVE_IMAGE = """
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'host_id', ARGV[2], 'created_at', ARGV[4], 'status', 'pending')
return 1
"""

# Create products: one, or one with its variants, all at once or none.
# KEYS: host products set, then each product hash (the parent first)
# ARGV: for each product in turn: its id, the number of values that follow, name/value
#       pairs
CREATE_PRODUCTS = """
local at = 1
for k = 2, #KEYS do
  local n = tonumber(ARGV[at + 1])
  local fields = {}
  for j = at + 2, at + 1 + n do fields[#fields + 1] = ARGV[j] end
  redis.call('HSET', KEYS[k], unpack(fields))
  redis.call('SADD', KEYS[1], ARGV[at])
  at = at + 2 + n
end
return #KEYS - 1
"""

# Archive, restore or delete a product and its variants together, if it is the host's and
# the move is allowed (moving to the status it has is a no-op). Deleted ones leave the
# host's list.
# KEYS: product hash, host products set, then its variants' hashes
# ARGV: host_id, new status, statuses it may move from (space-separated), now
# Returns "ok", "not_found", "forbidden" or the status it is in (a refused move)
SET_STATUS = """
local owner = redis.call('HGET', KEYS[1], 'host_id')
local status = redis.call('HGET', KEYS[1], 'status')
if owner == false or status == 'deleted' then return 'not_found' end
if owner ~= ARGV[1] then return 'forbidden' end
if status == ARGV[2] then return 'ok' end
local allowed = false
for from in string.gmatch(ARGV[3], '%S+') do
  if from == status then allowed = true end
end
if not allowed then return status end
for i = 1, #KEYS do
  if i ~= 2 then
    local st = redis.call('HGET', KEYS[i], 'status')
    if st and st ~= 'deleted' then
      redis.call('HSET', KEYS[i], 'status', ARGV[2], 'updated_at', ARGV[4])
      if ARGV[2] == 'deleted' then
        redis.call('SREM', KEYS[2], redis.call('HGET', KEYS[i], 'product_id'))
      end
    end
  end
end
return 'ok'
"""

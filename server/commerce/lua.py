"""Lua scripts: each runs atomically inside Redis, so stock checks and writes cannot interleave,
on one node or many."""

from __future__ import annotations

# Take stock for one order. The "source" is a flash sale hash (fields remaining, starts_at,
# ends_at, status) or a product hash (field stock). Idempotent per (buyer, key).
# KEYS: source, source buyers hash, idempotency key, order hash, buyer orders zset,
#       host orders zset, reservations zset, room orders zset ("" for none)
# ARGV: now, quantity, buyer_id, order_id, stock_field, limit, status, expires_at,
#       then order fields as name/value pairs
# Returns {code, order_id, remaining}
BUY = """
local existing = redis.call('GET', KEYS[3])
if existing then return {'duplicate', existing, -1} end
local src = KEYS[1]
if redis.call('EXISTS', src) == 0 then return {'not_found', '', -1} end
local now = tonumber(ARGV[1])
local qty = tonumber(ARGV[2])
local field = ARGV[5]
local status = redis.call('HGET', src, 'status')
if status == 'ended' or status == 'deleted' then return {'ended', '', -1} end
local starts = tonumber(redis.call('HGET', src, 'starts_at') or '0')
local ends = tonumber(redis.call('HGET', src, 'ends_at') or '0')
if starts > 0 and now < starts then return {'not_started', '', -1} end
if ends > 0 and now >= ends then return {'ended', '', -1} end
local remaining = tonumber(redis.call('HGET', src, field) or '0')
if remaining <= 0 then return {'sold_out', '', 0} end
if remaining < qty then return {'insufficient', '', remaining} end
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
if bought + qty > tonumber(ARGV[6]) then return {'limit', '', remaining} end
remaining = redis.call('HINCRBY', src, field, -qty)
redis.call('HINCRBY', KEYS[2], ARGV[3], qty)
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[4], 'status', ARGV[7], 'expires_at', ARGV[8], unpack(fields))
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
# KEYS: order hash, reservations zset
# ARGV: order_id, now, "reserved" (only reservations) or "any" (reserved or confirmed), reason
# Returns {cancelled (0/1), stock key, remaining or -1, status before}
CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == false then return {0, '', -1, 'not_found'} end
if status ~= 'reserved' and not (ARGV[3] == 'any' and status == 'confirmed') then
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
redis.call('HINCRBY', src .. ':buyers', buyer, -qty)
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

# Move stock from a product into a new flash sale.
# KEYS: product hash, sale hash, room sales set, sale schedule zset
# ARGV: quantity, sale_id, starts_at, then sale fields as name/value pairs
CREATE_SALE = """
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock') or '-1')
if stock < 0 then return {'not_found', -1} end
local qty = tonumber(ARGV[1])
if stock < qty then return {'insufficient', stock} end
redis.call('HINCRBY', KEYS[1], 'stock', -qty)
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
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

# Atomically give a room event the next sequence number and publish it.
# KEYS: room sequence counter;  ARGV: channel, msgpack payload (without seq)
PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], seq .. ' ' .. ARGV[2])
return seq
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

"""The auction's Lua scripts. Each runs atomically inside Redis and reads the time from
Redis (TIME), so every node agrees on when an auction ends and no bid can slip in after
the close, whatever the nodes' clocks say.

Keys (docs/redis-keys.md): ``auction:{id}`` (the auction), ``auction:{id}:bidders`` (zset
bidder -> their highest bid), ``auction:{id}:names`` (bidder -> nickname at the bid),
``auction:{id}:log`` (accepted bids, oldest first), ``auction:{id}:lot`` (what the order is
made from: a Sellable with stock 0 or 1 and the price being offered), ``room:{id}:auction``
(the room's latest auction) and ``auctions:due`` (zset id -> when a node must look at it).
"""

from __future__ import annotations

NOW = "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

# Start an auction of one unit of a product: the unit leaves the product's stock for the
# lot (it goes back if nobody wins). Only one auction runs in a room at a time.
# KEYS: product hash, auction hash, lot hash, room's auction, due zset
# ARGV: auction id, duration s, most extension s, then auction fields as pairs
# Returns {code, started_at, ends_at}
START = NOW + """
local current = redis.call('GET', KEYS[4])
if current and redis.call('HGET', 'auction:' .. current, 'status') == 'running' then
  return {'busy', '', ''}
end
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock') or '-1')
local status = redis.call('HGET', KEYS[1], 'status')
if stock < 0 or status == 'deleted' then return {'not_found', '', ''} end
if status == 'archived' then return {'archived', '', ''} end
if (redis.call('HGET', KEYS[1], 'variant_ids') or '') ~= '' then
  return {'choose_variant', '', ''}
end
if stock < 1 then return {'sold_out', '', ''} end
redis.call('HINCRBY', KEYS[1], 'stock', -1)
local ends = now + tonumber(ARGV[2])
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local started_s, ends_s = string.format('%.3f', now), string.format('%.3f', ends)
redis.call('HSET', KEYS[2], 'started_at', started_s, 'ends_at', ends_s,
           'max_ends_at', string.format('%.3f', ends + tonumber(ARGV[3])),
           'status', 'running', 'bid_count', 0, 'top_amount', 0, 'top_bidder', '',
           'top_name', '', 'extensions', 0, 'offer_rank', -1, 'offered_to', '',
           'offered_name', '', 'offered_amount', 0, 'order_id', '', unpack(fields))
redis.call('HSET', KEYS[3], 'product_id', redis.call('HGET', KEYS[1], 'product_id'),
           'host_id', redis.call('HGET', KEYS[1], 'host_id'),
           'title', redis.call('HGET', KEYS[1], 'title'),
           'currency', redis.call('HGET', KEYS[1], 'currency'),
           'shipping_fee', redis.call('HGET', KEYS[1], 'shipping_fee') or '0',
           'price', 0, 'stock', 0, 'per_buyer_limit', 1, 'status', 'active')
redis.call('SET', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[5], ends, ARGV[1])
return {'ok', started_s, ends_s}
"""

# One bid. The first must reach the starting price, every later one must beat the highest
# by the increment; the highest bidder cannot outbid itself (it would only raise its own
# price). A bid in the last ``extend_s`` seconds moves the end to ``extend_s`` after the
# bid (never past max_ends_at), so a sniper always leaves the others time to answer.
# A bidder id merged into an account since (signed in elsewhere) is refused, "merged": its
# bid would be held by an id nobody answers for any more.
# KEYS: auction hash, bidders zset, bid log, bidder names hash, the bidder's merged_into
# ARGV: bidder id, amount, nickname, most bids, the room the bid was made in
# Returns {code, amount or the least valid amount, ends_at, extended 0/1, bid count}
BID = NOW + """
local a = KEYS[1]
local status = redis.call('HGET', a, 'status')
if not status or redis.call('HGET', a, 'room_id') ~= ARGV[5] then
  return {'not_found', 0, '', 0, 0}
end
if redis.call('EXISTS', KEYS[5]) == 1 then return {'merged', 0, '', 0, 0} end
local ends = tonumber(redis.call('HGET', a, 'ends_at'))
local count = tonumber(redis.call('HGET', a, 'bid_count'))
if status ~= 'running' or now >= ends then return {'ended', 0, '', 0, count} end
if count >= tonumber(ARGV[4]) then return {'bid_cap', 0, '', 0, count} end
local amount = tonumber(ARGV[2])
local top = tonumber(redis.call('HGET', a, 'top_amount'))
local need = tonumber(redis.call('HGET', a, 'start_price'))
if count > 0 then
  need = top + tonumber(redis.call('HGET', a, 'increment'))
  if redis.call('HGET', a, 'top_bidder') == ARGV[1] then
    return {'already_highest', top, string.format('%.3f', ends), 0, count}
  end
end
if amount < need then return {'too_low', need, string.format('%.3f', ends), 0, count} end
local extended = 0
local extend = tonumber(redis.call('HGET', a, 'extend_s'))
if extend > 0 and ends - now < extend then
  local later = math.min(now + extend, tonumber(redis.call('HGET', a, 'max_ends_at')))
  if later > ends then
    ends = later
    extended = 1
    redis.call('HSET', a, 'ends_at', string.format('%.3f', ends))
    redis.call('HINCRBY', a, 'extensions', 1)
  end
end
count = count + 1
redis.call('HSET', a, 'top_amount', amount, 'top_bidder', ARGV[1], 'top_name', ARGV[3],
           'bid_count', count)
redis.call('ZADD', KEYS[2], 'GT', amount, ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
redis.call('RPUSH', KEYS[3], table.concat({count, amount, ARGV[1],
           string.format('%.3f', now), string.format('%.3f', ends), extended}, ' '))
return {'ok', amount, string.format('%.3f', ends), extended, count}
"""

# Look at an auction that is due: close it once its end has come (the first node to run
# this closes it; the others find it closed), then hand out the lot to the bidder it is
# offered to. While an offer waits for its order the entry is leased for ``lease`` seconds,
# so one node makes the order and a node that died meanwhile is replaced.
# KEYS: auction hash, lot hash, product hash, due zset
# ARGV: auction id, lease s
# Returns {code, offered to, amount, rank}: later, unsold, settle, done, gone
CLOSE = NOW + """
local a = KEYS[1]
local status = redis.call('HGET', a, 'status')
if not status then
  redis.call('ZREM', KEYS[4], ARGV[1])
  return {'gone', '', 0, 0}
end
if status == 'running' then
  local ends = tonumber(redis.call('HGET', a, 'ends_at'))
  if now < ends then
    redis.call('ZADD', KEYS[4], ends, ARGV[1])
    return {'later', '', 0, 0}
  end
  redis.call('HSET', a, 'closed_at', string.format('%.3f', now))
  if tonumber(redis.call('HGET', a, 'bid_count')) == 0 then
    redis.call('HSET', a, 'status', 'unsold')
    if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HINCRBY', KEYS[3], 'stock', 1) end
    redis.call('ZREM', KEYS[4], ARGV[1])
    return {'unsold', '', 0, 0}
  end
  local top = redis.call('HGET', a, 'top_amount')
  redis.call('HSET', a, 'status', 'closed', 'offer_rank', 0,
             'offered_to', redis.call('HGET', a, 'top_bidder'),
             'offered_name', redis.call('HGET', a, 'top_name'), 'offered_amount', top,
             'winner_name', redis.call('HGET', a, 'top_name'), 'winner_amount', top)
  redis.call('HSET', KEYS[2], 'price', top, 'stock', 1)
end
if redis.call('HGET', a, 'status') == 'closed' and redis.call('HGET', a, 'order_id') == ''
   and redis.call('HGET', a, 'offered_to') ~= '' then
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]), ARGV[1])
  return {'settle', redis.call('HGET', a, 'offered_to'),
          tonumber(redis.call('HGET', a, 'offered_amount')),
          tonumber(redis.call('HGET', a, 'offer_rank'))}
end
redis.call('ZREM', KEYS[4], ARGV[1])
return {'done', '', 0, 0}
"""

# Record the order made for an offer, once (a node that made the same order again, by
# its idempotency key, finds it recorded). KEYS: auction hash, due zset
# ARGV: auction id, order id, offer rank.  Returns 1 the first time.
SETTLED = """
if tonumber(redis.call('HGET', KEYS[1], 'offer_rank')) ~= tonumber(ARGV[3])
   or redis.call('HGET', KEYS[1], 'order_id') ~= '' then
  return 0
end
redis.call('HSET', KEYS[1], 'order_id', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

# Offer the lot to the next highest distinct bidder, once the current offer's order was
# cancelled (its time limit passed, or it was cancelled). With nobody left the unit goes
# back to the product's stock.
# KEYS: auction hash, bidders zset, lot hash, the offer's order hash, due zset, product
#       hash, bidder names hash
# ARGV: auction id, the order id the host saw
# Returns {code, offered to, amount, rank, order status}: ok, none, not_closed, conflict,
#         waiting
OFFER = """
local a = KEYS[1]
if redis.call('HGET', a, 'status') ~= 'closed' then return {'not_closed', '', 0, 0, ''} end
local oid = redis.call('HGET', a, 'order_id')
if oid == '' or oid ~= ARGV[2] then return {'conflict', '', 0, 0, ''} end
local st = redis.call('HGET', KEYS[4], 'status') or ''
if st ~= 'cancelled' then return {'waiting', '', 0, 0, st} end
local rank = tonumber(redis.call('HGET', a, 'offer_rank')) + 1
local nxt = redis.call('ZREVRANGE', KEYS[2], rank, rank, 'WITHSCORES')
if #nxt == 0 then
  local left = tonumber(redis.call('HGET', KEYS[3], 'stock') or '0')
  redis.call('HSET', KEYS[3], 'stock', 0)
  if left > 0 and redis.call('EXISTS', KEYS[6]) == 1 then
    redis.call('HINCRBY', KEYS[6], 'stock', left)
  end
  redis.call('HSET', a, 'status', 'unsold')
  redis.call('ZREM', KEYS[5], ARGV[1])
  return {'none', '', 0, rank, st}
end
redis.call('HSET', a, 'offer_rank', rank, 'offered_to', nxt[1], 'offered_amount', nxt[2],
           'offered_name', redis.call('HGET', KEYS[7], nxt[1]) or '', 'order_id', '')
redis.call('HSET', KEYS[3], 'price', nxt[2])
redis.call('ZADD', KEYS[5], 0, ARGV[1])
return {'ok', nxt[1], tonumber(nxt[2]), rank, st}
"""

# The host ends a running auction now (the closing itself is CLOSE's, on the next tick).
# KEYS: auction hash, due zset.  ARGV: auction id.  Returns 1 if it was running.
END_NOW = NOW + """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'ends_at', string.format('%.3f', now))
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
"""

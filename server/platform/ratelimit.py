"""Per-key rate limits shared by every node, as GCRA (the generic cell rate algorithm).

A fixed window ("5 per 10-second bucket") lets a viewer send twice the limit across a
bucket edge and refuses nothing at all for a burst that straddles it; GCRA keeps one
"theoretical arrival time" per key, so ``limit`` actions are allowed at once and after
that one per ``period / limit``, whatever the wall clock says. Time comes from Redis
itself so nodes with skewed clocks agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

# KEYS[1]: the limit's key.  ARGV: period in microseconds, limit, cost of this action.
# Returns {allowed (1/0), microseconds until the action would be allowed}.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local interval = period / tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * interval
if new_tat - now > period then
  return {0, string.format('%.0f', new_tat - now - period)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, '0'}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float  # seconds until the same action would be allowed


class RateLimiter:
    """At most ``limit`` units per ``period_s`` seconds for each key, bursts included."""

    def __init__(self, redis: aioredis.Redis, prefix: str, limit: int, period_s: float) -> None:
        if limit < 1 or period_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and period_s > 0")
        self.prefix = prefix
        self.limit = limit
        self.period_us = int(period_s * 1_000_000)
        self._gcra = redis.register_script(GCRA)

    async def take(self, key: str, cost: int = 1) -> Verdict:
        allowed, wait_us = await self._gcra(keys=[f"{self.prefix}:{key}"],
                                            args=[self.period_us, self.limit, cost])
        return Verdict(bool(int(allowed)), int(wait_us) / 1_000_000)


class LocalBucket:
    """A token bucket held in this process, for limits on one connection (a viewer's data
    channel) that need no Redis round trip to refuse a flood."""

    def __init__(self, burst: int, per_second: float) -> None:
        self.burst = float(burst)
        self.rate = per_second
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> Verdict:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return Verdict(True, 0.0)
        return Verdict(False, (1 - self.tokens) / self.rate)

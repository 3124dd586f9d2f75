"""Who watches a room and for how long, across the cluster, for giveaways ("viewers who
watched at least M seconds"). Every ``interval`` each node notes, per room, the identified
viewers connected to it: their watch time grows by the time since that node last saw them
(``room:{id}:watch``, viewer -> seconds) and their last sighting is kept
(``room:{id}:seen``, viewer -> unix time). Watch time is of the room's current live
session only: the hash notes the session it counts (field ``_session``, from
``room:{id}:session``) and starts again from zero when the host goes live anew, so an
earlier show's minutes never make someone eligible. Anonymous connections (no identity)
and the host's own are not counted: a prize needs someone to give it to.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis

from media.sfu import Sfu

log = logging.getLogger("stallcast.presence")

KEEP_S = 86400

# KEYS: room watch hash, room seen zset, room's session id (read only).
# ARGV: now, keep s, then viewer/seconds pairs.
NOTE = """
local sid = redis.call('GET', KEYS[3]) or ''
if redis.call('HGET', KEYS[1], '_session') ~= sid then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], '_session', sid)
end
for i = 3, #ARGV, 2 do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


class Presence:
    def __init__(self, redis: aioredis.Redis, sfu: Sfu, interval: float) -> None:
        self.redis = redis
        self.sfu = sfu
        self.interval = interval
        self._note = redis.register_script(NOTE)
        self._seen: dict[tuple[str, str], float] = {}  # (room, viewer) -> last noted

    async def tick(self) -> None:
        now = time.monotonic()
        seen: dict[tuple[str, str], float] = {}
        for room_id, router in list(self.sfu.routers.items()):
            args: list[str | float] = []
            for viewer in list(router.viewers.values()):
                if viewer.identity is None or viewer.observer or viewer.channel is None:
                    continue
                key = (room_id, viewer.identity)
                if key in seen:
                    continue  # two tabs of one viewer count once
                last = self._seen.get(key)
                seen[key] = now
                args += [viewer.identity,
                         round(min(now - last, 2 * self.interval), 3) if last else 0]
            if args:
                await self._note(keys=[f"room:{room_id}:watch", f"room:{room_id}:seen",
                                       f"room:{room_id}:session"],
                                 args=[time.time(), KEEP_S, *args])
        self._seen = seen

    async def eligible(self, room_id: str, min_watch_s: float) -> list[str]:
        """Viewers present now (seen in the last three intervals) who watched long enough."""
        present = [str(v) for v in await self.redis.zrangebyscore(
            f"room:{room_id}:seen", time.time() - 3 * self.interval, "+inf")]
        if not present:
            return []
        watched = await self.redis.hmget(f"room:{room_id}:watch", present)
        return sorted(v for v, w in zip(present, watched, strict=True)
                      if w is not None and float(w) >= min_watch_s)

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting: the next tick notes again
                log.warning("presence not noted", extra={"reason": repr(exc)})
            await asyncio.sleep(self.interval)

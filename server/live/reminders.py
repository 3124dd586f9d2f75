"""Reminders: when a host goes live, its followers and the viewers who tapped "remind me"
on the show that is starting hear of it once: a banner on any Stallcast page they have
open (an inbox the page polls) and the notification provider.

"Once" holds across nodes, restarts and a host going live twice: each viewer is marked
with ``SET NX`` per show occurrence in the same script that fills the inbox, so whichever
node sees the host go live first reminds, and nobody is reminded again. Followers are
walked in batches of ``batch_size``, each one Redis round trip and one provider call,
yielding the loop between them, so a host with 100k followers does not stall the streams;
followers by a cursor after the last one walked and askers by SSCAN, so nobody who stays is
skipped when others leave during the walk.

Redis: ``reminder:{occurrence}:{viewer}`` flags, ``reminders:{occurrence}:done`` (the walk
finished: a host reconnecting does not walk its followers again), ``viewer:{v}:reminders``
inbox hash,
``show:{id}:occurrence`` (the one reminded last), ``show:{id}:reminded`` counter and
``show:{id}:arrivals`` set (viewers who opened the watch page from a reminder)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from server.accounts.channels import Channels
from server.accounts.follows import START, Follows
from server.accounts.shows import Show, Shows, nearest
from server.accounts.store import Store
from server.live.context import AppContext
from server.live.node import Node
from server.live.notices import NotificationProvider, notification_provider

log = logging.getLogger("stallcast.reminders")

FLAG_TTL_S = 8 * 86400  # outlives a weekly show's occurrence
INBOX_TTL_S = 6 * 3600  # a reminder nobody saw is stale by then
INBOX_MAX = 20

# KEYS: none besides those named from ARGV (a viewer's flag and inbox). ARGV: occurrence,
# notice JSON, flag TTL, inbox TTL, inbox cap, then viewer ids. -> the viewers reminded now.
_MARK = """
local fresh = {}
for i = 6, #ARGV do
  local v = ARGV[i]
  if redis.call('SET', 'reminder:' .. ARGV[1] .. ':' .. v, '1', 'NX', 'EX', ARGV[3]) then
    local inbox = 'viewer:' .. v .. ':reminders'
    if redis.call('HLEN', inbox) < tonumber(ARGV[5]) then
      redis.call('HSET', inbox, ARGV[1], ARGV[2])
      redis.call('EXPIRE', inbox, ARGV[4])
    end
    fresh[#fresh + 1] = v
  end
end
return fresh
"""
# KEYS: show's occurrence, show's arrivals. ARGV: viewer id. -> 1 counted now, else 0.
_ARRIVE = """
local occurrence = redis.call('GET', KEYS[1])
if not occurrence then return 0 end
if redis.call('EXISTS', 'reminder:' .. occurrence .. ':' .. ARGV[1]) == 0 then return 0 end
return redis.call('SADD', KEYS[2], ARGV[1])
"""


def _occurrence(shows: list[Show], now: float) -> tuple[Show | None, float]:
    """The show (and its occurrence) a host going live now starts; without one, the room's
    UTC day stands for it (followers hear of an unannounced show once a day)."""
    found = nearest(shows, now)
    return found if found is not None else (None, float(int(now // 86400) * 86400))


class Reminders:
    def __init__(self, redis: aioredis.Redis, store: Store, shows: Shows, follows: Follows,
                 provider: NotificationProvider, batch_size: int, public_url: str) -> None:
        self.redis = redis
        self.store = store
        self.shows = shows
        self.follows = follows
        self.provider = provider
        self.batch = max(1, batch_size)
        self.public_url = public_url.rstrip("/")
        self._mark = redis.register_script(_MARK)
        self._arrive = redis.register_script(_ARRIVE)
        self._running: dict[str, asyncio.Task[int]] = {}

    async def on_event(self, room_id: str, event: dict[str, Any]) -> None:
        """A node observer: a host going live here starts reminding, off the announcer."""
        if event.get("type") != "host_live" or room_id in self._running:
            return
        task = asyncio.ensure_future(self.room_live(room_id))
        self._running[room_id] = task
        task.add_done_callback(lambda _: self._running.pop(room_id, None))

    async def room_live(self, room_id: str) -> int:
        """Remind everyone owed a reminder for the room's show starting now; how many were
        reminded by this call (0 when another node or an earlier call did it)."""
        room = await self.store.get_room(room_id)
        if room is None:
            return 0
        now = time.time()
        show, at = _occurrence(await self.shows.of_room(room_id), now)
        show_id = show.show_id if show is not None else ""
        occurrence = f"{show_id or room_id}:{int(at)}"
        if show is not None:
            await self.shows.went_live(show, at)
            await self.redis.set(f"show:{show_id}:occurrence", occurrence, ex=FLAG_TTL_S)
        done = f"reminders:{occurrence}:done"
        if await self.redis.exists(done):  # a host back on air: everyone was told already
            return 0
        names = await self.store.host_names([room.host_id])
        path = f"/watch/{room_id}?from=reminder" + (f"&show={show_id}" if show_id else "")
        notice = {"id": occurrence, "room_id": room_id, "show_id": show_id,
                  "title": show.title if show is not None else room.title,
                  "host_name": names.get(room.host_id, ""), "watch_url": path, "at": now}
        total = 0
        after, batch = await self.follows.followers(room.host_id, START, self.batch)
        while batch:  # by a cursor: an unfollow meanwhile shifts nobody past it
            total += await self._remind(occurrence, notice, batch)
            after, batch = await self.follows.followers(room.host_id, after, self.batch)
        cursor = -1
        while show_id and cursor != 0:
            cursor, batch = await self.follows.askers(show_id, max(cursor, 0), self.batch)
            total += await self._remind(occurrence, notice, batch)
        await self.redis.set(done, "1", ex=FLAG_TTL_S)
        if total:
            log.info("room reminded", extra={"room_id": room_id, "show_id": show_id,
                                             "reminded": total})
        return total

    async def _remind(self, occurrence: str, notice: dict[str, Any], batch: list[str]) -> int:
        if not batch:
            return 0
        fresh = [str(v) for v in await self._mark(args=[
            occurrence, json.dumps(notice), FLAG_TTL_S, INBOX_TTL_S, INBOX_MAX, *batch])]
        if fresh:
            if notice["show_id"]:
                await self.redis.incrby(f"show:{notice['show_id']}:reminded", len(fresh))
            url = self.public_url + notice["watch_url"] if self.public_url else notice[
                "watch_url"]
            await self.provider.send([{**notice, "watch_url": url, "viewer_id": v}
                                      for v in fresh])
        await asyncio.sleep(0)  # the streams' turn
        return len(fresh)

    async def pending(self, viewer_id: str) -> list[dict[str, Any]]:
        """The viewer's reminders not yet seen, oldest first (one HGETALL: pages poll)."""
        raw = await self.redis.hgetall(f"viewer:{viewer_id}:reminders")
        found = [json.loads(v) for v in raw.values()]
        return sorted(found, key=lambda n: n["at"])

    async def seen(self, viewer_id: str, ids: list[str]) -> int:
        if not ids:
            return 0
        return int(await self.redis.hdel(f"viewer:{viewer_id}:reminders", *ids))

    async def arrived(self, viewer_id: str, show_id: str) -> bool:
        """A viewer opened the watch page from the show's reminder: counted once, and only
        when it was reminded of the show's latest occurrence."""
        return bool(int(await self._arrive(
            keys=[f"show:{show_id}:occurrence", f"show:{show_id}:arrivals"], args=[viewer_id])))

    async def stats(self, show_ids: list[str]) -> dict[str, dict[str, int]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for show_id in show_ids:
                pipe.get(f"show:{show_id}:reminded")
                pipe.scard(f"show:{show_id}:arrivals")
            out = await pipe.execute()
        return {s: {"reminded": int(out[2 * i] or 0), "from_reminders": int(out[2 * i + 1])}
                for i, s in enumerate(show_ids)}

    async def forget_show(self, show_id: str) -> None:
        await self.redis.delete(f"show:{show_id}:occurrence", f"show:{show_id}:reminded",
                                f"show:{show_id}:arrivals")

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        await self.provider.close()


@dataclass
class Audience:
    """What brings viewers back, shared by the handlers of server/web/follows.py and
    server/web/shows.py and the front door."""

    follows: Follows
    shows: Shows
    channels: Channels
    reminders: Reminders


AUDIENCE = web.AppKey("stallcast_audience_return", Audience)


def install(app: web.Application, context: AppContext, node: Node) -> Audience:
    """Make the services, tell them of hosts going live on this node, close them last."""
    cfg = context.config.reminders
    follows = Follows(context.redis, cfg.follows_per_viewer)
    shows = Shows(context.redis, cfg.shows_per_host)
    reminders = Reminders(context.redis, context.store, shows, follows,
                          notification_provider(cfg), cfg.batch_size,
                          context.config.http.public_url)
    made = Audience(follows, shows, Channels(context.redis), reminders)
    app[AUDIENCE] = made
    node.observers.append(reminders.on_event)

    async def close(_: web.Application) -> None:
        await reminders.close()

    app.on_cleanup.append(close)
    return made

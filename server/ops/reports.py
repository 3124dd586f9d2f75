"""What operators and hosts read of the sampler's work (server/ops/metrics.py writes it):
live sessions with their latest figures (``sessions:live``, ``live:{sid}``), a session's
samples (``series:{sid}``) and the reports of ended sessions (``session_reports``,
``report:{sid}``). Every node answers for the whole cluster."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis

from server.commerce.delivery import overdue
from server.ops.metrics import REPORTS, series
from server.vod.sessions import SessionStore

REPORTS_LISTED = 500  # newest reports in a listing


async def latest_figures(redis: aioredis.Redis, sid: str) -> dict[str, Any] | None:
    """The live session's latest sample (ingest bitrate, frame rate, size), if sampled."""
    raw = await redis.hget(f"live:{sid}", "current")
    found = json.loads(raw) if raw else None
    return found if isinstance(found, dict) else None


class SessionReports:
    """``host_id`` None reads every host's sessions (an operator), a host id only its own."""

    def __init__(self, redis: aioredis.Redis, sessions: SessionStore, interval: float) -> None:
        self.redis = redis
        self.sessions = sessions
        self.interval = interval  # the sampler's, seconds

    async def live(self, host_id: str | None = None) -> list[dict[str, Any]]:
        """Live sessions on every node, with their latest figures."""
        # A node that stopped sampling (crashed) drops out; a slow sample or a Redis hiccup
        # on a short interval must not hide a live session.
        # The sessions come from the one index of live sessions (vod's sessions:live); the
        # figures from the sampler's live:{sid}, with the time they were taken.
        fresh_after = time.time() - max(self.interval * 3, 10)
        ids = await self.sessions.live_ids()
        sessions = await self.sessions.get_many(ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in ids:
                pipe.hmget(f"live:{sid}", ["current", "at"])
            latest = await pipe.execute()
        out = []
        for sid, session, (current, at) in zip(ids, sessions, latest, strict=True):
            if session is None or current is None or float(at or 0) < fresh_after:
                continue
            if host_id is not None and session["host_id"] != host_id:
                continue
            out.append({"session_id": sid, "room_id": session["room_id"],
                        "title": session["title"], "host_id": session["host_id"],
                        "started_at": session["started_at"], "figures": json.loads(current)})
        return out

    async def series(self, sid: str) -> list[dict[str, Any]]:
        """The session's samples, oldest first."""
        return await series(self.redis, sid)

    async def report(self, sid: str) -> dict[str, Any] | None:
        """The session's report, once it has ended."""
        raw = await self.redis.get(f"report:{sid}")
        return json.loads(raw) if raw else None

    async def delivery(self, host_id: str | None = None) -> dict[str, Any]:
        """Orders past their ship-by time and not shipped (the delivery promise)."""
        return await overdue(self.redis, host_id, time.time())

    async def reports(self, host_id: str | None = None) -> list[dict[str, Any]]:
        """Reports of ended sessions, newest first."""
        ids = [str(i) for i in await self.redis.zrevrange(REPORTS, 0, REPORTS_LISTED - 1)]
        raws = await self.redis.mget([f"report:{sid}" for sid in ids]) if ids else []
        owners = (await self.sessions.get_many(ids) if host_id is not None
                  else [None] * len(ids))
        out = []
        for raw, session in zip(raws, owners, strict=True):
            if raw is None:
                continue
            if host_id is not None and (session is None or session["host_id"] != host_id):
                continue
            out.append(json.loads(raw))
        return out

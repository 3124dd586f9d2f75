"""Health and sales of every live session, sampled every few seconds and shared via Redis;
node figures for Prometheus.

Each node samples the sessions whose host publishes to it: it appends one sample to the
session's series (``series:{sid}``) and keeps the latest, with its time, in ``live:{sid}``;
vod's ``sessions:live`` lists the sessions, so any node can answer for the whole cluster.
When a session ends, its report (``report:{sid}``) is computed once from the series and
kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from media.sfu import Sfu
from media.stats import MediaSnapshot, snapshot, spread
from server.ops.counters import SessionCounters
from server.vod.sessions import SessionStore

log = logging.getLogger("stallcast.metrics")

REPORTS = "session_reports"
SERIES_MAX = 20000  # samples kept per session (about a day at 5 s)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class NodeMetrics:
    """Prometheus figures of this node. Room labels exist only while a room is live here."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.rooms = Gauge("stallcast_rooms", "Rooms with a router on this node", registry=r)
        self.publishers = Gauge("stallcast_publishers", "Live publishers on this node",
                                registry=r)
        self.viewers = Gauge("stallcast_viewers", "Connected viewers on this node", registry=r)
        self.packets = Counter("stallcast_forwarded_packets", "RTP packets sent to viewers",
                               registry=r)
        self.bytes = Counter("stallcast_forwarded_bytes", "RTP bytes sent to viewers",
                             registry=r)
        self.ingest_packets = Counter("stallcast_ingest_packets", "RTP packets from publishers",
                                      registry=r)
        self.ingest_bytes = Counter("stallcast_ingest_bytes", "RTP payload bytes from "
                                    "publishers", registry=r)
        self.join = Histogram("stallcast_viewer_join_seconds", "WHEP request to first "
                              "keyframe sent", buckets=LATENCY_BUCKETS, registry=r)
        self.fanout = Histogram("stallcast_event_fanout_seconds", "Room event publish to "
                                "delivery on this node", buckets=LATENCY_BUCKETS, registry=r)
        self.redis_rtt = Histogram("stallcast_redis_roundtrip_seconds", "Redis PING time",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.redis_errors = Counter("stallcast_redis_errors", "Failed Redis calls", registry=r)
        # Full collections walk every tracked object (~700 per viewer): at 500 viewers one
        # stalls the event loop for ~120 ms (server/cli.py makes them rare).
        self.gc_pause = Histogram("stallcast_gc_pause_seconds", "Garbage-collector pauses",
                                  ["generation"], buckets=LATENCY_BUCKETS, registry=r)
        for generation in ("0", "1", "2"):
            self.gc_pause.labels(generation=generation)
        self.loop_lag = Histogram("stallcast_event_loop_lag_seconds", "How late a 0.5 s "
                                  "timer fires", buckets=LATENCY_BUCKETS, registry=r)
        self.keyframes = Counter("stallcast_keyframe_requests", "Keyframe requests sent to "
                                 "publishers", registry=r)
        self.nacks = Counter("stallcast_nacks", "NACKs", ["direction"], registry=r)
        room = ["room"]
        self.room_viewers = Gauge("stallcast_room_viewers", "Viewers of a live room", room,
                                  registry=r)
        self.room_bitrate = Gauge("stallcast_room_ingest_bitrate_bps", "Publisher bitrate",
                                  room, registry=r)
        self.room_fps = Gauge("stallcast_room_ingest_fps", "Publisher frame rate", room,
                              registry=r)
        self.room_loss = Gauge("stallcast_room_uplink_loss_ratio", "Publisher uplink loss",
                               room, registry=r)
        self.room_jitter = Gauge("stallcast_room_uplink_jitter_seconds", "Publisher uplink "
                                 "jitter", room, registry=r)
        self.room_viewer_loss = Gauge("stallcast_room_viewer_loss_ratio_p95", "95th "
                                      "percentile of viewers' reported loss", room, registry=r)
        self.room_uplink_rtt = Gauge("stallcast_room_uplink_rtt_seconds", "Round trip to the "
                                     "publisher (ICE consent checks)", room, registry=r)
        self.room_labels: set[str] = set()

    def drop_room(self, room_id: str) -> None:
        if room_id in self.room_labels:
            self.room_labels.discard(room_id)
            for gauge in (self.room_viewers, self.room_bitrate, self.room_fps, self.room_loss,
                          self.room_jitter, self.room_viewer_loss, self.room_uplink_rtt):
                with contextlib.suppress(KeyError):  # a figure never measured has no series
                    gauge.remove(room_id)


def _delta(new: float, old: float) -> float:
    """Growth of a counter between samples; a counter that went back down was reset (the
    host reconnected, a new producer started from zero), so all of it is new."""
    return new - old if new >= old else new


def _rate(new: float, old: float, seconds: float) -> float:
    return _delta(new, old) / seconds if seconds > 0 else 0.0


class LiveRecording(Protocol):
    """What the sampler needs of a room's live session (server/live/broadcasts.py Active)."""

    @property
    def session_id(self) -> str: ...


class Sampler:
    def __init__(self, sfu: Sfu, redis: aioredis.Redis, sessions: SessionStore,
                 counters: SessionCounters, node: NodeMetrics, interval: float,
                 active: Mapping[str, LiveRecording]) -> None:
        self.sfu = sfu
        self.redis = redis
        self.sessions = sessions
        self.counters = counters
        self.node = node
        self.interval = interval
        self.active = active  # room id -> object with session_id (RecordingManager.active)
        self._last: dict[str, tuple[float, MediaSnapshot]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._gc_started = 0.0

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop()), asyncio.create_task(self._lag())]
        gc.callbacks.append(self._gc_timer)

    def _gc_timer(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self.node.gc_pause.labels(generation=str(info["generation"])).observe(
                time.perf_counter() - self._gc_started)

    async def _lag(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.5)
            self.node.loop_lag.observe(max(0.0, time.monotonic() - t - 0.5))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sample_all()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("metrics sample failed", extra={"reason": repr(exc)})

    async def sample_all(self) -> None:
        t = time.monotonic()
        await self.redis.ping()
        self.node.redis_rtt.observe(time.monotonic() - t)
        routers = self.sfu.routers
        self.node.rooms.set(len(routers))
        self.node.publishers.set(sum(1 for r in routers.values() if r.live))
        self.node.viewers.set(sum(len(r.viewers) for r in routers.values()))
        for room_id, active in list(self.active.items()):
            router = routers.get(room_id)
            if router is None:
                continue
            try:
                await self.sample(room_id, active.session_id, snapshot(router))
            except (aioredis.RedisError, OSError):
                self.node.redis_errors.inc()
                raise
            except Exception:
                log.exception("sampling a room failed", extra={"room_id": room_id})
        for room_id in list(self.node.room_labels):
            if room_id not in self.active:
                self.node.drop_room(room_id)

    async def sample(self, room_id: str, sid: str, snap: MediaSnapshot) -> dict[str, Any]:
        now = time.time()
        tick = time.monotonic()  # rates must not jump when the wall clock is stepped
        prev_t, prev = self._last.get(sid, (tick - self.interval, None))
        self._last[sid] = (tick, snap)
        dt = tick - prev_t
        base = prev or MediaSnapshot(**{**snap.__dict__, **{k: 0 for k in (
            "joins", "leaves", "packets_in", "bytes_in", "frames_in", "packets_out",
            "bytes_out", "uplink_received", "uplink_expected", "nacks_upstream",
            "keyframes_requested", "keyframes_sent", "viewer_nacks")}, "watch_seconds": 0.0})
        expected = _delta(snap.uplink_expected, base.uplink_expected)
        received = min(expected, _delta(snap.uplink_received, base.uplink_received))
        loss = max(0.0, (expected - received) / expected) if expected > 0 else 0.0
        await self.counters.add_to_session(sid, {
            "joins": _delta(snap.joins, base.joins),
            "watch_seconds": round(_delta(snap.watch_seconds, base.watch_seconds), 3)})
        commerce = await self.counters.of_session(sid)
        peak = int(float(await self.redis.hget(f"live:{sid}", "peak") or 0))
        peak = max(peak, snap.viewers)
        sample: dict[str, Any] = {
            "t": round(now, 3), "live": snap.live, "viewers": snap.viewers,
            "peak_viewers": peak, "joins": _delta(snap.joins, base.joins),
            "leaves": _delta(snap.leaves, base.leaves),
            "ingest_bps": round(_rate(snap.bytes_in, base.bytes_in, dt) * 8),
            "fps": round(_rate(snap.frames_in, base.frames_in, dt), 1),
            "width": snap.width, "height": snap.height,
            "uplink_loss": round(loss, 4), "uplink_jitter_ms": snap.uplink_jitter_ms,
            "nacks_upstream": _delta(snap.nacks_upstream, base.nacks_upstream),
            "viewer_nacks": _delta(snap.viewer_nacks, base.viewer_nacks),
            "keyframe_requests": _delta(snap.keyframes_requested, base.keyframes_requested),
            "keyframes_sent": _delta(snap.keyframes_sent, base.keyframes_sent),
            "viewer_loss": spread(snap.viewer_loss), "viewer_rtt_ms": spread(snap.viewer_rtt_ms),
            "rtt_ms": spread(snap.viewer_rtt_ms)["p50"], "uplink_rtt_ms": snap.uplink_rtt_ms,
            "join_ms": snap.join_ms,
            "forwarded_pps": round(_rate(snap.packets_out, base.packets_out, dt)),
            "card_pins": int(commerce["card_pins"]), "card_clicks": int(commerce["card_clicks"]),
            "buys": int(commerce["buys"]), "orders": int(commerce["orders"]),
            "gmv": int(commerce["gmv"]), "buyers": int(commerce["buyers"]),
            "conversion": round(commerce["buyers"] / commerce["joins"], 4)
            if commerce["joins"] else 0.0,
            "chat_messages": int(commerce["chat_messages"]), "likes": int(commerce["likes"]),
        }
        line = json.dumps(sample)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(f"series:{sid}", line)
            pipe.ltrim(f"series:{sid}", -SERIES_MAX, -1)
            pipe.hset(f"live:{sid}", mapping={"current": line, "peak": peak, "room_id": room_id,
                                              "at": now})
            pipe.expire(f"live:{sid}", int(self.interval * 6) + 5)
            await pipe.execute()
        n = self.node
        n.packets.inc(_delta(snap.packets_out, base.packets_out))
        n.bytes.inc(_delta(snap.bytes_out, base.bytes_out))
        n.ingest_packets.inc(_delta(snap.packets_in, base.packets_in))
        n.ingest_bytes.inc(_delta(snap.bytes_in, base.bytes_in))
        n.keyframes.inc(sample["keyframes_sent"])
        n.nacks.labels(direction="upstream").inc(sample["nacks_upstream"])
        n.nacks.labels(direction="from_viewers").inc(sample["viewer_nacks"])
        for ms in snap.join_ms:
            n.join.observe(ms / 1000)
        n.room_labels.add(room_id)
        n.room_viewers.labels(room=room_id).set(snap.viewers)
        n.room_bitrate.labels(room=room_id).set(sample["ingest_bps"])
        n.room_fps.labels(room=room_id).set(sample["fps"])
        n.room_loss.labels(room=room_id).set(loss)
        n.room_jitter.labels(room=room_id).set(snap.uplink_jitter_ms / 1000)
        if snap.uplink_rtt_ms is not None:
            n.room_uplink_rtt.labels(room=room_id).set(snap.uplink_rtt_ms / 1000)
        n.room_viewer_loss.labels(room=room_id).set(sample["viewer_loss"]["p95"])
        return sample

    async def finish(self, room_id: str, sid: str) -> dict[str, Any]:
        """Take a last sample, then write the session's report."""
        router = self.sfu.routers.get(room_id)
        if router is not None:
            try:
                await self.sample(room_id, sid, snapshot(router))
            except Exception:
                log.exception("last sample failed", extra={"session": sid})
        self._last.pop(sid, None)
        self.node.drop_room(room_id)
        report = await build_report(self.redis, self.sessions, self.counters, sid)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"report:{sid}", json.dumps(report))
            pipe.zadd(REPORTS, {sid: time.time()})
            pipe.delete(f"live:{sid}")
            await pipe.execute()
        return report

    async def close(self) -> None:
        if self._gc_timer in gc.callbacks:
            gc.callbacks.remove(self._gc_timer)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def series(redis: aioredis.Redis, sid: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in await redis.lrange(f"series:{sid}", 0, -1)]


async def build_report(redis: aioredis.Redis, sessions: SessionStore,
                       counters: SessionCounters, sid: str) -> dict[str, Any]:
    session = await sessions.get(sid) or {}
    samples = await series(redis, sid)
    stats = await counters.of_session(sid)
    started = session.get("started_at", samples[0]["t"] if samples else time.time())
    ended = session.get("ended_at") or time.time()
    live = [s for s in samples if s["live"]]
    rtts = [s for s in live if s.get("uplink_rtt_ms") is not None]

    def avg(key: str, rows: list[dict[str, Any]]) -> float:
        return round(sum(r[key] for r in rows) / len(rows), 2) if rows else 0.0

    joins = stats["joins"]
    return {
        "session_id": sid, "room_id": session.get("room_id"), "title": session.get("title"),
        "started_at": started, "ended_at": ended, "duration_s": round(ended - started, 1),
        "peak_viewers": max((s["peak_viewers"] for s in samples), default=0),
        "average_viewers": avg("viewers", samples),
        "unique_viewers": int(joins),
        "average_watch_s": round(stats["watch_seconds"] / joins, 1) if joins else 0.0,
        "orders": int(stats["orders"]), "gmv": int(stats["gmv"]),
        "buyers": int(stats["buyers"]), "buys": int(stats["buys"]),
        "conversion": round(stats["buyers"] / joins, 4) if joins else 0.0,
        "card_pins": int(stats["card_pins"]), "card_clicks": int(stats["card_clicks"]),
        "chat_messages": int(stats["chat_messages"]), "likes": int(stats["likes"]),
        "ingest": {
            "average_bps": avg("ingest_bps", live), "average_fps": avg("fps", live),
            "average_loss": avg("uplink_loss", live),
            "max_loss": max((s["uplink_loss"] for s in live), default=0.0),
            "average_jitter_ms": avg("uplink_jitter_ms", live),
            "average_rtt_ms": avg("uplink_rtt_ms", rtts) if rtts else None,
            "resolution": max(((s["width"], s["height"]) for s in live), default=(0, 0)),
            "samples": len(samples),
        },
    }

"""A room's media figures at one instant: cumulative counters plus current values.

The sampler above (server/ops/metrics.py) takes two snapshots and turns their difference into
rates; nothing here does per-packet work.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from .router import Router


@dataclass
class MediaSnapshot:
    live: bool
    viewers: int
    joins: int
    leaves: int
    packets_in: int
    bytes_in: int
    frames_in: int
    packets_out: int
    bytes_out: int
    width: int
    height: int
    uplink_received: int
    uplink_expected: int
    uplink_jitter_ms: float
    uplink_rtt_ms: float | None  # None until the first ICE consent check comes back
    nacks_upstream: int
    keyframes_requested: int
    keyframes_sent: int
    viewer_nacks: int
    viewer_loss: list[float] = field(default_factory=list)  # fraction, one per viewer
    viewer_rtt_ms: list[float] = field(default_factory=list)
    join_ms: list[float] = field(default_factory=list)  # joins since the last snapshot
    watch_seconds: float = 0.0  # viewers who left, plus those watching, so far


def snapshot(router: Router) -> MediaSnapshot:
    producer = router.producer
    received = expected = 0
    jitter_ms = 0.0
    uplink_rtt: float | None = None
    nacks = requested = sent = 0
    if producer is not None:
        video = producer.taps.get("video")
        if video is not None:
            received, expected, jitter, clock = video.uplink()
            jitter_ms = jitter * 1000 / clock if clock else 0.0
            nacks = video.nacks_sent
        requested, sent = producer.keyframes.requested, producer.keyframes.sent
        uplink_rtt = producer.uplink_rtt.poll()
    loss: list[float] = []
    rtt: list[float] = []
    viewer_nacks = 0
    for viewer in router.viewers.values():
        consumer = viewer.consumers.get("video")
        if viewer.observer:
            continue
        if consumer is None:
            continue
        tap = consumer.tap
        loss.append(tap.fraction_lost)
        if tap.rtt is not None:
            rtt.append(tap.rtt * 1000)
        viewer_nacks += tap.nacks
    joins = router.join_latencies[:]
    router.join_latencies.clear()
    width, height = router.resolution or (0, 0)
    return MediaSnapshot(
        live=router.live, viewers=router.audience, joins=router.joins,
        leaves=router.leaves, packets_in=router.packets_in, bytes_in=router.bytes_in,
        frames_in=router.frames_in, packets_out=router.packets_out,
        bytes_out=router.bytes_out, width=width, height=height, uplink_received=received,
        uplink_expected=expected, uplink_jitter_ms=round(jitter_ms, 2),
        uplink_rtt_ms=round(uplink_rtt * 1000, 2) if uplink_rtt is not None else None,
        nacks_upstream=nacks,
        keyframes_requested=requested, keyframes_sent=sent, viewer_nacks=viewer_nacks,
        viewer_loss=loss, viewer_rtt_ms=rtt,
        join_ms=[round(j * 1000, 1) for j in joins],
        watch_seconds=router.watch_seconds + sum(
            time.time() - v.created_at for v in router.viewers.values() if not v.observer))


def spread(values: list[float]) -> dict[str, float]:
    """p50, p95 and max of a list (zeros when empty)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": round(statistics.median(ordered), 4), "p95": round(p95, 4),
            "max": round(ordered[-1], 4)}

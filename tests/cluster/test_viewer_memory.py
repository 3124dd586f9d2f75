"""Viewers who leave leave nothing behind: after rounds of real viewers joining, playing and
leaving (by WHEP DELETE, or by just closing their peer connection), the live peer
connections, transports and sessions are back to what the publisher alone holds, and the
process's resident memory does not grow from round to round."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import gc
from typing import Any

from aioice.ice import Connection
from aiortc import (
    RTCDataChannel,
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSctpTransport,
)

from helpers.clients import MovingVideoTrack, publish, wait_for, watch
from helpers.servers import Running
from media.aiortc_adapter import ForwardTrack, SenderTap
from media.router import Consumer, ViewerSession

ROUNDS = 3
VIEWERS = 20
WATCHED = (RTCPeerConnection, RTCDtlsTransport, RTCSctpTransport, RTCIceTransport,
           RTCIceGatherer, Connection, RTCRtpSender, RTCRtpReceiver, RTCDataChannel,
           ViewerSession, Consumer, SenderTap, ForwardTrack)


def live_objects() -> dict[str, int]:
    gc.collect()
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects()
                                 if isinstance(o, WATCHED))
    return {cls.__name__: counts.get(cls.__name__, 0) for cls in WATCHED}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def one_round(server: Running, rid: str) -> None:
    viewers: list[Any] = []
    for _ in range(VIEWERS // 10):
        viewers += await asyncio.gather(*(watch(server.base, rid) for _ in range(10)))
    try:
        assert await wait_for(lambda: all(len(v.video_frames) > 3 for v in viewers), 60)
    finally:
        for i, viewer in enumerate(viewers):
            await viewer.stop(delete=i % 2 == 0)  # half say goodbye, half just close
    router = server.ctx.sfu.routers[rid]
    assert await wait_for(lambda: not router.viewers, 20)


async def test_departed_viewers_leave_nothing_behind(server: Running) -> None:
    sfu = server.ctx.sfu
    # A peer that never connects is dropped after connect_timeout; it must not take that
    # long for one that connected and left to be let go.
    sfu.settings = dataclasses.replace(sfu.settings, connect_timeout=300.0)
    _, token = await server.new_host()
    room = await server.new_room(token)
    rid, key = room["room_id"], room["stream_key"]
    pub = await publish(server.base, rid, key, video=MovingVideoTrack(320, 240, 15))
    try:
        assert await wait_for(lambda: pub.pc.connectionState == "connected", 15)
        await asyncio.sleep(1)
        baseline = live_objects()  # the publisher's peer connections, both sides
        rss_after: list[float] = []
        left: dict[str, int] = {}

        def settled() -> bool:
            left.update(live_objects())
            return left == baseline

        for _ in range(ROUNDS):
            await one_round(server, rid)
            assert await wait_for(settled, 20, interval=0.5), (
                {k: v - baseline[k] for k, v in left.items() if v != baseline[k]})
            await asyncio.sleep(sfu.heap.delay + 1)  # the heap is handed back after a wave
            rss_after.append(rss_mb())
        # This process holds the test's own decoding viewers too, hence the margin.
        assert rss_after[-1] - rss_after[0] < 30, rss_after
        assert sfu.heap.trims >= 1 or sfu.heap._trim is None
    finally:
        await pub.stop()

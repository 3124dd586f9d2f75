"""The aiortc internals media/aiortc_adapter.py relies on, with real peers: packets to a
viewer go out by the direct UDP path (unit/test_adapter.py checks the internals exist)."""

from __future__ import annotations

from aioice.ice import StunProtocol

from helpers.clients import wait_for
from helpers.rooms import live_room
from helpers.servers import Running


async def test_fast_send_path_is_used_with_real_peers(server: Running) -> None:
    """With a real viewer, packets go out by the direct UDP path, not aiortc's coroutines."""
    async with live_room(server) as live:
        viewer = live.viewer
        router = server.ctx.sfu.routers[live.rid]
        consumer = next(iter(router.viewers.values())).consumers["video"]
        assert await wait_for(lambda: consumer.sent > 150 and len(viewer.video_frames) > 30, 20)
        pair = consumer.tap.sender.transport.transport._connection._nominated[1]
        assert isinstance(pair.protocol, StunProtocol)
        sent_by_aiortc = consumer.tap.sender.transport._RTCDtlsTransport__tx_packets
        assert consumer.sent > 100 and sent_by_aiortc < consumer.sent / 2

"""Viewers that arrive before the host, see it leave, and keep watching when it comes back."""

from __future__ import annotations

from helpers.clients import publish, wait_for, watch
from helpers.rooms import live_room
from helpers.servers import Running


async def test_viewer_waits_then_survives_host_reconnect(server: Running) -> None:
    _, token = await server.new_host()
    room = await server.new_room(token)
    rid, key = room["room_id"], room["stream_key"]
    viewer = await watch(server.base, rid)
    try:
        assert await wait_for(lambda: viewer.events, 10)
        assert viewer.events[0]["type"] == "welcome" and viewer.events[0]["live"] is False

        pub = await publish(server.base, rid, key)
        assert await wait_for(lambda: len(viewer.video_frames) >= 20, 20)
        assert any(e["type"] == "host_live" for e in viewer.events)

        await pub.stop()
        assert await wait_for(lambda: any(e["type"] == "host_left" for e in viewer.events), 5)
        router = server.ctx.sfu.routers[rid]
        assert router.producer is None and len(router.viewers) == 1
        frames_before = len(viewer.video_frames)

        pub2 = await publish(server.base, rid, key)
        try:
            # Same viewer connection, no new offer: frames resume from the new publisher.
            assert await wait_for(lambda: len(viewer.video_frames) >= frames_before + 20, 20)
            assert [e["type"] for e in viewer.events].count("host_live") == 2
            assert viewer.pc.connectionState == "connected"
        finally:
            await pub2.stop()
    finally:
        await viewer.stop()
    assert await wait_for(lambda: rid not in server.ctx.sfu.routers, 5)


async def test_dropped_viewer_and_host_are_cleaned_up(server: Running) -> None:
    async with live_room(server) as live:
        rid, pub, viewer = live.rid, live.pub, live.viewer
        assert await wait_for(lambda: len(viewer.video_frames) >= 5, 20)
        # The viewer vanishes without DELETE (tab closed): the server notices and cleans up.
        await viewer.stop(delete=False)
        assert await wait_for(lambda: not server.ctx.sfu.routers[rid].viewers, 40)
        await pub.stop(delete=False)
        assert await wait_for(lambda: rid not in server.ctx.sfu.routers, 40)
        assert not server.ctx.sfu._sessions

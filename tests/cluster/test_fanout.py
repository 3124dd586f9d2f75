"""Real aiortc publisher -> Stallcast SFU -> real aiortc viewers that decode."""

from __future__ import annotations

import asyncio
import threading

from helpers.clients import publish, wait_for, watch
from helpers.servers import Running


async def test_three_viewers_and_a_late_joiner_decode(server: Running) -> None:
    _, token = await server.new_host()
    room = await server.new_room(token)
    viewers = [await watch(server.base, room["room_id"]) for _ in range(3)]
    pub = await publish(server.base, room["room_id"], room["stream_key"])
    try:
        assert await wait_for(lambda: all(len(v.video_frames) >= 30 for v in viewers), 20)
        assert all(v.audio_frames > 0 for v in viewers)
        assert all((640, 480) in v.frame_sizes for v in viewers)
        await asyncio.sleep(5)
        late = await watch(server.base, room["room_id"])
        assert await wait_for(lambda: late.video_frames, 5)
        assert late.first_frame_after is not None and late.first_frame_after < 1.0, (
            f"late viewer's first frame took {late.first_frame_after:.2f}s"
        )
        # The server forwards; it never decodes on the live path.
        decoders = [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]
        # Only the test's own viewers (4 x audio+video) decode in this process.
        assert len(decoders) == 8, decoders
        router = server.ctx.sfu.routers[room["room_id"]]
        assert all(not tap.decoding for tap in router.producer.taps.values())
        viewers.append(late)
    finally:
        for v in viewers:
            await v.stop()
        await pub.stop()

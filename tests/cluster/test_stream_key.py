"""A leaked stream key is rotated: the old key opens nothing from then on, the broadcast
already live carries on (and can still end itself) unless the host asks to cut it off."""

from __future__ import annotations

import aiohttp
import pytest

from helpers.clients import publish, wait_for, watch
from helpers.servers import Running
from helpers.shop import Api


def _types(viewer: object) -> list[str]:
    return [e["type"] for e in viewer.events]  # type: ignore[attr-defined]


async def test_rotation_keeps_the_show_and_locks_the_old_key_out(server: Running) -> None:
    _, host = await server.new_host()
    _, other_host = await server.new_host("Other farm")
    room = await server.new_room(host)
    rid, old_key = room["room_id"], room["stream_key"]
    path = f"/api/rooms/{rid}/stream-key"
    pub = await publish(server.base, rid, old_key)
    viewer = await watch(server.base, rid)
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        try:
            assert await wait_for(lambda: len(viewer.video_frames) >= 10, 20)
            for token, status in [(None, 401), (other_host, 403)]:
                assert (await api.call("POST", path, token))[0] == status
            assert (await api.call("POST", path, host, {"disconnect": "yes"}))[0] == 400
            assert (await api.ok("GET", f"/api/rooms/{rid}", host))["stream_key"] == old_key

            rotated = await api.ok("POST", path, host)
            new_key = rotated["stream_key"]
            assert new_key.startswith("sk_") and new_key != old_key and rotated["live"]
            assert (await api.ok("GET", f"/api/rooms/{rid}", host))["stream_key"] == new_key
            # The live publisher is not cut off: frames keep coming.
            frames = len(viewer.video_frames)
            assert await wait_for(lambda: len(viewer.video_frames) >= frames + 20, 10)
            assert "host_left" not in _types(viewer)
            # The old key opens nothing; the new one is refused only because the room is live.
            with pytest.raises(RuntimeError, match="answered 401"):
                await publish(server.base, rid, old_key)
            with pytest.raises(RuntimeError, match="answered 409"):
                await publish(server.base, rid, new_key)
            # The encoder ends its own session with the key it started with.
            async with http.delete(server.base + pub.location,
                                   headers={"Authorization": "Bearer sk_wrong"}) as resp:
                assert resp.status == 401
            async with http.delete(server.base + pub.location,
                                   headers={"Authorization": f"Bearer {old_key}"}) as resp:
                assert resp.status == 200
            assert await wait_for(lambda: "host_left" in _types(viewer), 5)
            await pub.stop(delete=False)

            # The new key goes live; the old one still does not.
            with pytest.raises(RuntimeError, match="answered 401"):
                await publish(server.base, rid, old_key)
            pub = await publish(server.base, rid, new_key)
            frames = len(viewer.video_frames)
            assert await wait_for(lambda: len(viewer.video_frames) >= frames + 20, 20)

            # A host who wants the leaked key's broadcast gone says so.
            final = await api.ok("POST", path, host, {"disconnect": True})
            assert final["stream_key"] not in (old_key, new_key) and final["live"] is False
            assert await wait_for(lambda: _types(viewer).count("host_left") == 2, 5)
            router = server.ctx.sfu.routers[rid]
            assert router.producer is None
            await pub.stop(delete=False)
            # The room is free again at once for the newest key.
            pub = await publish(server.base, rid, final["stream_key"])
            frames = len(viewer.video_frames)
            assert await wait_for(lambda: len(viewer.video_frames) >= frames + 20, 20)
            assert _types(viewer).count("host_live") == 2  # live at the viewer's welcome
        finally:
            await pub.stop()
            await viewer.stop()

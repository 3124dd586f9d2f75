"""The show as viewers know it: ended when the host ends it or stays away past the rejoin
grace (not "the host left"), its replay announced once a class is made; one publisher per
room, a second device answered 409 already_live unless it takes over, and the host's room
view says what is live."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from helpers.clients import Viewer, publish, wait_for, watch
from helpers.rooms import live_room
from helpers.servers import Running, start_server
from helpers.shop import Api

# A drop is noticed within a few seconds; a dropped host's show ends 2 s after.
DROP_ENV = {"STALLCAST_WEBRTC_CONSENT_INTERVAL_S": "1", "STALLCAST_WEBRTC_CONSENT_FAILURES": "3",
            "STALLCAST_RECORDING_REJOIN_GRACE_S": "2"}


def types(viewer: Viewer) -> list[str]:
    return [str(e.get("type")) for e in viewer.events]


async def _state(api: Api, rid: str) -> dict[str, Any]:
    return await api.ok("GET", f"/api/rooms/{rid}/state")  # type: ignore[no-any-return]


async def test_ending_the_broadcast_ends_the_show_and_announces_its_replay(
        server: Running) -> None:
    async with live_room(server) as live, aiohttp.ClientSession() as http:
        api, rid, viewer = Api(server.base, http), live.rid, live.viewer
        assert await wait_for(lambda: len(viewer.video_frames) >= 30, 20)
        show = (await _state(api, rid))["show"]
        assert show["state"] == "live" and show["session_id"].startswith("sess_")
        sid = show["session_id"]
        assert (await api.ok("GET", f"/api/rooms/{rid}/public"))["live"] is True

        await live.pub.stop()  # WHIP DELETE
        assert await wait_for(lambda: viewer.of("show_ended"), 10)
        ended = viewer.of("show_ended")[0]
        assert ended["session_id"] == sid and ended["replay_url"] is None
        assert types(viewer).index("host_left") < types(viewer).index("show_ended")
        assert viewer.of("host_left")[0]["reason"] == "ended"
        show = (await _state(api, rid))["show"]
        assert show["state"] == "ended" and show["session_id"] == sid
        assert isinstance(show["ended_at"], float) and show["replay_url"] is None

        cls = await api.ok("POST", f"/api/sessions/{sid}/class", live.host,
                           {"title": "Mango class", "price": 500})
        assert await wait_for(lambda: viewer.of("replay_ready"), 10)
        assert viewer.of("replay_ready")[0] == {
            **viewer.of("replay_ready")[0], "session_id": sid, "class_id": cls["class_id"],
            "url": f"/classes/{cls['class_id']}"}
        show = (await _state(api, rid))["show"]
        assert show["state"] == "ended" and show["replay_url"] == f"/classes/{cls['class_id']}"


async def test_a_dropped_host_is_away_then_the_show_ends_after_the_grace(
        redis_url: str) -> None:
    async with start_server(redis_url, DROP_ENV) as server, live_room(server) as live, \
            aiohttp.ClientSession() as http:
        api, rid, viewer = Api(server.base, http), live.rid, live.viewer
        assert await wait_for(lambda: len(viewer.video_frames) >= 10, 20)
        sid = (await _state(api, rid))["show"]["session_id"]
        await live.pub.stop(delete=False)  # gone without a goodbye
        assert await wait_for(lambda: viewer.of("host_left"), 20)
        assert viewer.of("host_left")[0]["reason"] == "dropped"
        assert not viewer.of("show_ended")
        show = (await _state(api, rid))["show"]
        assert show["state"] in ("away", "ended"), show  # "ended" only if the grace ran out
        assert await wait_for(lambda: viewer.of("show_ended"), 15)
        assert viewer.of("show_ended")[0]["session_id"] == sid
        assert (await _state(api, rid))["show"]["state"] == "ended"
        assert viewer.pc.connectionState == "connected"  # still there for the next show


async def test_a_second_device_gets_409_then_takes_over_the_same_session(
        server: Running) -> None:
    async with live_room(server) as live, aiohttp.ClientSession() as http:
        api, rid, key, viewer = Api(server.base, http), live.rid, live.room["stream_key"], \
            live.viewer
        assert await wait_for(lambda: len(viewer.video_frames) >= 30, 20)
        # Viewers hear the audience change; the snapshot counts them too.
        other = await watch(server.base, rid)
        try:
            assert await wait_for(lambda: [e for e in viewer.of("audience")
                                           if e["viewers"] == 2], 15)
            assert (await _state(api, rid))["viewers"] == 2
        finally:
            await other.stop()
        assert await wait_for(lambda: viewer.of("audience")[-1]["viewers"] == 1, 15)
        assert (await _state(api, rid))["viewers"] == 1
        # The room view tells a second device what is live, and how it is doing.
        sid = (await _state(api, rid))["show"]["session_id"]
        view = await api.ok("GET", f"/api/rooms/{rid}", live.host)
        session = view["session"]
        assert view["live"] is True and session["session_id"] == sid
        assert (session["codec"], session["width"], session["height"]) == ("vp8", 640, 480)
        assert session["viewers"] == 1 and session["started_at"] > 0
        assert {"fps", "bitrate_bps"} <= set(session)

        try:
            second = await publish(server.base, rid, key)
        except RuntimeError as exc:
            assert "409" in str(exc) and "already_live" in str(exc)
        else:
            await second.stop()
            raise AssertionError("a second publisher was let in")

        old_session = server.ctx.sfu.routers[rid].producer.session_id  # type: ignore[union-attr]
        new = await publish(server.base, f"{rid}?takeover=1", key)
        try:
            assert await wait_for(lambda: live.pub.pc.connectionState in ("closed", "failed"),
                                  20)
            router = server.ctx.sfu.routers[rid]
            assert router.producer is not None and router.producer.session_id != old_session
            frames = len(viewer.video_frames)
            assert await wait_for(lambda: len(viewer.video_frames) >= frames + 30, 20)
            assert viewer.of("host_left")[-1]["reason"] == "takeover"
            seen = types(viewer)
            assert "host_live" in seen[seen.index("host_left"):]
            assert not viewer.of("show_ended")
            show = (await _state(api, rid))["show"]
            assert show == {**show, "state": "live", "session_id": sid}  # the same session
            assert (await api.ok("GET", f"/api/rooms/{rid}", live.host))["session"][
                "session_id"] == sid
        finally:
            await new.stop()
        assert await wait_for(lambda: viewer.of("show_ended"), 10)
        assert (await api.ok("GET", f"/api/rooms/{rid}", live.host))["session"] is None


async def test_an_idle_room_has_no_show(server: Running) -> None:
    _, host = await server.new_host()
    room = await server.new_room(host)
    viewer = await watch(server.base, room["room_id"])
    try:
        assert await wait_for(lambda: viewer.of("welcome"), 15)
        snapshot = viewer.of("welcome")[0]["snapshot"]
        assert snapshot["show"] == {"state": "idle", "session_id": None, "ended_at": None,
                                    "replay_url": None}
        assert snapshot["viewers"] == 0 and snapshot["pinned_message"] is None
    finally:
        await viewer.stop()


async def test_a_takeover_on_another_node_ends_the_first_publisher_there(
        redis_url: str) -> None:
    """The second device's offer lands on another node: the node holding the room is told
    over the bus to end its publisher, and the session carries on where the new one is."""
    async with start_server(redis_url) as node_a, start_server(redis_url) as node_b, \
            aiohttp.ClientSession() as http:
        _, host = await node_a.new_host()
        room = await node_a.new_room(host)
        rid, key = room["room_id"], room["stream_key"]
        first = await publish(node_a.base, rid, key)
        second = None
        try:
            assert await wait_for(lambda: first.pc.connectionState == "connected", 15)
            api_b = Api(node_b.base, http)
            assert await wait_for(lambda: rid in node_a.ctx.sfu.routers, 5)
            sid = None
            for _ in range(50):
                sid = (await _state(api_b, rid))["show"]["session_id"]
                if sid:
                    break
                await asyncio.sleep(0.1)
            assert sid and (await api_b.ok("GET", f"/api/rooms/{rid}", host))["session"][
                "session_id"] == sid  # node B knows the room is live on node A
            try:
                second = await publish(node_b.base, rid, key)
            except RuntimeError as exc:
                assert "already_live" in str(exc)
            else:
                raise AssertionError("node B let a second publisher in")
            second = await publish(node_b.base, f"{rid}?takeover=1", key)
            assert await wait_for(lambda: first.pc.connectionState in ("closed", "failed"), 20)
            assert node_a.ctx.sfu.routers.get(rid) is None or \
                node_a.ctx.sfu.routers[rid].producer is None
            assert node_b.ctx.sfu.routers[rid].producer is not None
            show: dict[str, Any] = {}
            for _ in range(50):
                show = (await _state(api_b, rid))["show"]
                if show["state"] == "live":
                    break
                await asyncio.sleep(0.1)
            assert show["state"] == "live" and show["session_id"] == sid
        finally:
            if second is not None:
                await second.stop()
            await first.stop()

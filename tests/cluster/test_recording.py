"""A live session is recorded from forwarded packets and packaged as HLS VOD."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import aiohttp
import av
import pytest

from helpers.clients import publish, wait_for
from helpers.rooms import open_shop
from helpers.servers import Running
from helpers.shop import Api


async def wait_session(api: Api, token: str, status: str, timeout: float) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        sessions = (await api.ok("GET", "/api/sessions", token))["sessions"]
        if sessions and sessions[0]["status"] == status:
            return sessions[0]  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"session never became {status}: {sessions}")


def decode_hls(playlist: str) -> dict[str, float]:
    first: dict[str, float] = {}
    last = 0.0
    frames = {"video": 0, "audio": 0}
    ends: dict[str, float] = {}
    with av.open(playlist) as container:
        for frame in container.decode(*container.streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            assert frame.pts is not None and frame.time_base is not None
            t = float(frame.pts * frame.time_base)
            first.setdefault(kind, t)
            last = max(last, t)
            ends[kind] = max(ends.get(kind, 0.0), t)
            frames[kind] += 1
    return {"first_video": first["video"], "first_audio": first["audio"], "last": last,
            "video_frames": frames["video"], "audio_frames": frames["audio"],
            "last_video": ends["video"], "last_audio": ends["audio"]}


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_twenty_second_session_becomes_hls(server: Running, codec: str) -> None:
    async with open_shop(server, title="Tea set") as shop:
        api, token, rid, product = shop.api, shop.host, shop.rid, shop.product
        pub = await publish(server.base, rid, shop.room["stream_key"], codec=codec)
        assert await wait_for(lambda: server.ctx.sfu.routers[rid].recorder is not None, 10)
        await asyncio.sleep(5)
        pinned_at = time.time()
        await api.ok("PUT", f"/api/rooms/{rid}/pin", token, {"product_id": product["product_id"]})
        await asyncio.sleep(15)
        # No decoder runs on the server's live path while it records.
        assert not [t for t in threading.enumerate() if t.name.endswith("-decoder")]
        await pub.stop()
        session = await wait_session(api, token, "ready", 60)
        detail = await api.ok("GET", f"/api/sessions/{session['session_id']}", token)
    session_length = detail["ended_at"] - detail["started_at"]
    assert 19.5 < session_length < 22
    # The session starts when the host is answered; its media a connection set-up later.
    media_start = detail["started_at"] + detail["offset_ms"] / 1000
    assert 0 <= detail["offset_ms"] < 3000
    with_media = detail["ended_at"] - media_start
    assert abs(detail["duration"] - with_media) < 0.5, (detail["duration"], with_media)
    assert detail["codec"] == codec.lower()
    playlist = server.config.data_dir / "vod" / session["session_id"] / "index.m3u8"
    hls = decode_hls(str(playlist))
    assert abs(hls["last"] - detail["duration"]) < 0.5
    assert abs(hls["first_video"] - hls["first_audio"]) < 0.1
    assert hls["video_frames"] > 20 * 25 and hls["audio_frames"] > 20 * 40
    pins = [e for e in detail["timeline"] if e["type"] == "card_pinned"]
    assert len(pins) == 1 and pins[0]["card"]["title"] == "Tea set"
    expected = pinned_at - media_start
    assert abs(pins[0]["at"] - expected) < 0.6, (pins[0]["at"], expected)
    assert (playlist.parent / "poster.jpg").stat().st_size > 1000
    # Keyframes were asked for while recording, so even remuxed H264 cuts into ~4 s segments
    # (and a class's free preview ends near where it should).
    durations = [float(ln[8:].split(",")[0]) for ln in playlist.read_text().splitlines()
                 if ln.startswith("#EXTINF:")]
    assert len(durations) >= 4 and max(durations) < 6.5, durations


async def test_class_store_signed_urls_and_entitlement(server: Running) -> None:
    _, token = await server.new_host()
    _, other = await server.new_host("Other teacher")
    room = await server.new_room(token)
    rid = room["room_id"]
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        pub = await publish(server.base, rid, room["stream_key"], codec="H264")
        await asyncio.sleep(10)
        await pub.stop()
        session = await wait_session(api, token, "ready", 60)
        sid = session["session_id"]
        status, _ = await api.call("POST", f"/api/sessions/{sid}/class", other, {"price": 100})
        assert status == 403
        status, _ = await api.call("POST", f"/api/sessions/{sid}/class", token, {"price": -1})
        assert status == 400
        cls = await api.ok("POST", f"/api/sessions/{sid}/class", token, {
            "title": "Brewing oolong", "price": 990, "currency": "CNY", "preview_seconds": 4})
        cid = cls["class_id"]
        listed = (await api.ok("GET", "/api/classes"))["classes"]
        assert [c["class_id"] for c in listed] == [cid] and listed[0]["poster"]

        _, viewer = await api.viewer()
        play = await api.ok("GET", f"/api/classes/{cid}/play", viewer)
        assert play["entitled"] is False
        async with http.get(server.base + play["playlist"]) as resp:
            assert resp.status == 200
            preview = await resp.text()
        preview_segments = [ln for ln in preview.splitlines() if ln.startswith("/vod/")]
        assert preview.rstrip().endswith("#EXT-X-ENDLIST") and "scope=preview" in preview
        full_count = (server.config.data_dir / "vod" / sid / "index.m3u8").read_text().count(
            ".ts")
        assert 1 <= len(preview_segments) < full_count
        async with http.get(server.base + preview_segments[0]) as resp:
            assert resp.status == 200 and len(await resp.read()) > 1000
        # A tampered signature, a stretched expiry, another file's signature, none at all.
        path, _, query = preview_segments[0].partition("?")
        params = dict(p.split("=") for p in query.split("&"))
        flipped = params["sig"][:-1] + ("1" if params["sig"][-1] == "0" else "0")
        tampered = [
            f"{path}?exp={params['exp']}&scope=preview&sig={flipped}",
            f"{path}?exp={int(params['exp']) + 60}&scope=preview&sig={params['sig']}",
            f"{path}?exp={params['exp']}&scope=full&sig={params['sig']}",
            path.replace("seg_00000", f"seg_{full_count - 1:05d}") + "?" + query,
            path,
            f"{path}?exp={int(time.time()) - 10}&scope=preview&sig={params['sig']}",
        ]
        for url in tampered:
            async with http.get(server.base + url) as resp:
                assert resp.status == 403, url
        expired = server.ctx.signer.sign(f"/vod/{cid}/index.m3u8", "full",
                                          now=time.time() - 7200)
        async with http.get(server.base + expired) as resp:
            assert resp.status == 403

        # A class is never cash on delivery: it waits for its payment, unlocks nothing yet,
        # and is no parcel for the courier.
        order = await api.ok("POST", f"/api/classes/{cid}/buy", viewer, {
            "idempotency_key": "class-buy-001", "contact": {"name": "Mei", "phone": "+81 3 1234"}})
        assert order["status"] == "reserved" and order["kind"] == "digital", order
        assert order["payment"]["method"] == "transfer"
        assert (await api.ok("GET", f"/api/classes/{cid}/play", viewer))["entitled"] is False
        oid = order["order_id"]
        await api.ok("POST", f"/api/orders/{oid}/confirm", token)
        status, body = await api.call("POST", f"/api/orders/{oid}/ship", token,
                                      {"tracking_number": "SF123456"})
        assert status == 409, body
        csv_text = (await api.call("GET", "/api/orders.csv", token))[1]
        assert oid not in csv_text and "Brewing oolong" not in csv_text
        play = await api.ok("GET", f"/api/classes/{cid}/play", viewer)
        assert play["entitled"] is True and "scope=full" in play["playlist"]
        async with http.get(server.base + play["playlist"]) as resp:
            full = await resp.text()
        assert full.count("/vod/") == full_count
        await api.ok("PUT", f"/api/classes/{cid}/position", viewer, {"seconds": 6.5})
        assert (await api.ok("GET", f"/api/classes/{cid}/play", viewer))["position"] == 6.5
        status, _ = await api.call("PUT", f"/api/classes/{cid}/position", viewer,
                                   {"seconds": 99999})
        assert status == 400
        orders = await api.orders(token)
        assert [o["product_title"] for o in orders] == ["Brewing oolong"]
        assert orders[0]["kind"] == "digital" and orders[0]["status"] == "confirmed"

        # One recording is one class: a second attempt points at the first.
        status, body = await api.call("POST", f"/api/sessions/{sid}/class", token,
                                      {"title": "Oolong again", "price": 1})
        assert status == 409 and cid in body["error"]["message"], body
        assert [c["class_id"] for c in (await api.ok("GET", "/api/classes"))["classes"]] == [
            cid]
        # A refund (cancelling the paid order) takes the access back.
        await api.ok("POST", f"/api/orders/{oid}/cancel", token)
        play = await api.ok("GET", f"/api/classes/{cid}/play", viewer)
        assert play["entitled"] is False and "scope=preview" in play["playlist"]


async def test_recording_can_be_turned_off(server: Running) -> None:
    _, token = await server.new_host()
    room = await server.new_room(token)
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        updated = await api.ok("PATCH", f"/api/rooms/{room['room_id']}", token, {"record": False})
        assert updated["record"] is False
        status, _ = await api.call("PATCH", f"/api/rooms/{room['room_id']}", token,
                                   {"record": "no"})
        assert status == 400
        pub = await publish(server.base, room["room_id"], room["stream_key"])
        await asyncio.sleep(2)
        assert server.ctx.sfu.routers[room["room_id"]].recorder is None
        await pub.stop()
        session = await wait_session(api, token, "ended", 10)  # a session, but no recording
        status, _ = await api.call("POST", f"/api/sessions/{session['session_id']}/class",
                                   token, {"price": 100})
        assert status == 409


async def test_a_host_who_drops_and_returns_stays_in_sync(server: Running) -> None:
    """One session, one file across the gap; after packaging, sound and picture still line
    up on both sides of it (the gap is silence, not audio pulled forward)."""
    _, token = await server.new_host()
    room = await server.new_room(token)
    rid = room["room_id"]
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        first = await publish(server.base, rid, room["stream_key"], codec="H264")
        assert await wait_for(lambda: server.ctx.sfu.routers[rid].frames_in > 30, 10)
        await asyncio.sleep(3)
        await first.pc.close()  # the host's network drops: no DELETE
        routers = server.ctx.sfu.routers
        assert await wait_for(lambda: rid not in routers or routers[rid].producer is None, 10)
        await asyncio.sleep(3)
        back = await publish(server.base, rid, room["stream_key"], codec="H264")
        assert await wait_for(lambda: rid in routers and routers[rid].frames_in > 30, 10)
        await asyncio.sleep(3)
        await back.stop()
        session = await wait_session(api, token, "ready", 60)
        sessions = (await api.ok("GET", "/api/sessions", token))["sessions"]
    assert len(sessions) == 1  # the same session continued
    hls = decode_hls(str(server.config.data_dir / "vod" / session["session_id"] /
                         "index.m3u8"))
    assert hls["last_video"] > 9, hls  # ~4 s, a ~3 s gap, ~4 s
    assert abs(hls["last_audio"] - hls["last_video"]) < 0.3, hls

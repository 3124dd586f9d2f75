"""Caps that keep a node alive: half-open WebRTC sessions per address and in total, viewers
per room and per node, and the open-file limit raised to what they need."""

from __future__ import annotations

import subprocess
import sys

import aiohttp
from aiortc import RTCPeerConnection

from helpers.clients import wait_for, watch
from helpers.servers import Running, start_server
from server.live.limits import FILES_BASE

LIMITED = {"STALLCAST_HTTP_TRUSTED_PROXIES": "127.0.0.1",
           "STALLCAST_LIMITS_HALF_OPEN_PER_CLIENT": "3", "STALLCAST_LIMITS_HALF_OPEN_TOTAL": "5",
           "STALLCAST_LIMITS_VIEWERS_PER_ROOM": "2", "STALLCAST_LIMITS_VIEWERS_PER_NODE": "3",
           "STALLCAST_LIMITS_RETRY_AFTER_S": "7"}


async def _viewer_offer() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.createDataChannel("events")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


async def _post(http: aiohttp.ClientSession, server: Running, rid: str, sdp: str,
                address: str) -> tuple[int, str, dict[str, str]]:
    async with http.post(f"{server.base}/whep/{rid}", data=sdp, headers={
            "Content-Type": "application/sdp", "X-Forwarded-For": address}) as resp:
        return resp.status, resp.headers.get("Location", ""), dict(resp.headers)


async def test_half_open_sessions_are_capped_per_address_and_in_total(redis_url: str) -> None:
    env = {**LIMITED, "STALLCAST_LIMITS_VIEWERS_PER_ROOM": "100",
           "STALLCAST_LIMITS_VIEWERS_PER_NODE": "100"}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        _, token = await server.new_host()
        rid = (await server.new_room(token))["room_id"]
        sdp = await _viewer_offer()
        # Offers that never go on to ICE: each holds a peer connection until it times out.
        made = [await _post(http, server, rid, sdp, "203.0.113.5") for _ in range(3)]
        assert [m[0] for m in made] == [201] * 3
        status, _, headers = await _post(http, server, rid, sdp, "203.0.113.5")
        assert status == 429 and int(headers["Retry-After"]) > 0
        # Another address has its own share, until the node's total is reached.
        more = [await _post(http, server, rid, sdp, "198.51.100.8") for _ in range(2)]
        assert [m[0] for m in more] == [201] * 2
        status, _, headers = await _post(http, server, rid, sdp, "198.51.100.9")
        assert status == 503 and headers["Retry-After"] == "7"
        async with http.get(f"{server.base}/healthz") as resp:
            assert resp.status == 200
        # Ending half-open sessions gives their places back.
        for _, location, _ in made:
            async with http.delete(server.base + location) as resp:
                assert resp.status in (200, 204)
        assert await wait_for(lambda: len(server.ctx.sfu._sessions) == 2, 5)
        status, _, _ = await _post(http, server, rid, sdp, "203.0.113.5")
        assert status == 201


async def test_viewers_are_capped_per_room_and_per_node(redis_url: str) -> None:
    async with start_server(redis_url, LIMITED) as server, aiohttp.ClientSession() as http:
        _, token = await server.new_host()
        room_a = (await server.new_room(token, "A"))["room_id"]
        room_b = (await server.new_room(token, "B"))["room_id"]
        watching = [await watch(server.base, room_a), await watch(server.base, room_a)]
        try:
            assert await wait_for(lambda: all(v.channel and v.channel.readyState == "open"
                                              for v in watching), 20)
            sdp = await _viewer_offer()
            status, _, headers = await _post(http, server, room_a, sdp, "192.0.2.1")
            assert status == 503 and headers["Retry-After"] == "7"  # the room is full
            watching.append(await watch(server.base, room_b))  # the node has one place left
            assert await wait_for(lambda: watching[-1].channel is not None
                                  and watching[-1].channel.readyState == "open", 20)
            status, _, _ = await _post(http, server, room_b, sdp, "192.0.2.2")
            assert status == 503  # the node is full
            # The host's own studio connection is not audience and still gets in.
            async with http.post(f"{server.base}/whep/{room_a}", data=sdp, headers={
                    "Content-Type": "application/sdp",
                    "Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 201, await resp.text()
        finally:
            for v in watching:
                await v.stop()


def test_serve_raises_its_open_file_limit_to_what_the_caps_need() -> None:
    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from server.platform.config import load_config\n"
        "from server.live.limits import raise_open_file_limit\n"
        "print(raise_open_file_limit(load_config().limits), hard)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    now, hard = out.stdout.split()
    assert int(now) >= min(FILES_BASE * 4, int(hard)) and int(now) > 256, out.stdout

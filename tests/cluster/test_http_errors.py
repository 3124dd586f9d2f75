"""Every public HTTP entry point answers bad input with the right status and keeps serving."""

from __future__ import annotations

import aiohttp
from aiortc import RTCPeerConnection

from helpers.clients import publish, wait_for
from helpers.servers import Running, start_server


async def offer_sdp(kind: str = "video", direction: str = "sendonly") -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver(kind, direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def healthy(http: aiohttp.ClientSession, base: str) -> bool:
    async with http.get(f"{base}/healthz") as resp:
        return resp.status == 200


async def test_whip_errors(server: Running) -> None:
    _, token = await server.new_host()
    room = await server.new_room(token)
    rid, key = room["room_id"], room["stream_key"]
    url = f"{server.base}/whip/{rid}"
    good = await offer_sdp()
    sdp_type = {"Content-Type": "application/sdp"}
    auth = {**sdp_type, "Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as http:
        cases = [
            (url, sdp_type, good, 401),
            (url, {**sdp_type, "Authorization": "Bearer sk_wrong"}, good, 401),
            (url, {**sdp_type, "Authorization": "Basic abc"}, good, 401),
            (f"{server.base}/whip/r_nope", auth, good, 404),
            (url, {"Content-Type": "text/plain", "Authorization": f"Bearer {key}"}, good, 415),
            (url, auth, "hello", 400),
            (url, auth, "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", 400),
            (url, auth, await offer_sdp(direction="recvonly"), 400),
            (url, auth, good.replace("VP8", "XYZ").replace("H264", "XYZ"), 400),
            (url, auth, "v=0\r\n" + "a=x\r\n" * 20000, 413),
            (url, auth, b"v=0\xff\xfe", 400),
        ]
        for target, headers, body, status in cases:
            async with http.post(target, data=body, headers=headers) as resp:
                assert resp.status == status, (status, await resp.text())
                if status >= 400:
                    err = (await resp.json())["error"]
                    assert err["code"] and err["message"]
                if status == 401:
                    assert "WWW-Authenticate" in resp.headers
            assert await healthy(http, server.base)

        # A real publisher takes the room; a second one gets 409.
        pub = await publish(server.base, rid, key)
        try:
            async with http.post(url, data=good, headers=auth) as resp:
                assert resp.status == 409
                assert "publisher" in (await resp.json())["error"]["message"]
            session = f"{server.base}{pub.location}"
            async with http.patch(session, data="a=end-of-candidates",
                                  headers={"Content-Type": "application/trickle-ice-sdpfrag"}) as r:
                assert r.status == 405
            async with http.delete(session) as r:
                assert r.status == 401
            async with http.delete(session, headers={"Authorization": f"Bearer {key}"}) as r:
                assert r.status == 200
            async with http.delete(session, headers={"Authorization": f"Bearer {key}"}) as r:
                assert r.status == 404
            # The room is free again.
            assert await wait_for(lambda: server.ctx.sfu.routers.get(rid) is None
                                  or server.ctx.sfu.routers[rid].producer is None, 5)
        finally:
            await pub.stop(delete=False)


async def test_whep_errors_and_cors(server: Running) -> None:
    _, token = await server.new_host()
    room = await server.new_room(token)
    rid = room["room_id"]
    url = f"{server.base}/whep/{rid}"
    sdp_type = {"Content-Type": "application/sdp"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.base}/whep/r_missing", data=await offer_sdp(
                direction="recvonly"), headers=sdp_type) as resp:
            assert resp.status == 404
        async with http.post(url, data="garbage", headers=sdp_type) as resp:
            assert resp.status == 400
        async with http.post(url, data="x" * 70000, headers=sdp_type) as resp:
            assert resp.status == 413
        async with http.post(url, data=await offer_sdp(direction="recvonly"),
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 415
        async with http.delete(f"{url}/nosuchsession") as resp:
            assert resp.status == 404
        # CORS preflight from a page on another origin, then the answer exposes Location.
        pre = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type"}
        async with http.options(f"{server.base}/whip/{rid}", headers=pre) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
        async with http.options(f"{server.base}/whip/{rid}") as resp:
            assert resp.status == 204 and resp.headers["Accept-Post"] == "application/sdp"
        async with http.post(url, data=await offer_sdp(direction="recvonly"),
                             headers={**sdp_type, "Origin": "https://shop.example"}) as resp:
            assert resp.status == 201
            assert resp.headers["Content-Type"].startswith("application/sdp")
            assert "Location" in resp.headers["Access-Control-Expose-Headers"]
            location = resp.headers["Location"]
        async with http.delete(f"{server.base}{location}") as resp:
            assert resp.status == 200
        assert await healthy(http, server.base)


async def test_rooms_api_auth_and_validation(server: Running) -> None:
    _, alice = await server.new_host("Alice's orchard")
    _, bob = await server.new_host("Bob's classes")
    room = await server.new_room(alice, "Mangoes")
    rid = room["room_id"]
    assert room["whip_url"].endswith(f"/whip/{rid}") and room["whep_url"].endswith(f"/whep/{rid}")
    assert room["watch_url"].endswith(f"/watch/{rid}")
    A = {"Authorization": f"Bearer {alice}"}
    B = {"Authorization": f"Bearer {bob}"}
    api = f"{server.base}/api/rooms"
    async with aiohttp.ClientSession() as http:
        for headers, status in [({}, 401), ({"Authorization": "Bearer nope"}, 401)]:
            async with http.get(api, headers=headers) as resp:
                assert resp.status == status
        async with http.get(f"{api}/{rid}", headers=B) as resp:
            assert resp.status == 403
        async with http.patch(f"{api}/{rid}", json={"title": "mine"}, headers=B) as resp:
            assert resp.status == 403
        async with http.delete(f"{api}/{rid}", headers=B) as resp:
            assert resp.status == 403
        async with http.get(api, headers=B) as resp:
            assert (await resp.json())["rooms"] == []
        async with http.get(api, headers=A) as resp:
            assert [r["room_id"] for r in (await resp.json())["rooms"]] == [rid]
        async with http.get(f"{api}/r_unknown", headers=A) as resp:
            assert resp.status == 404
        for body, status in [({"title": ""}, 400), ({"title": 5}, 400), ({}, 400),
                             ({"title": "x" * 201}, 400)]:
            async with http.post(api, json=body, headers=A) as resp:
                assert resp.status == status
        async with http.post(api, data="{not json", headers={
                **A, "Content-Type": "application/json"}) as resp:
            assert resp.status == 400
        async with http.post(api, data="[1]", headers={
                **A, "Content-Type": "application/json"}) as resp:
            assert resp.status == 400
        async with http.post(api, data="title=x", headers=A) as resp:
            assert resp.status == 415
        async with http.post(api, data="{" + " " * 20000 + "}", headers={
                **A, "Content-Type": "application/json"}) as resp:
            assert resp.status == 413
        async with http.patch(f"{api}/{rid}", json={"title": "Ripe mangoes"}, headers=A) as resp:
            assert resp.status == 200 and (await resp.json())["title"] == "Ripe mangoes"
        async with http.get(f"{api}/{rid}/public") as resp:
            assert await resp.json() == {"room_id": rid, "title": "Ripe mangoes", "live": False}
        async with http.put(api, headers=A) as resp:
            assert resp.status == 405
            assert (await resp.json())["error"]["code"] == "method_not_allowed"
        async with http.get(f"{server.base}/no/such/page") as resp:
            assert resp.status == 404
        async with http.delete(f"{api}/{rid}", headers=A) as resp:
            assert resp.status == 204
        async with http.get(f"{api}/{rid}", headers=A) as resp:
            assert resp.status == 404
        assert await healthy(http, server.base)


async def test_healthz_follows_redis(server: Running) -> None:
    async with aiohttp.ClientSession() as http:
        assert await healthy(http, server.base)
        await server.ctx.redis.shutdown(nosave=True)
        async with http.get(f"{server.base}/healthz") as resp:
            assert resp.status == 503
            assert "redis" in (await resp.json())["error"]["message"]


async def test_ice_servers_are_announced(redis_url: str) -> None:
    env = {
        "STALLCAST_WEBRTC_ICE_SERVERS": "stun:stun.example.org:3478,turn:turn.example.org:3478",
        "STALLCAST_WEBRTC_TURN_USERNAME": "stall",
        "STALLCAST_WEBRTC_TURN_CREDENTIAL": "secret",
    }
    async with start_server(redis_url, env) as running:
        # The server itself uses these servers when it gathers candidates.
        servers = running.ctx.sfu.settings.rtc_configuration().iceServers
        assert [s.urls for s in servers] == ["stun:stun.example.org:3478",
                                             "turn:turn.example.org:3478"]
        assert servers[1].username == "stall" and servers[1].credential == "secret"
        async with aiohttp.ClientSession() as http:
            async with http.options(f"{running.base}/whip/r_any") as resp:
                links = resp.headers.getall("Link")
        assert '<stun:stun.example.org:3478>; rel="ice-server"' in links
        assert any("turn.example.org" in link and 'username="stall"' in link
                   and 'credential="secret"' in link for link in links)


async def test_public_ip_is_advertised_in_answers(redis_url: str) -> None:
    async with start_server(redis_url, {"STALLCAST_WEBRTC_PUBLIC_IP": "198.51.100.7"}) as running:
        _, token = await running.new_host()
        room = await running.new_room(token)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{running.base}/whep/{room['room_id']}",
                                 data=await offer_sdp(direction="recvonly"),
                                 headers={"Content-Type": "application/sdp"}) as resp:
                assert resp.status == 201
                answer = await resp.text()
        hosts = [ln for ln in answer.splitlines() if "typ host" in ln]
        assert hosts and all(" 198.51.100.7 " in ln for ln in hosts)

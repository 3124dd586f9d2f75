"""Offers that would cost the node more than any publisher or viewer needs are refused
before aiortc allocates anything for them."""

from __future__ import annotations

import aiohttp
from aiortc import RTCPeerConnection

from helpers.servers import Running


async def _offer(*kinds: str, direction: str = "recvonly", data: bool = False) -> str:
    pc = RTCPeerConnection()
    for kind in kinds:
        pc.addTransceiver(kind, direction=direction)
    if data:
        pc.createDataChannel("events")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return str(sdp)


def _many_m_lines(sdp: str, count: int) -> str:
    head, _, _ = sdp.partition("m=")
    block = ("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:{i}\r\n"
             "a=recvonly\r\na=rtpmap:96 VP8/90000\r\n")
    return head + "".join(block.format(i=i) for i in range(count))


async def test_too_many_m_lines_and_missing_fingerprints_are_refused(server: Running) -> None:
    _, token = await server.new_host()
    room = await server.new_room(token)
    rid, key = room["room_id"], room["stream_key"]
    viewer_offer = await _offer("audio", "video", data=True)
    publisher_offer = await _offer("audio", "video", direction="sendonly")
    no_fingerprint = "\r\n".join(line for line in viewer_offer.split("\r\n")
                                 if not line.startswith("a=fingerprint"))
    data_only = await _offer(data=True)
    data_no_fp = "\r\n".join(line for line in data_only.split("\r\n")
                             if not line.startswith("a=fingerprint"))
    sdp = {"Content-Type": "application/sdp"}
    whip = {**sdp, "Authorization": f"Bearer {key}"}
    cases = [
        (f"/whep/{rid}", sdp, _many_m_lines(viewer_offer, 500), "m-lines"),
        (f"/whep/{rid}", sdp, _many_m_lines(viewer_offer, 6), "m-lines"),
        (f"/whep/{rid}", sdp, await _offer(*["video"] * 3, data=True), "at most"),
        (f"/whep/{rid}", sdp, no_fingerprint, "fingerprint"),
        (f"/whep/{rid}", sdp, data_no_fp, "fingerprint"),
        (f"/whip/{rid}", whip, "\r\n".join(line for line in publisher_offer.split("\r\n")
                                           if not line.startswith("a=fingerprint")),
         "fingerprint"),
        (f"/whip/{rid}", whip, _many_m_lines(publisher_offer, 40), "m-lines"),
    ]
    async with aiohttp.ClientSession() as http:
        for path, headers, body, reason in cases:
            async with http.post(server.base + path, data=body, headers=headers) as resp:
                text = await resp.text()
                assert resp.status == 400, (path, reason, resp.status, text[:300])
                assert reason in (await resp.json())["error"]["message"], text
            async with http.get(f"{server.base}/healthz") as resp:
                assert resp.status == 200
        # Nothing was kept for any of them, and an honest viewer still gets its answer.
        assert not server.ctx.sfu._sessions
        async with http.post(f"{server.base}/whep/{rid}", data=viewer_offer,
                             headers=sdp) as resp:
            assert resp.status == 201, await resp.text()

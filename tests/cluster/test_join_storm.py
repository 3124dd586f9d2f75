"""A crowd joining at once costs the newcomers join time, never the host or the audience.

Behaviour only (no timed assertions): a burst of viewers is admitted a few at a time while
the host and the viewers already watching keep their connections and keep receiving; every
peer of the node shares one DTLS certificate; a full join queue answers 503 with
Retry-After; a consent check the node itself was too late to judge does not count.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import aiohttp
from aioice import ice as aioice_ice
from aioice import stun as aioice_stun
from aiortc import RTCPeerConnection

from helpers import ROOT
from helpers.clients import publish, wait_for, watch
from helpers.servers import Running, start_server
from media.aiortc_peer import judge_consent_by, local_certificate, set_consent_timing

sys.path.insert(0, str(ROOT / "scripts" / "bench"))
import cheapviewer  # noqa: E402  (the benchmarks' cheap viewer: SRTP counted, not decrypted)

BURST = 40


async def test_burst_of_viewers_keeps_host_and_audience(redis_url: str) -> None:
    env = {"STALLCAST_MEDIA_JOIN_CONCURRENCY": "4", "STALLCAST_RECORDING_ENABLED": "0"}
    async with start_server(redis_url, env) as server:
        await _burst(server)


async def _burst(server: Running) -> None:
    _, token = await server.new_host()
    room = await server.new_room(token)
    room_id = room["room_id"]
    pub = await publish(server.base, room_id, room["stream_key"])
    audience = [await watch(server.base, room_id, data_channel=False) for _ in range(3)]
    crowd = [cheapviewer.CheapViewer(i) for i in range(BURST)]
    sfu = server.ctx.sfu
    try:
        assert await wait_for(lambda: all(len(v.video_frames) >= 10 for v in audience), 20)
        router = sfu.routers[room_id]
        host_session = router.producer.session_id
        before = [len(v.video_frames) for v in audience]
        async with aiohttp.ClientSession() as http:
            url = f"{server.base}/whep/{room_id}"
            await asyncio.gather(*(cheapviewer.join(v, http, url, attempts=10, timeout=50,
                                                    decoders=True) for v in crowd))
        assert await wait_for(lambda: all(v.playing for v in crowd), 30), (
            [v.state for v in crowd if not v.playing])
        # Admitted a few at a time, all of them in the end.
        assert sfu.admission.peak_in_flight <= 4
        assert sfu.admission.admitted >= BURST + 3
        # The host and the audience already watching were never dropped and kept playing.
        assert router.producer is not None and router.producer.session_id == host_session
        assert pub.pc.connectionState == "connected"
        assert all(v.pc.connectionState == "connected" for v in audience)
        after = [len(v.video_frames) for v in audience]
        assert await wait_for(lambda: all(len(v.video_frames) > a + 10
                                          for v, a in zip(audience, after, strict=True)), 10)
        assert all(a > b for a, b in zip(after, before, strict=True))
        # One DTLS certificate for every peer of the node.
        certs = {id(local_certificate(s.pc)) for s in router.viewers.values()}
        certs.add(id(local_certificate(router.producer.pc)))
        assert len(certs) == 1
    finally:
        await cheapviewer.close_all(crowd)
        for v in audience:
            await v.stop()
        await pub.stop()


async def test_full_join_queue_answers_503_with_retry_after(redis_url: str) -> None:
    env = {"STALLCAST_MEDIA_JOIN_CONCURRENCY": "1", "STALLCAST_MEDIA_JOIN_QUEUE_MAX": "0"}
    async with start_server(redis_url, env) as server:
        _, token = await server.new_host()
        room = await server.new_room(token)
        url = f"{server.base}/whep/{room['room_id']}"
        pcs = [RTCPeerConnection() for _ in range(2)]
        try:
            offers = []
            for pc in pcs:
                pc.addTransceiver("video", direction="recvonly")
                await pc.setLocalDescription(await pc.createOffer())
                offers.append(pc.localDescription.sdp)
            headers = {"Content-Type": "application/sdp"}
            async with aiohttp.ClientSession() as http:
                # The first join holds the only slot: its answer is never applied, so it
                # never connects.
                async with http.post(url, data=offers[0], headers=headers) as resp:
                    assert resp.status == 201
                async with http.post(url, data=offers[1], headers=headers) as resp:
                    assert resp.status == 503
                    assert int(resp.headers["Retry-After"]) >= 1
                    assert (await resp.json())["error"]["code"] == "busy"
        finally:
            for pc in pcs:
                await pc.close()


class _Peer:
    """What aioice's consent loop touches on a connection, with a peer that never answers."""

    def __init__(self) -> None:
        self.remote_password = "pw"
        self.checks = 0
        self.closed = False
        self._query_consent_task: Any = None
        protocol = self

        class Pair:
            remote_addr = ("10.77.0.1", 9)

            def __init__(self) -> None:
                self.protocol = protocol

        self._nominated = {1: Pair()}

    def build_request(self, pair: Any, nominate: bool) -> object:
        return object()

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        self.checks += 1
        raise aioice_stun.TransactionTimeout()

    async def close(self) -> None:
        self.closed = True


async def _checks_until_dropped(late: bool) -> int:
    judge_consent_by(lambda since: late)
    set_consent_timing(0.01, 3)
    try:
        peer = _Peer()
        await asyncio.wait_for(aioice_ice.Connection.query_consent(peer), 10)  # type: ignore[arg-type]
        assert peer.closed
        return peer.checks
    finally:
        set_consent_timing(5, 6)


async def test_consent_misses_while_the_node_was_late_do_not_count() -> None:
    # A peer that really stopped answering goes after CONSENT_FAILURES misses...
    assert await _checks_until_dropped(late=False) == 3
    # ... but misses the node's own lateness may have caused count only towards the
    # backstop of twice as many unanswered checks.
    assert await _checks_until_dropped(late=True) == 6


async def test_a_node_that_stays_behind_still_lets_joins_through_one_at_a_time() -> None:
    """A saturated machine keeps the loop late for minutes: joins must still progress, one
    at a time and no faster than Admission.TRICKLE_S, never all at once, never not at all."""
    from media.admission import Admission

    admission = Admission(concurrency=4, queue_max=10, wait_s=5, healthy=lambda: False)
    admission.TRICKLE_S = 0.2
    first = await admission.enter()  # nothing in flight, nothing let through yet
    waiting = [asyncio.ensure_future(admission.enter()) for _ in range(3)]
    await asyncio.sleep(0.4)
    assert admission.in_flight == 1 and admission.queued == 3  # held while one is in flight
    started = time.monotonic()
    first.release()
    tickets = []
    for task in waiting:
        tickets.append(await asyncio.wait_for(task, 3))
        assert admission.in_flight == 1  # one at a time
        tickets[-1].release()
    spent = time.monotonic() - started
    assert spent >= 2 * admission.TRICKLE_S, spent  # no faster than one per TRICKLE_S

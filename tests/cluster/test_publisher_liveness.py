"""A publisher is judged on the media it sends, not on ICE consent answers: FFmpeg's WHIP
muxer answers no consent check, and it used to be dropped at the consent timeout while its
packets kept arriving. Consent is 1 s x 3 misses here, so "longer than the consent timeout"
is a few seconds; a publisher that really goes silent is still dropped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import pytest

from helpers.clients import publish, wait_for, watch
from helpers.relay import Relay
from helpers.servers import Running, start_server

ENV = {"STALLCAST_WEBRTC_CONSENT_INTERVAL_S": "1", "STALLCAST_WEBRTC_CONSENT_FAILURES": "3"}
CONSENT_TIMEOUT_S = 3.0


def left_reasons(viewer: Any) -> list[str]:
    return [e["reason"] for e in viewer.events if e["type"] == "host_left"]


def answer_no_consent_checks(pc: Any) -> None:
    """This aiortc peer stops answering STUN requests (the server's consent checks)."""
    for t in pc.getTransceivers():
        t.receiver.transport.transport._connection.request_received = lambda *a, **k: None


async def test_publisher_deaf_to_consent_is_kept_while_it_sends(redis_url: str) -> None:
    async with start_server(redis_url, ENV) as server:
        _, token = await server.new_host()
        room = await server.new_room(token)
        rid, key = room["room_id"], room["stream_key"]
        path = await Relay.start()
        pub = await publish(server.base, rid, key, answer_filter=path.rewrite_answer)
        viewer = None
        try:
            assert await wait_for(lambda: pub.pc.connectionState == "connected", 15)
            router = server.ctx.sfu.routers[rid]
            assert await wait_for(lambda: router.packets_in > 20, 10)
            assert router.producer is not None
            session = router.producer.session_id
            answer_no_consent_checks(pub.pc)
            await asyncio.sleep(3 * CONSENT_TIMEOUT_S)
            assert router.producer is not None and router.producer.session_id == session
            # Its consent checks went unanswered all along: no round-trip figure from them.
            assert router.producer.uplink_rtt.poll() is None

            viewer = await watch(server.base, rid)  # joins after the consent timeout
            assert await wait_for(lambda: len(viewer.video_frames) > 10, 20)

            path.cut = True  # now it really is gone: nothing arrives from it
            assert await wait_for(lambda: router.producer is None, 15)
            assert await wait_for(lambda: left_reasons(viewer), 5)
            assert left_reasons(viewer) == ["dropped"]
        finally:
            if viewer is not None:
                await viewer.stop()
            await pub.stop(delete=False)
            path.close()


def ffmpeg_command(exe: str, url: str, key: str) -> list[str]:
    return [exe, "-hide_banner", "-loglevel", "info", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0",
            "-g", "15", "-c:a", "libopus", "-ac", "2", "-ar", "48000",
            "-f", "whip", "-authorization", key, url]


async def start_ffmpeg(exe: str, server: Running, rid: str, key: str,
                       log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *ffmpeg_command(exe, f"{server.base}/whip/{rid}", key), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=log.open("wb"))


async def test_ffmpeg_show_outlives_the_consent_timeout(redis_url: str, tmp_path: Path) -> None:
    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()
    async with start_server(redis_url, ENV) as server:
        _, token = await server.new_host()
        room = await server.new_room(token)
        rid, key = room["room_id"], room["stream_key"]
        procs = [await start_ffmpeg(ffmpeg, server, rid, key, tmp_path / "ffmpeg-1.log")]
        viewer = None
        try:
            assert await wait_for(lambda: rid in server.ctx.sfu.routers, 15)
            router = server.ctx.sfu.routers[rid]
            assert await wait_for(lambda: router.packets_in > 50, 15)
            assert router.producer is not None and router.video_codec == "h264"
            session = router.producer.session_id
            await asyncio.sleep(3 * CONSENT_TIMEOUT_S)
            assert router.producer is not None and router.producer.session_id == session

            viewer = await watch(server.base, rid)  # joins after the consent timeout
            assert await wait_for(lambda: len(viewer.video_frames) > 10, 20)

            procs[0].send_signal(signal.SIGKILL)  # the encoder dies: no DELETE, no packets
            assert await wait_for(lambda: router.producer is None, 15)
            assert await wait_for(lambda: left_reasons(viewer), 5)
            assert left_reasons(viewer) == ["dropped"]

            # The host comes back and this time ends the show itself ('q': FFmpeg sends its
            # DELETE): the session ends as the host said, not by the silence that follows.
            procs.append(await start_ffmpeg(ffmpeg, server, rid, key, tmp_path / "ffmpeg-2.log"))
            frames = len(viewer.video_frames)
            assert await wait_for(lambda: len(viewer.video_frames) > frames + 10, 20)
            assert procs[1].stdin is not None
            procs[1].stdin.write(b"q")
            await procs[1].stdin.drain()
            assert await wait_for(lambda: len(left_reasons(viewer)) == 2, 10)
            assert left_reasons(viewer) == ["dropped", "ended"]
            assert await asyncio.wait_for(procs[1].wait(), 10) == 0
        finally:
            if viewer is not None:
                await viewer.stop()
            for proc in procs:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()

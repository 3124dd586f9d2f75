"""A WHIP or WHEP resource DELETE is answered at once with a complete HTTP/1.1 response,
whatever the peer connection is still doing: here the server's side of each peer takes as
long as the test likes to close, and the raw socket client below must still read the whole
response (status line, headers and Content-Length bytes) while the peer is connected."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from helpers.clients import publish, wait_for, watch
from helpers.servers import Running

DEADLINE_S = 10.0  # far beyond a prompt answer; the held teardown would never end by then


async def raw_request(base: str, method: str, path: str,
                      headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh keep-alive connection, its response read whole by its framing
    (no help from the server closing the socket)."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}", "Content-Length: 0",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")[:-2]
        parsed = {k.strip().lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
        assert status_line.startswith("HTTP/1.1 "), status_line
        assert "content-length" in parsed, f"no Content-Length in {parsed}"
        body = await reader.readexactly(int(parsed["content-length"]))
        return int(status_line.split()[1]), parsed, body
    finally:
        writer.close()


def hold_close(pc: Any, gate: asyncio.Event) -> None:
    """The server's side of this peer closes only once ``gate`` is set."""
    original = pc.close

    async def close() -> None:
        await gate.wait()
        await original()

    pc.close = close


async def test_delete_answers_before_the_peer_is_torn_down(server: Running) -> None:
    _, token = await server.new_host()
    room = await server.new_room(token)
    rid, key = room["room_id"], room["stream_key"]
    pub = await publish(server.base, rid, key)
    viewer = await watch(server.base, rid)
    gate = asyncio.Event()
    try:
        assert await wait_for(lambda: len(viewer.video_frames) > 5, 20)
        router = server.ctx.sfu.routers[rid]
        viewer_sid = viewer.location.rsplit("/", 1)[1]
        server_viewer_pc = router.viewers[viewer_sid].pc
        assert router.producer is not None
        server_publisher_pc = router.producer.pc
        hold_close(server_viewer_pc, gate)
        hold_close(server_publisher_pc, gate)

        status, headers, body = await asyncio.wait_for(
            raw_request(server.base, "DELETE", viewer.location), DEADLINE_S)
        assert (status, headers["content-length"], body) == (200, "0", b"")
        assert not gate.is_set() and viewer.pc.connectionState == "connected"
        # The session is gone at once: no longer in the audience, a second DELETE is a 404.
        assert viewer_sid not in router.viewers
        status, _, _ = await asyncio.wait_for(
            raw_request(server.base, "DELETE", viewer.location), DEADLINE_S)
        assert status == 404

        status, headers, body = await asyncio.wait_for(
            raw_request(server.base, "DELETE", pub.location, {"Authorization": f"Bearer {key}"}),
            DEADLINE_S)
        assert (status, headers["content-length"], body) == (200, "0", b"")
        assert not gate.is_set() and pub.pc.connectionState == "connected"
        assert router.producer is None

        gate.set()  # the teardown carries on in the background and completes
        assert await wait_for(lambda: server_viewer_pc.connectionState == "closed"
                              and server_publisher_pc.connectionState == "closed", 10)
    finally:
        gate.set()
        await viewer.stop(delete=False)
        await pub.stop(delete=False)

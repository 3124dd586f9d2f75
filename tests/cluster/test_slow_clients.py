"""Slow and greedy HTTP clients: headers or bodies sent a byte at a time are cut off, and
one address cannot hold more than its share of connections; the node stays healthy."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from helpers.servers import NETNS_ADDRESS, in_netns, start_server

ENV = {"STALLCAST_LIMITS_HEADER_TIMEOUT_S": "2", "STALLCAST_LIMITS_BODY_TIMEOUT_S": "2",
       "STALLCAST_LIMITS_CONNECTIONS_PER_CLIENT": "40"}


async def _healthy(base: str, local: str | None = None) -> bool:
    conn = aiohttp.TCPConnector(local_addr=(local, 0)) if local else None
    async with aiohttp.ClientSession(connector=conn) as http:
        async with http.get(f"{base}/healthz", timeout=aiohttp.ClientTimeout(total=3)) as resp:
            return resp.status == 200


async def _trickle(host: str, port: int, data: bytes, every: float,
                   head: bytes = b"") -> tuple[float, bytes]:
    """Send ``head`` at once, then ``data`` a byte at a time; returns when the server
    closed (seconds, reply)."""
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    reply = b""
    writer.write(head)
    try:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                chunk = await asyncio.wait_for(reader.read(4096), every)
            except TimeoutError:
                continue
            reply += chunk
            break  # the server answered (or closed): stop sending
        else:
            reply += await asyncio.wait_for(reader.read(), 10)
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return time.monotonic() - started, reply


async def test_slow_headers_and_bodies_are_cut_off(redis_url: str) -> None:
    async with start_server(redis_url, ENV) as server:
        port = int(server.base.rsplit(":", 1)[1])
        headers = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n")
        _, token = await server.new_host()
        body_head = (b"POST /api/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nAuthorization: Bearer " + token.encode()
                     + b"\r\nContent-Length: 400\r\n\r\n")
        slow_headers = [_trickle("127.0.0.1", port, headers, 0.2) for _ in range(30)]
        slow_bodies = [_trickle("127.0.0.1", port, b"{" + b" " * 398 + b"}", 0.05, body_head)
                       for _ in range(5)]
        pending = asyncio.gather(*slow_headers, *slow_bodies)
        await asyncio.sleep(1)
        assert await _healthy(server.base)  # the node answers while they trickle
        results = await asyncio.wait_for(pending, 30)
        header_times = [t for t, _ in results[:30]]
        # Each would need ~45 s to finish its headers; the server cut every one off.
        assert max(header_times) < 10, header_times
        for spent, reply in results[30:]:
            assert spent < 10 and b" 408 " in reply.split(b"\r\n", 1)[0], (spent, reply[:200])
        assert await _healthy(server.base)


async def test_one_address_holds_at_most_its_share_of_connections(redis_url: str) -> None:
    async with start_server(redis_url, ENV) as server:
        port = int(server.base.rsplit(":", 1)[1])
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(40)]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            reply = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            assert reply.startswith(b"HTTP/1.1 429 "), reply
            assert b'"rate_limited"' in reply
            other = NETNS_ADDRESS if in_netns() else None
            if other:  # another address is not affected
                assert await _healthy(server.base, other)
        finally:
            for _, w in held:
                w.close()
        await asyncio.sleep(0.3)
        assert await _healthy(server.base)  # the places came back
        # A thousand half-sent requests from one address: all but the share refused at once.
        attempts = []
        for _ in range(200):
            try:
                attempts.append(await asyncio.open_connection("127.0.0.1", port))
            except OSError:
                break
        for _, w in attempts:
            w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        await asyncio.sleep(0.5)
        refused = sum(1 for r, _ in attempts if r.at_eof() or r._buffer)  # noqa: SLF001
        assert refused >= len(attempts) - 40, (refused, len(attempts))
        for _, w in attempts:
            w.close()
        await asyncio.sleep(0.3)
        assert await _healthy(server.base)

"""A UDP relay to put between a WebRTC peer and the server: it can drop a share of the
peer's media, or go silent both ways as a network that vanished would."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator
from typing import Any

from helpers.servers import NETNS_ADDRESS as RELAY_HOST


class Relay(asyncio.DatagramProtocol):
    def __init__(self, drop: float = 0.0) -> None:
        self.drop = drop  # share of the peer's SRTP (never STUN, DTLS or RTCP) dropped
        self.cut = False  # True: nothing passes either way
        self.target: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.transport: Any = None
        self.dropped = 0
        self.forwarded = 0

    @classmethod
    async def start(cls, drop: float = 0.0) -> Relay:
        loop = asyncio.get_running_loop()
        _, relay = await loop.create_datagram_endpoint(lambda: cls(drop),
                                                       local_addr=(RELAY_HOST, 0))
        return relay

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(cls, drop: float = 0.0) -> AsyncIterator[Relay]:
        """A started relay, closed after."""
        relay = await cls.start(drop)
        try:
            yield relay
        finally:
            relay.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.cut or self.target is None:
            return
        if addr == self.target:
            if self.client is not None:
                self.transport.sendto(data, self.client)
            return
        self.client = addr
        if (self.drop and 128 <= data[0] <= 191 and not 192 <= data[1] <= 223
                and random.random() < self.drop):
            self.dropped += 1
            return
        self.forwarded += 1
        self.transport.sendto(data, self.target)

    def rewrite_answer(self, sdp: str) -> str:
        """Keep the server's first IPv4 host candidate, pointed at this relay instead."""
        out = []
        done = False
        for line in sdp.splitlines():
            if line.startswith("a=candidate:"):
                m = re.match(r"a=candidate:(\S+) 1 udp (\d+) (\S+) (\d+) typ host", line)
                if m is None or done or ":" in m.group(3):
                    continue
                self.target = (m.group(3), int(m.group(4)))
                port = self.transport.get_extra_info("sockname")[1]
                line = line.replace(f" {m.group(3)} {m.group(4)} ", f" {RELAY_HOST} {port} ")
                done = True
            out.append(line)
        return "\r\n".join(out) + "\r\n"

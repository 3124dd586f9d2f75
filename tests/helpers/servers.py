"""A real Stallcast app on a free port, configured like `serve`, and what tests do with it."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from server.app import create_app
from server.live.context import CONTEXT, AppContext
from server.platform.config import Config, load_config
from server.web.serving import ServeRunner

# Tests play whole crowds from 127.0.0.1: hundreds of buyers minting identities and
# holding connections at once. The per-address limits have tests of their own
# (cluster/test_identity_limits.py, cluster/test_limits.py, cluster/test_slow_clients.py).
CROWD_FROM_ONE_ADDRESS = {"STALLCAST_COMMERCE_VIEWER_MINTS_PER_MINUTE": "100000",
                          "STALLCAST_LIMITS_CONNECTIONS_PER_CLIENT": "5000",
                          "STALLCAST_LIMITS_HALF_OPEN_PER_CLIENT": "1000"}


# scripts/netns-run's veth address inside the namespace: a real, non-loopback address.
NETNS_ADDRESS = "10.77.0.1"


def in_netns() -> bool:
    """Whether this process can use NETNS_ADDRESS (it runs inside scripts/netns-run)."""
    with socket.socket() as s:
        try:
            s.bind((NETNS_ADDRESS, 0))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    base: str
    app: web.Application
    config: Config

    @property
    def ctx(self) -> AppContext:
        return self.app[CONTEXT]

    async def new_host(self, name: str = "Mango farm") -> tuple[str, str]:
        host, token = await self.ctx.store.create_host(name)
        return host.host_id, token

    async def new_operator(self, name: str = "Night shift") -> str:
        _, token = await self.ctx.store.create_operator(name)
        return token

    async def new_room(self, token: str, title: str = "Mangoes") -> dict[str, str]:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.base}/api/rooms", json={"title": title},
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 201, await resp.text()
                return json.loads(await resp.text())


@contextlib.asynccontextmanager
async def start_server(redis_url: str, env: dict[str, str] | None = None) -> AsyncIterator[Running]:
    """A real Stallcast app on a free port, configured like `serve` with ``env``."""
    port = free_port()
    config = load_config(env={**CROWD_FROM_ONE_ADDRESS, **(env or {})},
                         overrides={"http": {"port": port}, "media": {"connect_timeout_s": 10}})
    app = create_app(config, redis_url)
    # Connection limits and timeouts as in serve.
    runner = ServeRunner(app, config.limits, config.http.trusted_proxies)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Running(f"http://127.0.0.1:{port}", app, config)
    finally:
        await runner.cleanup()

"""Start real `stallcast serve` processes for tests that need several nodes or crashes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from helpers import ROOT
from helpers.clients import Publisher, publish
from helpers.servers import CROWD_FROM_ONE_ADDRESS, free_port
from helpers.shop import Api


async def wait_healthy(base: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    async with aiohttp.ClientSession() as http:
        while time.time() < deadline:
            try:
                async with http.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{base} never became healthy")


class ServeProcess:
    def __init__(self, data_dir: Path, redis_url: str | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        env = {**os.environ, "STALLCAST_LOG_LEVEL": "WARNING", **CROWD_FROM_ONE_ADDRESS,
               **(extra_env or {})}
        if redis_url:
            env["STALLCAST_REDIS_URL"] = redis_url
        self.log = open(data_dir / f"serve-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--data-dir", str(data_dir),
             "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@contextlib.asynccontextmanager
async def serving(data_dir: Path, redis_url: str | None = None) -> AsyncIterator[ServeProcess]:
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = ServeProcess(data_dir, redis_url)
    try:
        await wait_healthy(proc.base)
        yield proc
    finally:
        proc.stop()


def host_create(data_dir: Path, name: str, redis_url: str | None = None) -> str:
    import json

    env = {**os.environ}
    if redis_url:
        env["STALLCAST_REDIS_URL"] = redis_url
    out = subprocess.run([sys.executable, "-m", "server.cli", "host", "create", name,
                          "--data-dir", str(data_dir)], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=60, check=True)
    return str(json.loads(out.stdout)["token"])


def kill_private_redis(data_dir: Path) -> None:
    """Stop a private redis-server left behind by a server that was killed with -9."""
    pidfile = data_dir / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def private_redis(data_dir: Path) -> aioredis.Redis:
    """A client of the private redis-server a `serve` on ``data_dir`` started (it outlives
    a server killed with -9)."""
    return aioredis.Redis(unix_socket_path=str(data_dir / "redis.sock"), decode_responses=True)


async def broadcasting_node(tmp_path: Path, host_name: str, codec: str,
                            extra_env: dict[str, str] | None = None) -> tuple[
        Path, str, ServeProcess, aioredis.Redis, Publisher]:
    """A fresh data folder with a host called ``host_name`` and a healthy `serve` on it, a
    client of the private redis-server it started, and a new room with an aiortc publisher
    live on it (``codec``): the folder, the host's token, the node, the client and the
    publisher. The node is stopped if any of it fails."""
    data = tmp_path / "data"
    data.mkdir()
    token = host_create(data, host_name)
    node = ServeProcess(data, extra_env=extra_env)
    redis = private_redis(data)
    try:
        await wait_healthy(node.base)
        _, pub = await broadcast(node.base, token, codec)
    except BaseException:
        node.stop()
        raise
    return data, token, node, redis, pub


async def broadcast(base: str, token: str, codec: str) -> tuple[dict[str, Any], Publisher]:
    """A new room with an aiortc publisher live on it."""
    async with aiohttp.ClientSession() as http:
        room = await Api(base, http).ok("POST", "/api/rooms", token, {"title": "Oolong class"})
    return room, await publish(base, room["room_id"], room["stream_key"], codec=codec)

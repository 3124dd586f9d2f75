"""A private redis-server for a data folder: AOF on, unix socket, no TCP port."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path

import redis.asyncio as aioredis

log = logging.getLogger("stallcast.redis")

SOCKET_NAME = "redis.sock"


class RedisServerError(RuntimeError):
    pass


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


def socket_url(data_dir: Path) -> str:
    return f"unix://{socket_path(data_dir)}"


class PrivateRedis:
    """Runs ``redis-server`` with its AOF and socket inside ``data_dir``."""

    def __init__(self, data_dir: Path, binary: str = "redis-server", appendfsync: str = "always"):
        self.data_dir = data_dir
        self.binary = binary
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return socket_url(self.data_dir)

    async def start(self, timeout: float = 10.0) -> None:
        exe = shutil.which(self.binary)
        if exe is None:
            raise RedisServerError(f"{self.binary} not found; install redis-server")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        sock = socket_path(self.data_dir)
        if len(str(sock)) > 100:
            raise RedisServerError(f"data folder path too long for a unix socket: {sock}")
        if sock.exists():
            sock.unlink()
        args = [
            exe, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
            "--dir", str(self.data_dir), "--appendonly", "yes",
            "--appendfsync", self.appendfsync, "--save", "",
            "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
            "--pidfile", str(self.data_dir / "redis.pid"),
        ]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        client = aioredis.Redis(unix_socket_path=str(sock))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RedisServerError(
                        f"redis-server exited with {self.proc.returncode}; "
                        f"see {self.data_dir / 'redis.log'}"
                    )
                try:
                    if await client.ping():
                        break
                except (OSError, aioredis.ConnectionError, aioredis.BusyLoadingError):
                    pass
                if loop.time() > deadline:
                    raise RedisServerError("redis-server did not answer in time")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        log.info("private redis started", extra={"pid": self.proc.pid, "socket": str(sock)})

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        log.info("private redis stopped")

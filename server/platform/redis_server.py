"""A private redis-server for a data folder: AOF on, unix socket, no TCP port.

The AOF holds the viewer/URL signing secret, stream keys, token digests and buyers'
addresses, so the folder is the owner's alone (0700) and so is everything Redis writes in it
(it runs under umask 077: 0600 files, 0700 folders).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import redis.asyncio as aioredis

log = logging.getLogger("stallcast.redis")

SOCKET_NAME = "redis.sock"
AOF_DIR = "appendonlydir"
PRIVATE_UMASK = 0o077


class RedisServerError(RuntimeError):
    pass


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


def socket_url(data_dir: Path) -> str:
    return f"unix://{socket_path(data_dir)}"


def _drop_group_other(path: Path, dirs: bool = False) -> None:
    """Clear the group and other permission bits of a regular file (or, with ``dirs``, a
    folder); the owner's bits stay as they were. Symlinks, sockets and the like are left."""
    try:
        st = path.lstat()
        if not (stat.S_ISREG(st.st_mode) or (dirs and stat.S_ISDIR(st.st_mode))):
            return
        if st.st_mode & 0o077:
            path.chmod(stat.S_IMODE(st.st_mode) & 0o700)
    except OSError as exc:
        log.warning("cannot make private", extra={"path": str(path), "reason": str(exc)})


def make_private(data_dir: Path) -> None:
    """Create ``data_dir`` as 0700, or tighten one an older install left 0755: the folder,
    the files directly in it and the AOF folder with its files."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        data_dir.chmod(0o700)
    except OSError as exc:  # not ours (a mounted volume): say so, Redis may still run
        log.warning("cannot make private", extra={"path": str(data_dir), "reason": str(exc)})
    for entry in data_dir.iterdir():
        _drop_group_other(entry, dirs=entry.name == AOF_DIR)
    aof = data_dir / AOF_DIR
    if aof.is_dir() and not aof.is_symlink():
        for entry in aof.iterdir():
            _drop_group_other(entry)


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
        make_private(self.data_dir)
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
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True,
                                     umask=PRIVATE_UMASK)
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

    async def _answers(self) -> bool:
        client = aioredis.Redis(unix_socket_path=str(socket_path(self.data_dir)),
                                socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(await client.ping())
        except (OSError, aioredis.RedisError):
            return False
        finally:
            await client.aclose()

    async def supervise(self, interval: float = 0.5, max_backoff: float = 10.0) -> None:
        """Keep the private Redis running: when the process dies (kill -9, OOM killer) start
        it again from its AOF, so every acknowledged write is back and the clients, which
        reconnect by themselves, carry on. A server that adopted a Redis it did not start
        (left running by a server killed with -9) watches that one by pinging it."""
        backoff = interval
        while True:
            await asyncio.sleep(interval)
            if self.proc is not None and self.proc.poll() is None:
                continue
            if self.proc is None and await self._answers():
                continue
            code = self.proc.returncode if self.proc is not None else None
            log.warning("private redis is gone; restarting it from its AOF",
                        extra={"exit_code": code})
            try:
                await self.start()
                backoff = interval
            except RedisServerError as exc:
                log.error("private redis restart failed", extra={"reason": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff)

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

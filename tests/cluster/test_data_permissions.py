"""The data folder is its owner's alone: the AOF holds the signing secret, stream keys and
buyers' addresses, the recordings hold the broadcasts. Folders 0700, files 0600, whatever
umask the operator's shell had, and an older install's 0755 folder is tightened on start."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from helpers import ROOT
from helpers.procs import broadcast, kill_private_redis, wait_healthy
from helpers.servers import free_port
from helpers.shop import Api
from server.platform.redis_server import PrivateRedis

LOOSE = 0o022  # a common shell umask: 0755 folders, 0644 files


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(LOOSE)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def assert_private_tree(root: Path) -> list[Path]:
    """Every folder 0700 and no regular file readable by group or others; returns files."""
    assert mode(root) == 0o700, oct(mode(root))
    files = []
    for folder, dirs, names in os.walk(root):
        for d in dirs:
            assert mode(Path(folder, d)) == 0o700, (Path(folder, d), oct(mode(Path(folder, d))))
        for name in names:
            path = Path(folder, name)
            if stat.S_ISREG(path.lstat().st_mode):
                assert mode(path) & 0o077 == 0, (path, oct(mode(path)))
                files.append(path)
    return files


async def write_some(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        await client.set("secret", "signing key")
        await client.hset("order:o_1", mapping={"address": "8 Binhai Road"})
    finally:
        await client.aclose()


async def test_private_redis_writes_only_private_files(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "data"
    redis = PrivateRedis(data, appendfsync="always")
    await redis.start()
    try:
        await write_some(redis.url)
        files = assert_private_tree(data)
        aof = data / "appendonlydir"
        assert mode(aof) == 0o700
        aof_files = sorted(aof.iterdir())
        assert any(p.name.endswith(".incr.aof") for p in aof_files), aof_files
        for path in [*aof_files, data / "redis.log", data / "redis.pid"]:
            assert mode(path) == 0o600, (path, oct(mode(path)))
        assert data / "redis.log" in files
    finally:
        redis.stop()


async def test_an_old_world_readable_folder_is_tightened(tmp_path: Path,
                                                         loose_umask: None) -> None:
    data = tmp_path / "data"
    first = PrivateRedis(data, appendfsync="always")
    await first.start()
    await write_some(first.url)
    first.stop()
    # As an older install left it: everything readable by everyone.
    for folder, _, names in os.walk(data):
        os.chmod(folder, 0o755)
        for name in names:
            os.chmod(Path(folder, name), 0o644)
    (data / "backup.txt").write_text("old export")
    os.chmod(data / "backup.txt", 0o644)
    script = data / "run.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o755)
    outside = tmp_path / "shared.txt"
    outside.write_text("not ours to change")
    os.chmod(outside, 0o644)
    (data / "link").symlink_to(outside)
    assert mode(data) == 0o755
    again = PrivateRedis(data, appendfsync="always")
    await again.start()
    try:
        client = aioredis.Redis.from_url(again.url, decode_responses=True)
        try:
            assert await client.get("secret") == "signing key"  # still readable by us
        finally:
            await client.aclose()
        assert_private_tree(data)
        assert mode(data / "appendonlydir") == 0o700
        for path in [*(data / "appendonlydir").iterdir(), data / "redis.log",
                     data / "backup.txt"]:
            assert mode(path) == 0o600, (path, oct(mode(path)))
        assert mode(script) == 0o700  # the owner keeps what it had, others lose it
        assert mode(outside) == 0o644  # a link's target outside the folder is left alone
    finally:
        again.stop()


async def test_serve_keeps_recordings_and_replays_private(tmp_path: Path) -> None:
    """`serve` and the admin commands set their own umask: the recorder and the packager
    (the server's child process) write files the owner alone can read."""
    data = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "STALLCAST_LOG_LEVEL": "WARNING"}
    created = subprocess.run([sys.executable, "-m", "server.cli", "host", "create", "Tea",
                              "--data-dir", str(data)], capture_output=True, text=True,
                             cwd=ROOT, env=env, timeout=60, check=True, umask=LOOSE)
    token = created.stdout.split('"token": "')[1].split('"')[0]
    assert_private_tree(data)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--data-dir",
                             str(data), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, umask=LOOSE)
    try:
        await wait_healthy(base)
        _, pub = await broadcast(base, token, "VP8")
        await asyncio.sleep(4)
        await pub.stop()
        async with aiohttp.ClientSession() as http:
            api = Api(base, http)
            deadline = time.time() + 60
            status = ""
            while time.time() < deadline and status != "ready":
                sessions = (await api.ok("GET", "/api/sessions", token))["sessions"]
                status = sessions[0]["status"] if sessions else ""
                await asyncio.sleep(0.2)
            assert status == "ready", sessions
        files = assert_private_tree(data)
        kinds = {p.relative_to(data).parts[0] for p in files}
        assert {"recordings", "vod", "appendonlydir"} <= kinds, kinds
        assert any(p.suffix == ".m3u8" for p in files) and any(p.suffix == ".mkv"
                                                               for p in files), files
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        kill_private_redis(data)

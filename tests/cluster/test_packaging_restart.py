"""A server killed while packaging a recording finishes the job after it restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import aiohttp

from helpers.procs import (
    ServeProcess,
    broadcasting_node,
    kill_private_redis,
    wait_healthy,
)
from helpers.shop import Api

ENV = {"STALLCAST_RECORDING_PACKAGING_STALE_AFTER_S": "3"}


async def test_kill_during_packaging_then_class_becomes_ready(tmp_path: Path) -> None:
    data, token, node, redis, pub = await broadcasting_node(tmp_path, "Tea school", "VP8", ENV)
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(node.base, http)
            await asyncio.sleep(12)
            await pub.stop()
            deadline = time.time() + 30
            sid = None
            while time.time() < deadline:
                sessions = (await api.ok("GET", "/api/sessions", token))["sessions"]
                if sessions:
                    sid = sessions[0]["session_id"]
                    if await redis.hget(f"job:{sid}", "status") == "running":
                        break
                await asyncio.sleep(0.05)
            assert sid is not None
            # Freeze the packager so a fast machine cannot finish the job before the kill.
            child = await _packager_pid(sid)
            os.kill(child, signal.SIGSTOP)
            assert await redis.hget(f"job:{sid}", "status") == "running"
        node.kill()  # mid-packaging; its packager child dies with it (SIGKILL ends it stopped)
        await asyncio.sleep(0.5)
        leftovers = subprocess.run(["pgrep", "-f", f"media.packager .*{sid}"],
                                   capture_output=True, text=True).stdout.split()
        assert leftovers == []
        assert await redis.hget(f"session:{sid}", "status") == "packaging"
    finally:
        node.stop()
    restarted = ServeProcess(data, extra_env=ENV)
    try:
        await wait_healthy(restarted.base)
        async with aiohttp.ClientSession() as http:
            api = Api(restarted.base, http)
            deadline = time.time() + 60
            status = ""
            while time.time() < deadline and status != "ready":
                status = (await api.ok("GET", f"/api/sessions/{sid}", token))["status"]
                await asyncio.sleep(0.2)
            assert status == "ready"
            assert int(await redis.hget(f"job:{sid}", "attempts") or 0) == 2
            cls = await api.ok("POST", f"/api/sessions/{sid}/class", token,
                               {"price": 1990, "preview_seconds": 3})
            listed = (await api.ok("GET", "/api/classes"))["classes"]
            assert [c["class_id"] for c in listed] == [cls["class_id"]]
            assert 10 < listed[0]["duration"] < 14
    finally:
        restarted.stop()
        await redis.aclose()
        kill_private_redis(data)


async def _packager_pid(sid: str) -> int:
    for _ in range(100):
        found = subprocess.run(["pgrep", "-f", f"media.packager .*{sid}"],
                               capture_output=True, text=True).stdout.split()
        if found:
            return int(found[0])
        await asyncio.sleep(0.05)
    raise AssertionError("no packager process for the running job")

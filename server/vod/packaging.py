"""Runs packaging jobs from the Redis queue in a child process, one at a time per node.

A job whose node stops sending heartbeats (the server was killed) is claimed again by any
node, and starts over from the recording; the recording itself is never changed.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import signal
import sys
from pathlib import Path

from server.vod.records import Packaged
from server.vod.sessions import SessionStore

log = logging.getLogger("stallcast.packaging")

MAX_ATTEMPTS = 3


def _die_with_parent() -> None:
    """Linux: the packager child gets SIGKILL when the server process dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class PackagingWorker:
    def __init__(self, sessions: SessionStore, data_dir: Path, node_id: str,
                 stale_after: float, poll: float = 1.0) -> None:
        self.sessions = sessions
        self.vod_dir = data_dir / "vod"
        self.node_id = node_id
        self.stale_after = stale_after
        self.poll = poll
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                sid = await self.sessions.claim_job(self.node_id, self.stale_after)
                if sid is None:
                    await asyncio.sleep(self.poll)
                    continue
                await self._package(sid)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("packaging loop error", extra={"reason": repr(exc)})
                await asyncio.sleep(self.poll)

    async def _package(self, sid: str) -> None:
        session = await self.sessions.get(sid)
        job = await self.sessions.job(sid) or {}
        if session is None or not session.get("file"):
            await self.sessions.job_failed(sid, "session has no recording", give_up=True)
            return
        log.info("packaging started", extra={"session": sid, "attempt": job.get("attempts")})
        parts = [session["file"], *await self.sessions.parts(sid)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "media.packager", str(self.vod_dir / sid), *parts,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_parent)
        progress = 0.0
        result: Packaged | None = None

        async def heartbeat() -> None:
            while True:
                await self.sessions.beat(sid, progress)
                await asyncio.sleep(min(2.0, self.stale_after / 3))

        beats = asyncio.create_task(heartbeat())
        try:
            assert proc.stdout is not None
            async for line in proc.stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "progress" in message:
                    progress = float(message["progress"])
                elif "done" in message:
                    result = message["done"]
            stderr = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
            await proc.wait()
        finally:
            beats.cancel()
            if proc.returncode is None:
                proc.kill()
        if proc.returncode == 0 and result is not None:
            await self.sessions.job_done(sid, result)
            log.info("packaging done", extra={"session": sid, "duration": result["duration"]})
        else:
            give_up = int(job.get("attempts", 1)) >= MAX_ATTEMPTS
            await self.sessions.job_failed(sid, stderr[-500:] or f"exit {proc.returncode}",
                                           give_up)
            log.warning("packaging failed", extra={"session": sid, "give_up": give_up})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

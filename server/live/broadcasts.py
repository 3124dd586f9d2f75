"""Live sessions on this node: each starts when a host goes live and ends when the host ends
the broadcast or stays away too long. A session is recorded unless its room says not to.
The room's show state (show.py) follows the session: live, away while the host may come back,
ended (announced as ``show_ended``, after the ``host_left`` that caused it)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media.recorder import Recorder
from media.sfu import Sfu
from server.accounts.store import Store
from server.live.show import ShowStore
from server.vod.sessions import SessionStore

ADOPTION_CHECK_S = 2.0  # how often a dropped host's node looks whether another took over

log = logging.getLogger("stallcast.recording")


@dataclass
class Active:
    session_id: str
    recorder: Recorder | None
    grace: asyncio.Task[None] | None = None
    left_at: float | None = None  # when the host left: the session's end, if it stays away


class RecordingManager:
    """A session starts when a host goes live and ends when the host ends the broadcast, or
    has been gone (dropped) for ``grace`` seconds; a host back within it continues the file."""

    def __init__(self, sfu: Sfu, store: Store, sessions: SessionStore, data_dir: Path,
                 grace: float, *, record: bool, node_id: str,
                 keyframe_interval: float) -> None:
        self.node_id = node_id
        self.keyframe_interval = keyframe_interval
        self.record = record
        self.sfu = sfu
        self.store = store
        self.sessions = sessions
        self.dir = data_dir / "recordings"
        self.grace = grace
        self.active: dict[str, Active] = {}
        self.show = ShowStore(sessions.redis)
        # Called with (room id, session id) as a session ends, before it is closed in Redis.
        self.on_session_end: Callable[[str, str], Awaitable[Any]] | None = None

    async def on_event(self, room_id: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "host_live":
            await self._host_live(room_id)
        elif kind == "host_left":
            await self._host_left(room_id, str(event.get("reason", "ended")))

    async def _host_live(self, room_id: str) -> None:
        router = self.sfu.routers.get(room_id)
        if router is None:
            return
        current = self.active.get(room_id)
        if current is not None:
            if current.grace is not None:
                current.grace.cancel()
                current.grace = None
            current.left_at = None
            await self.sessions.forget_host_left(current.session_id)
            if current.recorder is not None:
                router.attach_recorder(current.recorder)
            await self._show(self.show.live(room_id, current.session_id))
            log.info("session continues", extra={"room_id": room_id,
                                                 "session": current.session_id})
            return
        room = await self.store.get_room(room_id)
        if room is None:
            return
        codec = router.video_codec or "vp8"
        # The host may have dropped on another node and come back here: same session.
        adopted = await self.sessions.adopt(room_id, self.node_id, codec)
        if adopted is not None:
            sid, part = adopted
            session = await self.sessions.get(sid) or {}
            name = f"{sid}.part{part}.mkv"
        else:
            session = await self.sessions.start(room_id, room.host_id, room.title, "", codec,
                                                node=self.node_id)
            sid = session["session_id"]
            name = f"{sid}.mkv"
        recorder = None
        if self.record and room.record and (adopted is None or session.get("file")):
            self.dir.mkdir(parents=True, exist_ok=True)
            path = self.dir / name
            if adopted is None:
                await self.sessions.update(sid, file=str(path))
            else:
                await self.sessions.add_part(sid, str(path))
            recorder = Recorder(path, started_at=session["started_at"],
                                keyframe_interval=self.keyframe_interval)
            router.attach_recorder(recorder)
            self.sfu.lock_codec(room_id, codec)
        self.active[room_id] = Active(sid, recorder)
        await self._show(self.show.live(room_id, sid))
        log.info("session continues here" if adopted else "session started", extra={
            "room_id": room_id, "session": sid, "recorded": recorder is not None})

    async def _host_left(self, room_id: str, reason: str) -> None:
        current = self.active.get(room_id)
        if current is None:
            return
        router = self.sfu.routers.get(room_id)
        if router is not None:
            router.detach_recorder()
        current.left_at = time.time()
        if reason == "ended":
            await self.finish(room_id)
        elif current.grace is None:
            # Another node may carry the session on if the host comes back there.
            await self.sessions.update(current.session_id, host_left_at=current.left_at)
            await self._show(self.show.away(room_id, current.session_id))
            current.grace = asyncio.create_task(self._finish_later(room_id))

    async def _finish_later(self, room_id: str) -> None:
        """End the session when the grace runs out, or at once when the host came back on
        another node (which then carries it on): this node's recording part is complete."""
        deadline = time.monotonic() + self.grace
        current = self.active.get(room_id)
        while current is not None and time.monotonic() < deadline:
            await asyncio.sleep(min(ADOPTION_CHECK_S, max(0.0, deadline - time.monotonic())))
            if await self.sessions.owner(current.session_id) not in ("", self.node_id):
                break
        current = self.active.get(room_id)
        if current is not None:
            current.grace = None
            await self.finish(room_id)

    async def finish(self, room_id: str) -> None:
        current = self.active.pop(room_id, None)
        if current is None:
            return
        if current.grace is not None and current.grace is not asyncio.current_task():
            current.grace.cancel()
        if await self.sessions.owner(current.session_id) not in ("", self.node_id):
            # The host came back on another node, which carries the session on: this node's
            # part of the recording is complete; the other node ends the session.
            if current.recorder is not None:
                await asyncio.get_running_loop().run_in_executor(None, current.recorder.close)
            log.info("session carried on by another node", extra={
                "session": current.session_id})
            return
        # The session ended when its host left, not when the file is closed and the report
        # written; a host that never left (shutdown) ends now.
        ended = current.left_at or time.time()
        self.sfu.unlock_codec(room_id)
        await self._show_ended(room_id, current.session_id, ended)
        await self._session_ending(room_id, current.session_id, ended)
        router = self.sfu.routers.get(room_id)
        recorder = current.recorder
        if router is not None and recorder is not None:
            router.detach_recorder(recorder)
        if recorder is None:
            await self.sessions.finish(current.session_id, room_id, False, ended_at=ended,
                                       node=self.node_id)
            log.info("session ended", extra={"session": current.session_id})
            return
        await asyncio.get_running_loop().run_in_executor(None, recorder.close)
        stats = recorder.stats
        if stats.video_frames == 0 or recorder.error:
            await self.sessions.finish(current.session_id, room_id, False, ended_at=ended,
                                       node=self.node_id)
            await self.sessions.update(current.session_id, status="failed",
                                       error=recorder.error or "nothing was recorded")
            log.warning("recording empty or failed", extra={"session": current.session_id})
            return
        await self.sessions.update(current.session_id, width=stats.width, height=stats.height)
        await self.sessions.finish(current.session_id, room_id, package=True, ended_at=ended,
                                   node=self.node_id)
        log.info("session ended, recording queued", extra={
            "session": current.session_id, "video_frames": stats.video_frames})

    async def _show(self, step: Awaitable[Any]) -> None:
        """A show-state write: what viewers are told must never stop a recording."""
        try:
            await step
        except Exception:
            log.exception("show state not written")

    async def _show_ended(self, room_id: str, sid: str, ended: float) -> None:
        """Note the show's end and announce it through the node's queue, so viewers hear it
        after the ``host_left`` being handled now."""
        try:
            event = await self.show.ended(room_id, sid, ended)
        except Exception:
            log.exception("show end not written", extra={"session": sid})
            return
        if event is not None and self.sfu.announce is not None:
            self.sfu.announce(room_id, event)

    async def _session_ending(self, room_id: str, sid: str, ended: float) -> None:
        """Note when the session ended and run the end hook (the report reads both)."""
        await self.sessions.update(sid, ended_at=ended)
        if self.on_session_end is not None:
            try:
                await self.on_session_end(room_id, sid)
            except Exception:
                log.exception("session end hook failed", extra={"session": sid})

    async def reap_orphans(self) -> int:
        """Finish the live sessions of nodes that died: a recording is written as it goes, so
        what reached the disk before a crash is packaged and sold like any other."""
        reaped = 0
        for session in await self.sessions.orphans(self.node_id):
            sid, room_id = session["session_id"], session["room_id"]
            files = [Path(f) for f in [session.get("file") or "",
                                       *await self.sessions.parts(sid)] if f]
            written = [f.stat().st_mtime for f in files if f.is_file() and f.stat().st_size]
            recorded = bool(written) and files[0].is_file()
            ended = max(written) if written else time.time()
            await self._session_ending(room_id, sid, ended)
            await self.sessions.finish(sid, room_id, recorded, ended_at=ended, node=self.node_id)
            await self._show_ended(room_id, sid, ended)
            log.warning("took over a session whose node stopped", extra={
                "session": sid, "dead_node": session.get("node", ""), "packaged": recorded})
            reaped += 1
        return reaped

    async def reap_forever(self, every: float) -> None:
        while True:
            try:
                await self.reap_orphans()
            except Exception:
                log.exception("looking for orphaned sessions failed")
            await asyncio.sleep(every)

    async def close(self) -> None:
        for room_id in list(self.active):
            await self.finish(room_id)

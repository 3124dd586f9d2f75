"""Rate-limited keyframe requests, so a crowd joining at once costs the publisher one PLI."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .tasks import TaskSet

log = logging.getLogger("stallcast.media.keyframe")


class KeyframeRequester:
    """Coalesces keyframe requests: at most one PLI per ``min_interval`` seconds.

    A request inside the quiet period is not dropped; it is folded into one PLI sent when the
    period ends, so the last viewer of a burst still gets its keyframe promptly.
    """

    def __init__(self, send: Callable[[], Awaitable[bool]], min_interval: float) -> None:
        self._send = send
        self.min_interval = min_interval
        self._last = -1e9
        self._pending: asyncio.TimerHandle | None = None
        self._tasks = TaskSet()
        self.requested = 0
        self.sent = 0

    def request(self) -> None:
        self.requested += 1
        if self._pending is not None:
            return
        wait = self._last + self.min_interval - time.monotonic()
        if wait <= 0:
            self._fire()
        else:
            self._pending = asyncio.get_running_loop().call_later(wait, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self._last = time.monotonic()
        self._tasks.spawn(self._run())

    async def _run(self) -> None:
        try:
            if await self._send():
                self.sent += 1
        except ConnectionError:
            pass
        except Exception:
            log.exception("keyframe request failed")

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

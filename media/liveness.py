"""A publisher is alive while its media arrives.

RFC 7675 consent checks protect the peers the server sends media to, and viewers keep them
(media/aiortc_peer.py judge_consent_by). A publisher is sent no media, and some encoders
never answer a consent check: FFmpeg's WHIP muxer was dropped after the consent timeout
(~30 s into a show) while its packets kept arriving. So a publisher is judged on what it
sends: no RTP or RTCP for ``interval`` x ``misses`` seconds (the same timeout consent has)
and it is gone. Packets read off the socket but not handled yet (``pending``) count as
arrived, and a tick that came late is the node's own stall, not the publisher's silence,
and is not counted; one silent twice that long is gone all the same (as judge_consent_by
does for consent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Liveness:
    """Watches a counter of packets received from one peer."""

    def __init__(self, arrivals: Callable[[], int], interval: float, misses: int,
                 pending: Callable[[], int] | None = None) -> None:
        if interval <= 0 or misses < 1:
            raise ValueError("liveness needs an interval > 0 and misses >= 1")
        self.arrivals = arrivals
        self.interval = interval
        self.misses = misses
        self.pending = pending or (lambda: 0)
        self.silent_ticks = 0  # on time and silent, in a row
        self.quiet_ticks = 0  # silent, late or not, in a row

    def tick(self, last: int, now: int, started: float, ended: float) -> bool:
        """Count one tick from ``started`` to ``ended`` (monotonic) in which the counter went
        from ``last`` to ``now``; True once the peer has been silent long enough."""
        if now != last or self.pending() > 0:
            self.silent_ticks = self.quiet_ticks = 0
            return False
        self.quiet_ticks += 1
        if ended - started <= 1.5 * self.interval:
            self.silent_ticks += 1
        return self.silent_ticks >= self.misses or self.quiet_ticks >= 2 * self.misses

    async def until_silent(self, stop: Callable[[], bool]) -> bool:
        """Return True when the peer went silent, False as soon as ``stop()`` holds."""
        last = self.arrivals()
        while not stop():
            started = time.monotonic()
            await asyncio.sleep(self.interval)
            if stop():
                break
            now = self.arrivals()
            if self.tick(last, now, started, time.monotonic()):
                return True
            last = now
        return False

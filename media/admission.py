"""Join admission: a crowd arriving costs the newcomers join time, never the show.

Every viewer join costs the event loop SDP work, candidate sockets, ICE checks and a DTLS
handshake, and each viewer it adds makes every later packet's fan-out dearer. Joins are
therefore admitted a few at a time: at most ``concurrency`` handshakes in flight (a slot is
held from the offer until the peer connects or fails), none while the node is behind (its
loop late, or the publisher's packets queuing up), the rest waiting in a bounded queue.
A join that finds the queue full, or waits longer than ``wait_s``, is refused with
``JoinQueueFull`` and a Retry-After hint, which the HTTP layer answers as 503.

``LoopWatch`` is the node's own clock: a timer that should fire every ``tick`` seconds and
notes when it fired late. Admission asks it whether the node is behind, and consent checks
ask it whether an unanswered check was the peer's fault or the node's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable


class JoinQueueFull(Exception):
    """The node is not taking more joins now; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many viewers joining; retry after {retry_after} s")
        self.retry_after = retry_after


class LoopWatch:
    """Notes when the event loop was late by more than ``threshold`` seconds."""

    def __init__(self, tick: float = 0.05, threshold: float = 0.1) -> None:
        self.tick = tick
        self.threshold = threshold
        self.last_late_at = -math.inf  # monotonic time a late tick was seen
        self.worst = 0.0  # seconds, since start
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.tick)
            self.note(time.monotonic() - before - self.tick)

    def note(self, lateness: float) -> None:
        self.worst = max(self.worst, lateness)
        if lateness > self.threshold:
            self.last_late_at = time.monotonic()

    def late_since(self, since: float) -> bool:
        """Was the loop late at any time after ``since`` (monotonic seconds)?"""
        return self.last_late_at >= since

    def late_within(self, seconds: float) -> bool:
        return self.last_late_at >= time.monotonic() - seconds

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Ticket:
    """One admitted join; ``release`` (idempotent) frees its slot."""

    __slots__ = ("_admission", "_admitted_at", "released")

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._admitted_at = time.monotonic()
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._admission._release(time.monotonic() - self._admitted_at)


class Admission:
    """At most ``concurrency`` joins in flight, admitted only while ``healthy()``; up to
    ``queue_max`` more wait, each at most ``wait_s`` seconds."""

    RECHECK_S = 0.05  # how soon a queue held back by an unhealthy node looks again
    # A node that stays behind (a saturated machine) still lets one join at a time through,
    # at most one this often: the newcomers wait longer, but they never wait for ever.
    TRICKLE_S = 1.0

    def __init__(self, concurrency: int, queue_max: int, wait_s: float,
                 healthy: Callable[[], bool] = lambda: True) -> None:
        if concurrency < 1 or queue_max < 0 or wait_s <= 0:
            raise ValueError("admission needs concurrency >= 1, queue >= 0, wait > 0")
        self.concurrency = concurrency
        self.queue_max = queue_max
        self.wait_s = wait_s
        self.healthy = healthy
        self.in_flight = 0
        self.peak_in_flight = 0
        self.admitted = 0
        self.refused = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._mean_hold = 0.5  # seconds a join holds its slot (moving average)
        self._recheck: asyncio.TimerHandle | None = None
        self._last_admit = -math.inf

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def retry_after(self) -> int:
        """Seconds until the queue as it stands now would have drained, 1..30."""
        waves = (len(self._waiters) + self.in_flight) / self.concurrency
        return max(1, min(30, math.ceil(waves * self._mean_hold)))

    async def enter(self) -> Ticket:
        if self.in_flight < self.concurrency and not self._waiters and self._may_admit():
            self._take()
            return Ticket(self)
        if len(self._waiters) >= self.queue_max:
            self.refused += 1
            raise JoinQueueFull(self.retry_after())
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._schedule()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.wait_s)
        except TimeoutError:
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                self.refused += 1
                raise JoinQueueFull(self.retry_after()) from None
        except asyncio.CancelledError:
            # The request went away: give back the slot if it had been granted meanwhile.
            if waiter.done() and not waiter.cancelled():
                self._release(0.0)
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        return Ticket(self)

    def _may_admit(self) -> bool:
        """Healthy, or nothing in flight and the last join let through a while ago."""
        if self.healthy():
            return True
        return self.in_flight == 0 and time.monotonic() - self._last_admit >= self.TRICKLE_S

    def _take(self) -> None:
        self._last_admit = time.monotonic()
        self.in_flight += 1
        self.admitted += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _release(self, held: float) -> None:
        self.in_flight -= 1
        self._mean_hold += 0.2 * (held - self._mean_hold)
        self._schedule()

    def _schedule(self) -> None:
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        if not self._waiters or self.in_flight >= self.concurrency:
            return
        if not self.healthy():
            if self._may_admit():  # behind for long: one at a time, no more
                waiter = self._waiters.popleft()
                waiter.set_result(None)
                self._take()
            if self._recheck is None:
                self._recheck = asyncio.get_running_loop().call_later(
                    self.RECHECK_S, self._recheck_now)
            return
        while self._waiters and self.in_flight < self.concurrency:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._take()

    def _recheck_now(self) -> None:
        self._recheck = None
        self._schedule()

"""Caps on WebRTC sessions, judged before any offer costs the node a peer connection.

A WHEP POST is free to send and costs the node sockets, a DTLS handshake and memory until
the peer connects or times out (media.connect_timeout_s). So half-open sessions are capped
per client address and in total, viewers per room and per node, and the process's
open-file limit is raised to what the caps need. A client over its own share is told 429;
a node that is full says 503 with Retry-After, as the WHEP draft describes, so players
back off or try another node.
"""

from __future__ import annotations

import contextlib
import logging
import resource
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from media.router import ViewerSession
from media.sfu import Sfu
from server.platform.config import LimitsConfig
from server.platform.errors import RuleError

log = logging.getLogger("stallcast.limits")

FILES_PER_SESSION = 4  # UDP sockets (one per gathered address) plus slack
FILES_BASE = 512  # Redis pools, HTTP connections, logs, recordings


def _connected(pc: Any) -> bool:
    return bool(pc.connectionState == "connected")


class SessionLimits:
    def __init__(self, sfu: Sfu, limits: LimitsConfig) -> None:
        self.sfu = sfu
        self.limits = limits
        # Offers admitted whose session is still being negotiated (not yet in a router):
        # counted too, or a burst of concurrent POSTs would all pass before any is listed.
        self._negotiating: Counter[str] = Counter()
        self._negotiating_rooms: Counter[str] = Counter()

    @contextlib.contextmanager
    def slot(self, client: str, room_id: str | None = None) -> Iterator[None]:
        """Admit one session (see ``admit``) and hold its place while it is negotiated."""
        self.admit(client, room_id)
        self._negotiating[client] += 1
        if room_id is not None:
            self._negotiating_rooms[room_id] += 1
        try:
            yield
        finally:
            self._negotiating[client] -= 1
            if not self._negotiating[client]:
                del self._negotiating[client]
            if room_id is not None:
                self._negotiating_rooms[room_id] -= 1
                if not self._negotiating_rooms[room_id]:
                    del self._negotiating_rooms[room_id]

    def _viewers(self) -> Iterator[ViewerSession]:
        for router in self.sfu.routers.values():
            yield from router.viewers.values()

    def _half_open(self) -> Iterator[tuple[str, Any]]:
        """(client, peer connection) of every session not connected yet."""
        for viewer in self._viewers():
            if not viewer.closed and not _connected(viewer.pc):
                yield viewer.client, viewer.pc
        for router in self.sfu.routers.values():
            producer = router.producer
            if producer is not None and not _connected(producer.pc):
                yield getattr(producer, "client", ""), producer.pc

    def _full(self, what: str) -> RuleError:
        log.warning("session refused: node full", extra={"limit": what})
        return RuleError(f"this node is full ({what}); retry later", code="unavailable",
                         retry_after=self.limits.retry_after_s)

    def admit(self, client: str, room_id: str | None = None) -> None:
        """Raise RuleError (rate_limited, unavailable) unless a new session from ``client``
        (a viewer of ``room_id``, or a publisher when None) fits under every cap."""
        lim = self.limits
        pending = [c for c, _ in self._half_open()] + list(self._negotiating.elements())
        if client and pending.count(client) >= lim.half_open_per_client:
            raise RuleError(f"{lim.half_open_per_client} sessions from your address are still "
                            "connecting; wait for them", code="rate_limited", retry_after=2)
        if len(pending) >= lim.half_open_total:
            raise self._full("sessions connecting")
        if room_id is None:
            return
        router = self.sfu.routers.get(room_id)
        in_room = (router.audience if router is not None else 0) + (
            self._negotiating_rooms[room_id])
        if in_room >= lim.viewers_per_room:
            raise self._full("viewers in this room")
        on_node = sum(1 for v in self._viewers() if not v.observer) + sum(
            self._negotiating_rooms.values())
        if on_node >= lim.viewers_per_node:
            raise self._full("viewers on this node")


def raise_open_file_limit(limits: LimitsConfig) -> int:
    """Lift the soft RLIMIT_NOFILE to what the caps need (never above the hard limit).
    Returns the soft limit now in force."""
    need = FILES_BASE + FILES_PER_SESSION * (limits.viewers_per_node + limits.half_open_total)
    need += limits.connections_per_client  # at least one client's worth of HTTP sockets
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit",
                        extra={"wanted": target, "reason": str(exc)})
    if soft != resource.RLIM_INFINITY and soft < need:
        log.warning("open-file limit below what the caps need",
                    extra={"limit": soft, "needed": need})
    return int(soft)


LIMITS = web.AppKey("session_limits", SessionLimits)

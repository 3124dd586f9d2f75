"""The peer-connection side of aiortc's internals: ICE consent (timing, who judges it, the
round trip it measures), the node's one DTLS certificate, the sockets' buffers. With
media/aiortc_adapter.py (the RTP taps), the only code that touches aiortc and aioice
internals; tests/unit/test_adapter.py fails loudly if any of them moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from aioice import ice as aioice_ice
from aioice import stun as aioice_stun
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc import rtcpeerconnection as aiortc_pc
from aiortc.rtcdtlstransport import RTCCertificate

# aioice's own consent loop, which judge_consent_by() replaces (tests/unit/test_adapter.py
# checks that it still does what the replacement does).
AIOICE_QUERY_CONSENT = aioice_ice.Connection.query_consent
log = logging.getLogger("stallcast.media.adapter")


def set_consent_timing(interval: float, failures: int) -> None:
    """How often aioice checks each peer's consent and how many misses drop it. aioice keeps
    these as module constants, so they hold for the whole process."""
    if interval <= 0 or failures < 1:
        raise ValueError("consent checks need an interval > 0 and failures >= 1")
    aioice_ice.CONSENT_INTERVAL = interval  # type: ignore[assignment]
    aioice_ice.CONSENT_FAILURES = failures


class NodeCertificate(RTCCertificate):
    """One DTLS certificate for every peer connection of the node (LiveKit and mediasoup
    keep one per worker), with the OpenSSL context built from it once per SRTP profile
    list. aiortc makes a key, a certificate and a context per connection otherwise: ~3 ms
    of a join storm's loop time per viewer."""

    def __init__(self, key: Any, cert: Any) -> None:
        super().__init__(key, cert)
        self.created = time.monotonic()
        self._contexts: dict[tuple[bytes, ...], Any] = {}

    def _create_ssl_context(self, srtp_profiles: list[Any]) -> Any:
        key = tuple(p.openssl_profile for p in srtp_profiles)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = super()._create_ssl_context(srtp_profiles)
        return context


class _Shared:
    """Stands in for ``RTCCertificate`` in aiortc.rtcpeerconnection while one SFU peer
    connection is built, so its constructor takes the node's certificate."""

    certificate: NodeCertificate

    @classmethod
    def generateCertificate(cls) -> NodeCertificate:  # noqa: N802 (aiortc's name)
        return cls.certificate


class Certificates:
    """The node's certificate, replaced by a new one every ``rotate_s`` seconds (peers
    connected meanwhile keep the one they handshook with)."""

    def __init__(self, rotate_s: float = 86400.0) -> None:
        self.rotate_s = rotate_s
        self._current: NodeCertificate | None = None

    def current(self) -> NodeCertificate:
        cert = self._current
        if cert is None or time.monotonic() - cert.created > self.rotate_s:
            cert = self._current = NodeCertificate.generateCertificate()
        return cert

    def peer_connection(self, configuration: RTCConfiguration) -> RTCPeerConnection:
        _Shared.certificate = self.current()
        setattr(aiortc_pc, "RTCCertificate", _Shared)  # noqa: B010 (aiortc names it there)
        try:
            return RTCPeerConnection(configuration)
        finally:
            setattr(aiortc_pc, "RTCCertificate", RTCCertificate)  # noqa: B010


def local_certificate(pc: Any) -> RTCCertificate:
    cert: RTCCertificate = pc._RTCPeerConnection__certificates[0]
    return cert


def judge_consent_by(late_since: Callable[[float], bool]) -> None:
    """Replace aioice's consent freshness loop (RFC 7675) with one that does not blame a
    peer for the node's own lateness.

    aioice sends a check every ~CONSENT_INTERVAL s, waits RETRY_RTO (0.5 s) for the answer
    and drops the peer after CONSENT_FAILURES misses in a row. When this node's event loop
    is late, the timeout fires before the answer waiting in the socket is read, so a busy
    node used to drop a healthy host. A check whose wait overran, or during which
    ``late_since(start)`` says the loop was late, is not counted either way; a peer that
    answered none of twice CONSENT_FAILURES checks in a row is dropped all the same.
    """

    async def query_consent(self: Any) -> None:
        assert self.remote_password is not None
        loop = asyncio.get_running_loop()
        failures = unanswered = 0
        while True:
            interval, allowed = aioice_ice.CONSENT_INTERVAL, aioice_ice.CONSENT_FAILURES
            await asyncio.sleep(interval * (0.8 + 0.4 * random.random()))
            for pair in list(self._nominated.values()):
                request = self.build_request(pair, nominate=False)
                started, wall = loop.time(), time.monotonic()
                try:
                    await pair.protocol.request(
                        request, pair.remote_addr,
                        integrity_key=self.remote_password.encode("utf8"), retransmissions=0)
                    failures = unanswered = 0
                except aioice_stun.TransactionError:
                    unanswered += 1
                    overran = loop.time() - started > aioice_stun.RETRY_RTO + 0.2
                    if not (overran or late_since(wall)):
                        failures += 1
                if failures >= allowed or unanswered >= 2 * allowed:
                    log.info("consent to send expired (%d misses, %d unanswered)",
                             failures, unanswered)
                    self._query_consent_task = None
                    await self.close()
                    return

    aioice_ice.Connection.query_consent = query_consent  # type: ignore[method-assign]


def consent_without_verdict(pc: Any) -> int:
    """Keep sending a peer's consent checks (ConsentRtt times its uplink with them) but never
    drop it for unanswered ones: for a publisher, whose liveness is judged on the media it
    sends instead (media/liveness.py). Some encoders (FFmpeg's WHIP muxer) answer no
    consent check at all. Call before the connection is made: aioice starts
    ``self.query_consent()`` once ICE completes. Returns how many connections were set."""
    connections = {id(c): c for c in _ice_connections(pc)}
    for connection in connections.values():
        connection.query_consent = functools.partial(_checks_only, connection)
    return len(connections)


async def _checks_only(connection: Any) -> None:
    while True:
        await asyncio.sleep(aioice_ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in list(connection._nominated.values()):
            with contextlib.suppress(aioice_stun.TransactionError):
                await pair.protocol.request(
                    connection.build_request(pair, nominate=False), pair.remote_addr,
                    integrity_key=connection.remote_password.encode("utf8"), retransmissions=0)


def enlarge_receive_buffers(pc: Any, size: int) -> int:
    """Give the publisher's UDP sockets a bigger kernel receive buffer, so a burst of packets
    that arrives while the event loop fans out the previous ones is not dropped. Returns
    how many sockets were changed."""
    import socket

    changed = 0
    seen: set[int] = set()
    for t in pc.getTransceivers():
        connection = t.receiver.transport.transport._connection
        for protocol in getattr(connection, "_protocols", []):
            udp = getattr(protocol, "transport", None)
            sock = udp.get_extra_info("socket") if udp is not None else None
            if sock is None or sock.fileno() in seen:
                continue
            seen.add(sock.fileno())
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
                changed += 1
            except OSError:
                pass
    return changed

# Name-mangled private attributes this module relies on.
class ConsentRtt:
    """Round-trip time to a peer, from the ICE consent checks (RFC 7675) aioice sends on the
    nominated pair every ~5 s anyway.

    A publisher gets no media from us, so its RTCP carries nothing to time a round trip
    with; a STUN binding request and its response do. Consent checks are the only
    requests aioice sends with ``retransmissions=0``, so each success is one clean sample.
    """

    def __init__(self, pc: Any) -> None:
        self._pc = pc
        self._hooked: Any = None
        self.rtt: float | None = None  # seconds, latest sample

    def poll(self) -> float | None:
        """Hook the nominated pair once it exists; return the latest RTT."""
        connection = _ice_connection(self._pc)
        pair = connection._nominated.get(1) if connection is not None else None
        protocol = getattr(pair, "protocol", None)
        if protocol is not None and protocol is not self._hooked:
            self._hooked = protocol
            self._wrap(protocol)
        return self.rtt

    def _wrap(self, protocol: Any) -> None:
        original = protocol.request
        loop = asyncio.get_running_loop()

        async def request(message: Any, addr: Any, integrity_key: bytes | None = None,
                          retransmissions: int | None = None) -> Any:
            started = loop.time()
            try:
                result = await original(message, addr, integrity_key=integrity_key,
                                        retransmissions=retransmissions)
            except Exception:
                if retransmissions == 0:
                    self.rtt = None  # unanswered: no figure beats an old good one
                raise
            if retransmissions == 0:
                self.rtt = loop.time() - started
            return result

        protocol.request = request


def _ice_connection(pc: Any) -> Any:
    return next(iter(_ice_connections(pc)), None)


def _ice_connections(pc: Any) -> list[Any]:
    return [t.receiver.transport.transport._connection for t in pc.getTransceivers()
            if t.receiver.transport is not None]

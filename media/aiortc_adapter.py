"""The only place that touches aiortc internals.

aiortc decodes everything it receives and encodes everything it sends. The SFU needs the
opposite: take RTP packets as they arrive and put rewritten RTP packets on the wire. This
module taps an ``RTCRtpReceiver`` before its jitter buffer and decoder, and lets us send
ready-made RTP through an ``RTCRtpSender`` while keeping its RTCP sender reports right and
seeing its viewer's NACK/PLI/FIR. aiortc is pinned in pyproject.toml;
tests/unit/test_adapter.py fails loudly if any attribute used here moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aioice import ice as aioice_ice
from aioice import stun as aioice_stun
from aioice.ice import StunProtocol
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc import clock as aiortc_clock
from aiortc import rtcpeerconnection as aiortc_pc
from aiortc.codecs import is_rtx
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCCertificate
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)

AIORTC_VERSION = "1.16.0"
# aioice's own consent loop, which judge_consent_by() replaces (tests/unit/test_adapter.py
# checks that it still does what the replacement does).
AIOICE_QUERY_CONSENT = aioice_ice.Connection.query_consent
log = logging.getLogger("stallcast.media.adapter")


def _ignore_connection_error(task: asyncio.Future[None]) -> None:
    # A viewer that went away mid-send is cleaned up by its connection state, not here.
    if not task.cancelled():
        task.exception()


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
RECEIVER_ATTRS = (
    "_RTCRtpReceiver__codecs",
    "_RTCRtpReceiver__remote_streams",
    "_RTCRtpReceiver__rtx_ssrc",
    "_RTCRtpReceiver__nack_generator",
    "_RTCRtpReceiver__remote_bitrate_estimator",
    "_RTCRtpReceiver__rtcp_ssrc",
    "_RTCRtpReceiver__decoder_thread",
)
STATISTICS_ATTRS = ("jitter", "_clockrate")
SENDER_OPTIONAL_ATTRS = ("_RTCRtpSender__rtt",)
SENDER_ATTRS = (
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__octet_count",
    "_RTCRtpSender__packet_count",
)
RECEIVER_METHODS = ("_handle_rtp_packet", "_handle_rtcp_packet", "_send_rtcp_nack",
                    "_send_rtcp_pli", "_send_rtcp", "receive", "_RTCRtpReceiver__stop_decoder")
SENDER_METHODS = ("_handle_rtcp_packet", "send")

RtpSink = Callable[[RtpPacket, RTCRtpCodecParameters], Awaitable[None]]
# A publisher's packets are fanned out for at most this long before other work may run.
YIELD_AFTER_S = 0.002


def current_ntp_time() -> int:
    return aiortc_clock.current_ntp_time()


def negotiated_video_codec(pc: Any) -> str | None:
    """The video codec (lower-case name) an answered peer connection will receive."""
    for t in pc.getTransceivers():
        if t.kind == "video" and t._codecs:
            return str(t._codecs[0].mimeType.split("/")[-1].lower())
    return None


class ForwardTrack(MediaStreamTrack):
    """A track whose frames never come through ``recv``: the SFU writes RTP straight to the
    sender. ``recv`` parks aiortc's RTP loop until the track stops."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped: asyncio.Future[None] = asyncio.get_event_loop().create_future()

    async def recv(self) -> Any:
        await asyncio.shield(self._stopped)
        raise MediaStreamError

    def stop(self) -> None:
        if not self._stopped.done():
            self._stopped.set_result(None)
        super().stop()


class ReceiverTap:
    """Feeds the packets an ``RTCRtpReceiver`` gets to ``sink`` instead of its decoder.

    It keeps what aiortc's own handler does for the publisher's sake: RTCP receiver-report
    statistics, RTX unwrapping, NACKs upstream and REMB bandwidth feedback.
    """

    def __init__(self, receiver: RTCRtpReceiver, sink: RtpSink,
                 remb_range: tuple[int, int] = (0, 1 << 40)) -> None:
        self.receiver = receiver
        self.sink = sink
        # aiortc's estimator sees the SFU's own fan-out time as network delay; clamping the
        # REMB keeps a busy server from talking its publisher down to a blurry stream.
        self.remb_range = remb_range
        r: Any = receiver
        self._r: Any = r
        self._codecs: dict[int, RTCRtpCodecParameters] = r._RTCRtpReceiver__codecs
        self._streams: dict[int, StreamStatistics] = r._RTCRtpReceiver__remote_streams
        self._rtx_ssrc: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
        self._nack = r._RTCRtpReceiver__nack_generator
        self._remb = r._RTCRtpReceiver__remote_bitrate_estimator
        self.media_ssrc: int | None = None
        self.packets = 0
        self.nacks_sent = 0
        self._step_started = 0.0
        self.forward_s = 0.0  # seconds one packet takes to fan out (moving average)
        # Loss as the network caused it, before NACKs repair it: sequence gaps seen on first
        # arrival, against packets that arrived in order.
        self._max_seq: int | None = None
        self.first_arrivals = 0
        self.gaps = 0
        original_receive = receiver.receive

        async def receive(parameters: Any) -> None:
            await original_receive(parameters)
            # The decoder thread aiortc just started would never get a packet from us.
            r._RTCRtpReceiver__stop_decoder()

        r.receive = receive
        r._handle_rtp_packet = self._handle_rtp_packet
        # Every RTP and RTCP packet the publisher sends, whatever becomes of it: what its
        # liveness is judged on (media/liveness.py).
        self.arrivals = 0
        original_rtcp = r._handle_rtcp_packet

        async def handle_rtcp(packet: Any) -> None:
            self.arrivals += 1
            await original_rtcp(packet)

        r._handle_rtcp_packet = handle_rtcp

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.arrivals += 1
        # aioice queues every datagram it reads, and awaiting a queue that holds items does
        # not suspend: without this yield a backlog of packets (a join storm's stall) was
        # fanned out in one go, starving HTTP, DTLS handshakes and consent answers for
        # seconds. Yield once the loop has spent YIELD_AFTER_S here.
        now = time.perf_counter()
        if now - self._step_started > YIELD_AFTER_S:
            await asyncio.sleep(0)
            self._step_started = time.perf_counter()
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        rtcp_ssrc = self._r._RTCRtpReceiver__rtcp_ssrc
        if self._remb is not None and packet.extensions.abs_send_time is not None:
            remb = self._remb.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            if rtcp_ssrc is not None and remb is not None:
                lo, hi = self.remb_range
                bitrate = min(max(remb[0], lo), hi)
                fb = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                                    fci=pack_remb_fci(bitrate, remb[1]))
                await self.receiver._send_rtcp(fb)
        stats = self._streams.get(packet.ssrc)
        if stats is None:
            stats = self._streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if is_rtx(codec):
            original_ssrc = self._rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if (original_ssrc is None or len(packet.payload) < 2 or not isinstance(apt, int)
                    or apt not in self._codecs):
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = self._codecs[apt]
        else:
            if packet.ssrc != self.media_ssrc:
                self.media_ssrc, self._max_seq = packet.ssrc, None
            self._count_arrival(packet.sequence_number)
        if self._nack is not None and self._nack.add(packet):
            self.nacks_sent += 1
            await self.receiver._send_rtcp_nack(packet.ssrc, sorted(self._nack.missing))
        if not packet.payload:  # padding-only probe
            return
        self.packets += 1
        started = time.perf_counter()
        await self.sink(packet, codec)
        self.forward_s += 0.05 * (time.perf_counter() - started - self.forward_s)

    def _count_arrival(self, seq: int) -> None:
        if self._max_seq is None:
            self._max_seq = seq
            self.first_arrivals += 1
            return
        delta = (seq - self._max_seq) & 0xFFFF
        if 0 < delta < 0x8000:
            self.gaps += delta - 1
            self.first_arrivals += 1
            self._max_seq = seq

    async def request_keyframe(self) -> bool:
        """Send a PLI for the publisher's media stream; False if nothing to ask yet."""
        if self.media_ssrc is None:
            return False
        await self.receiver._send_rtcp_pli(self.media_ssrc)
        return True

    def uplink(self) -> tuple[int, int, int, int]:
        """(arrived in order, expected, jitter in clock units, clock rate) of the publisher's
        media stream. Loss counts packets missing when later ones arrived, whether or not a
        retransmission repaired them: that is what tells an operator the uplink is bad."""
        expected = self.first_arrivals + self.gaps
        if self.media_ssrc is None or self.media_ssrc not in self._streams:
            return self.first_arrivals, expected, 0, 90000
        st = self._streams[self.media_ssrc]
        return self.first_arrivals, expected, st.jitter, st._clockrate

    @property
    def backlog(self) -> int:
        """Datagrams from the publisher read off the socket and not handled yet."""
        return int(self.receiver.transport.transport._connection._queue.qsize())

    @property
    def backlog_seconds(self) -> float:
        """How long the queued datagrams will take to fan out: how far behind the audience
        will be by the time the last of them goes out."""
        return self.backlog * self.forward_s

    @property
    def decoding(self) -> bool:
        return self._r._RTCRtpReceiver__decoder_thread is not None


class SenderTap:
    """Writes ready-made RTP on an ``RTCRtpSender`` and routes its viewer's feedback."""

    def __init__(
        self,
        transceiver: RTCRtpTransceiver,
        on_nack: Callable[[list[int]], Awaitable[None]],
        on_keyframe_request: Callable[[], None],
    ) -> None:
        self.transceiver = transceiver
        self.sender: RTCRtpSender = transceiver.sender
        self.ssrc: int = self.sender._ssrc
        # A viewer sends us no media, but aiortc gives every video receiver a bitrate
        # estimator holding 1,000 rate buckets: half of all objects the collector walks at
        # 500 viewers (~85 ms of each full-collection pause). aiortc skips a None estimator.
        r: Any = transceiver.receiver
        r._RTCRtpReceiver__remote_bitrate_estimator = None
        self._on_nack = on_nack
        self._on_keyframe_request = on_keyframe_request
        self._pair: Any = None
        self._sendto: Callable[[bytes, Any], None] | None = None
        self._protect: Callable[[bytes], bytes] = bytes
        self._addr: Any = None
        s: Any = self.sender
        original = s._handle_rtcp_packet

        self.fraction_lost = 0.0  # from the viewer's last receiver report
        self.nacks = 0

        async def handle_rtcp(packet: Any) -> None:
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                for report in packet.reports:
                    if report.ssrc == self.ssrc:
                        self.fraction_lost = report.fraction_lost / 256
                await original(packet)
            elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                self.nacks += 1
                await self._on_nack(list(packet.lost))
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI,
                                                                       RTCP_PSFB_FIR):
                self._on_keyframe_request()
            else:
                await original(packet)

        s._handle_rtcp_packet = handle_rtcp

    @property
    def rtt(self) -> float | None:
        """Round-trip time to the viewer in seconds, from its receiver reports."""
        value = self.sender._RTCRtpSender__rtt  # type: ignore[attr-defined]
        return float(value) if value is not None else None

    def payload_types(self) -> dict[str, int]:
        """Negotiated payload type per codec name (lower case), first one wins."""
        out: dict[str, int] = {}
        for codec in self.transceiver._codecs:
            name = codec.mimeType.split("/")[-1].lower()
            if name == "rtx":
                continue
            if name == "h264" and str(codec.parameters.get("packetization-mode", "0")) != "1":
                continue
            if codec.payloadType is not None:
                out.setdefault(name, codec.payloadType)
        return out

    def clock_rate(self) -> int:
        codecs = self.transceiver._codecs
        return codecs[0].clockRate if codecs else 90000

    @property
    def ready(self) -> bool:
        return self.sender.transport._state is DtlsState.CONNECTED

    def send(self, data: bytes, rtp_ts: int, payload_len: int, ntp: int) -> None:
        """Protect and send one RTP packet now, without a coroutine per packet; raises
        ConnectionError when the peer is gone.

        This is the SFU's hottest line: aiortc's own path (``_send_rtp`` → ICE ``send`` →
        ``sendto`` → ``send_data``) costs four coroutines per packet and viewer. Over a direct
        UDP pair we call the datagram transport ourselves, with the pair's send function,
        SRTP context and address looked up once per nominated pair; anything else (TURN
        relays) takes aiortc's path in a task.
        """
        s: Any = self.sender
        dtls: Any = s.transport
        if dtls._state is not DtlsState.CONNECTED:
            raise ConnectionError("viewer transport not connected")
        pair = dtls.transport._connection._nominated.get(1)
        if pair is not self._pair:
            self._resolve(dtls, pair)
        if self._sendto is not None:
            self._sendto(self._protect(data), self._addr)
        else:
            task = asyncio.ensure_future(dtls._send_rtp(data))
            task.add_done_callback(_ignore_connection_error)
        s._RTCRtpSender__ntp_timestamp = ntp
        s._RTCRtpSender__rtp_timestamp = rtp_ts
        s._RTCRtpSender__octet_count += payload_len
        s._RTCRtpSender__packet_count += 1

    def _resolve(self, dtls: Any, pair: Any) -> None:
        self._pair = pair
        udp = getattr(pair.protocol, "transport", None) if pair is not None else None
        if isinstance(pair.protocol if pair else None, StunProtocol) and udp is not None:
            self._sendto, self._protect, self._addr = udp.sendto, dtls._tx_srtp.protect, \
                pair.remote_addr
        else:
            self._sendto = None

    async def resend(self, data: bytes) -> None:
        await self.sender.transport._send_rtp(data)


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
